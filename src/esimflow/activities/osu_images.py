"""Where a card host finds eUICC OS images to offer (``docs/osu.md`` image format).

A directory of signed images; the newest one that parses is offered. The card checks the EUM
signature itself, so this only has to pick, not to trust.
"""
from __future__ import annotations

import logging
from pathlib import Path

from sgp22 import osu
from sgp22.errors import EsimError

log = logging.getLogger(__name__)


class OsImageSource:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def newest(self) -> osu.OsImage | None:
        best: osu.OsImage | None = None
        for path in sorted(self.directory.glob("*")):
            if not path.is_file():
                continue
            try:
                image = osu.parse_os_image(path.read_bytes())
            except (EsimError, OSError) as error:
                log.warning("skipping %s: not an OS image (%s)", path, getattr(error, "message", error))
                continue
            if best is None or image.version > best.version:
                best = image
        return best
