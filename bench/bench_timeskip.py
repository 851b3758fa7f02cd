"""`luaflow test` with time skipping vs the same workflow in real time.

The test app `tests/apps/timeskip` has a workflow that sleeps 24 h, calls an activity and waits
168 h (a week) for a message that never comes; its test `app:trip_expires` runs it with
`process.exec` and checks the result. Both variants run the real `luaflow test` command, each on
its own fresh in-memory dev server:

* ``time skipping``: `luaflow test trip_expires` (192 h of workflow time);
* ``real time``: `luaflow test trip_expires --no-time-skip` with the durations scaled down by
  SCALE (default 1/43200: 2 s and 14 s), measured for real.

The wall time of a test is the JUnit `time` of its test case (the test alone, without the
server's start). Extrapolation: the real-time run at full durations takes the full 192 h plus
what the scaled run spent beyond its scaled timers (start-up of the workflow, the activity,
workflow tasks), that is `192 h + (t_scaled - 16 s)`; the ratio is that over the time-skipping
run's wall time. Each variant runs `--runs` times (default 3); medians are reported.
Usage: ``python bench/bench_timeskip.py [--runs 3] [--scale 43200]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "timeskip"
SLEEP, WAIT = 24 * 3600, 168 * 3600  # the workflow's own durations, in seconds


def _test_seconds(*extra: str) -> float:
    """Wall time of app:trip_expires in one `luaflow test` run (its JUnit test case time)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        done = subprocess.run(
            [sys.executable, "-m", "luaflow", "test", "trip_expires", "--app", str(APP),
             "--junit-xml", str(report), *extra],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"luaflow test failed:\n{done.stdout}{done.stderr}")
        (case,) = ET.parse(report).getroot().iter("testcase")
        return float(case.get("time") or "nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=43200, help="real time runs 1/SCALE")
    options = parser.parse_args()
    sleep, wait = SLEEP / options.scale, WAIT / options.scale
    durations = json.dumps({"sleep": f"{sleep:g}s", "wait": f"{wait:g}s"})
    skipping, real = [], []
    for _ in range(options.runs):  # alternating, so a busy moment hits both variants
        skipping.append(_test_seconds())
        real.append(_test_seconds("--no-time-skip", "--input", durations))
    t_skip, t_real = statistics.median(skipping), statistics.median(real)
    overhead = t_real - (sleep + wait)
    full = SLEEP + WAIT + overhead
    table = Table(title="app:trip_expires: 24 h sleep, activity, 168 h wait")
    for column in ("variant", "workflow time", "wall time (median)", "runs"):
        table.add_column(column)
    table.add_row(
        "time skipping", "192 h", f"{t_skip:.2f} s", " ".join(f"{s:.2f}" for s in skipping)
    )
    table.add_row(
        f"real time, 1/{options.scale}", f"{sleep + wait:g} s", f"{t_real:.2f} s",
        " ".join(f"{s:.2f}" for s in real),
    )  # fmt: skip
    table.add_row("real time, full (extrapolated)", "192 h", f"{full:.0f} s", "")
    console = Console()
    console.print(table)
    console.print(f"overhead beyond the timers in real time: {overhead:.2f} s")
    console.print(f"ratio real time / time skipping: {full / t_skip:,.0f}x")


if __name__ == "__main__":
    main()
