"""Files of the lab that hold secrets (keys, the inventory with its matching IDs, eUICC states,
the admin token) are created readable by their owner only, in directories only the owner can
enter: a lab on a shared machine must not hand its profiles to the next user."""
from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p`` where every directory created here is 0700; existing ones are left alone."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # whatever the umask
    return path


def create_private(path: str | os.PathLike) -> Path:
    """Create ``path`` empty and 0600 unless it exists (for files another library then opens,
    such as an SQLite database, whose journal and WAL files take the database's mode)."""
    path = Path(path)
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(descriptor)
    return path


def write_private(path: str | os.PathLike, data: bytes) -> Path:
    """Replace ``path`` with ``data``, 0600 from the first byte (written aside, then renamed)."""
    path = Path(path)
    private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temp, path)
    return path
