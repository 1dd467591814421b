"""One JSON line per figure a benchmark judges, for the one table `make bench` (bench/run.py) ends with.

Every benchmark prints its own figures and, beside them, calls `record(...)` for the ones it judges.
bench/run.py names a fresh file in `BENCH_RESULTS` for each run; a benchmark run alone appends to
`bench/.results.jsonl` (gitignored).
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
