"""What a benchmarked process used, read from /proc (Linux): its peak resident memory and its CPU
time. One place for the benchmarks that watch their workers, hosts and servers."""
from __future__ import annotations

import os
from pathlib import Path


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """MiB of resident memory: ``VmHWM`` the process's peak so far, ``VmRSS`` its size now; NaN
    when the kernel does not report it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
