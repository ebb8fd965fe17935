"""How the card cuts a bound profile package, arriving in pieces of any size, into its elements:
TLV headers read as soon as their bytes are there, whole elements taken once complete, and the
BF36 and A1/A3 lengths accounted so that nothing runs past its container. Pure framing; what
each element means is ``rsplab.euicc.bpp``'s."""
from __future__ import annotations

from sgp22.errors import MalformedDataError


def peek_header(data: bytes | bytearray, offset: int = 0) -> tuple[int, int, int] | None:
    """``(tag, header_size, length)`` of the TLV at ``offset`` once its tag and length have arrived."""
    end = len(data)
    position = offset
    if position >= end:
        return None
    tag = data[position]
    position += 1
    if tag & 0x1F == 0x1F:
        if position >= end:
            return None
        tag = (tag << 8) | data[position]
        position += 1
        if tag & 0x80:
            raise MalformedDataError("BPP element with a tag longer than two bytes")
    if position >= end:
        return None
    first = data[position]
    position += 1
    if first < 0x80:
        return tag, position - offset, first
    width = first & 0x7F
    if not 1 <= width <= 3:
        raise MalformedDataError(f"BPP element length form {first:02X}")
    if position + width > end:
        return None
    return tag, position + width - offset, int.from_bytes(data[position : position + width], "big")


class BppStream:
    """The bytes received and not yet taken, and what is left of the BF36 and the open sequence."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._bpp_left: int | None = None
        """Bytes of the BF36 value not taken yet (None until its header is read)."""
        self.container_left = 0
        """Bytes left in the A1 or A3 sequence being read."""

    @property
    def at_boundary(self) -> bool:
        """No partial element is buffered: the next piece starts a new element."""
        return not self._buffer

    def add(self, data: bytes) -> None:
        self._buffer += data

    def next_header(self) -> tuple[int, int, int] | None:
        return peek_header(self._buffer)

    def _take(self, size: int) -> bytes:
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        if self._bpp_left is not None:
            self._bpp_left -= size
            if self._bpp_left < 0:
                raise MalformedDataError("BPP elements run past the BF36 length")
        return chunk

    def bpp_header(self) -> bool:
        """Read the BF36 header once it is there (False: not yet)."""
        header = peek_header(self._buffer)
        if header is None:
            return False
        tag, header_size, length = header
        if tag != 0xBF36:
            raise MalformedDataError(f"a bound profile package starts with BF36, not {tag:02X}")
        self._take(header_size)
        self._bpp_left = length
        return True

    def complete(self, expected: tuple[int, ...]) -> bytes | None:
        """The next element, whole, once all of it is there; it must carry one of ``expected``."""
        header = peek_header(self._buffer)
        if header is None:
            return None
        tag, header_size, length = header
        if tag not in expected:
            wanted = "/".join(f"{t:02X}" for t in expected)
            raise MalformedDataError(f"BPP element {tag:02X} where {wanted} was expected")
        if len(self._buffer) < header_size + length:
            return None
        return self._take(header_size + length)

    def container_header(self, tag: int) -> bool:
        """Open the sequence ``tag`` (A1, A3) once its header is there (False: not yet)."""
        header = peek_header(self._buffer)
        if header is None:
            return False
        found, header_size, length = header
        if found != tag:
            raise MalformedDataError(f"BPP element {found:02X} where {tag:02X} was expected")
        self._take(header_size)
        self.container_left = length
        return True

    def consume_in_container(self, element: bytes) -> None:
        self.container_left -= len(element)
        if self.container_left < 0:
            raise MalformedDataError("segments run past their sequence's length")

    def check_bpp_end(self) -> None:
        """The A3 sequence must end the BF36."""
        if self._bpp_left:
            raise MalformedDataError(f"{self._bpp_left} BF36 bytes after the A3 sequence")
