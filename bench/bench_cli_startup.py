"""How long the ``esimflow`` command takes to start, as a user's shell sees it: whole processes
(interpreter start, imports, the command's work, exit), against ``python -c "import click"`` as
the floor any click program pays. Target (issue 12): ``esimflow --help`` and ``esimflow ac parse``
within twice the floor. Prints medians and ratios; asserts nothing.

    python bench/bench_cli_startup.py [RUNS]
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 21
WARM_UP = 3
# The installed console script, so the figure includes what the entry point itself imports.
ESIMFLOW = str(Path(sys.executable).with_name("esimflow"))
CASES = [
    ('python -c "import click"', [sys.executable, "-c", "import click"]),
    ("esimflow --help", [ESIMFLOW, "--help"]),
    ("esimflow ac parse CODE", [ESIMFLOW, "ac", "parse", "LPA:1$smdp.example.com$MATCHING-ID"]),
]


def once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    for _, command in CASES:
        for _ in range(WARM_UP):  # file cache and .pyc files warm on every side
            once(command)
    samples: dict[str, list[float]] = {label: [] for label, _ in CASES}
    for _ in range(RUNS):  # interleaved, so a burst of load hits every case alike
        for label, command in CASES:
            samples[label].append(once(command))
    floor = statistics.median(samples[CASES[0][0]])
    print(f"{RUNS} runs each, median (min) per whole process")
    for label, _ in CASES:
        median = statistics.median(samples[label])
        print(f"{label:<28} {median * 1e3:8.1f} ms  (min {min(samples[label]) * 1e3:6.1f} ms)"
              f"  {median / floor:5.2f}x the floor")


if __name__ == "__main__":
    main()
