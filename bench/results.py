"""One JSON line per figure a benchmark judges, appended to `bench/.results.jsonl` for `bench/report.py`.

Every benchmark prints its own table as before and, beside it, calls `record(...)` for the figures that
go in the one summary table `make bench` ends with. The file is gitignored; `make bench` empties it
first, and `bench/report.py` keeps the newest line of each (benchmark, measure) when a script was run
more than once. `BENCH_RESULTS` names another file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).resolve().parent / ".results.jsonl")


def record(benchmark: str, measure: str, value: float, unit: str, *, baseline: float | None = None,
           goal: str | None = None, passed: bool | None = None, ratio: bool = True) -> None:
    """Append one figure. `goal` says the goal in words (`passed` is then its verdict); no goal: INFO.

    With a baseline the table shows value / baseline, unless `ratio` is False (a growth beside the
    baseline's growth, say, where a quotient means nothing).
    """
    quotient = value / baseline if ratio and baseline else None
    line = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "benchmark": benchmark, "measure": measure,
        "value": value, "unit": unit, "baseline": baseline, "ratio": quotient, "goal": goal, "passed": passed,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
