"""What a long operation is doing, on stderr so stdout stays one clean result for scripts.

On a terminal it is one line rewritten in place; anywhere else (a log, a CI job) it is one plain
line per change of phase, because carriage returns turn logs into noise.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from esimflow.contract import Progress


def describe(progress: Progress) -> str:
    parts = [progress.phase]
    if progress.detail:
        parts.append(progress.detail)
    if progress.segments_total:
        parts.append(f"{progress.segments_done}/{progress.segments_total} segments")
    if progress.session_attempt > 1:
        parts.append(f"attempt {progress.session_attempt}")
    if progress.awaiting:
        parts.append(f"waiting for {progress.awaiting.replace('_', ' ')}")
    return ", ".join(parts)


class ProgressDisplay:
    def __init__(self, stream: TextIO, *, is_tty: bool, redact: Callable[[str], str],
                 label: str, enabled: bool = True) -> None:
        self._stream = stream
        self._is_tty = is_tty
        self._redact = redact
        self._label = label
        self._enabled = enabled
        self._last = ""
        self._last_phase: tuple[str, str | None] | None = None
        self._line_open = False

    def show(self, progress: Progress) -> None:
        text = self._redact(f"{self._label}: {describe(progress)}")
        if not self._enabled or text == self._last:
            return
        if self._is_tty:
            # Pad over the previous text so a shorter line leaves no tail behind.
            self._stream.write("\r" + text.ljust(len(self._last)))
            self._line_open = True
        elif (progress.phase, progress.awaiting) != self._last_phase:
            # Segment counts would print a line per segment; plain output keeps phases only.
            self._stream.write(text + "\n")
        self._stream.flush()
        self._last = text
        self._last_phase = (progress.phase, progress.awaiting)

    def note(self, text: str) -> None:
        """A message that must stay readable (a hint, a prompt's context)."""
        if not self._enabled:
            return
        self.finish()
        self._stream.write(self._redact(text) + "\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._line_open:
            self._stream.write("\n")
            self._stream.flush()
            self._line_open = False
            self._last = ""

