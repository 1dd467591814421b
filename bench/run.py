"""`make bench`: every benchmark in turn, each in its own process, then one table of every judged figure.

Run:  .venv/bin/python bench/run.py [name ...]   (names: signin_wave import_subjects sweep staff_queue export deliver)

Each benchmark prints its own figures as it goes and appends the ones it judges to a JSON lines file
(`bench/results.py`); the table at the end has one row per figure: its value, the baseline measured in the
same run, their ratio, the goal and PASS, FAIL or INFO. A benchmark that crashes makes the run fail (exit 1)
after the table; a missed goal is a FAIL in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("signin_wave", "import_subjects", "sweep", "staff_queue", "export", "deliver")
COLUMNS = ("benchmark", "measure", "value", "baseline", "ratio", "goal", "verdict")


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{int(value):,}" if float(value).is_integer() else (
        f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}")
    if unit.startswith("+"):  # a growth: signed
        text, unit = ("+" if value >= 0 else "") + text, unit[1:]
    return f"{text} {unit}".strip()


def row(line: dict[str, object]) -> tuple[str, ...]:
    unit, ratio, passed = str(line.get("unit") or ""), line.get("ratio"), line.get("passed")
    verdict = "INFO" if line.get("goal") is None or passed is None else "PASS" if passed else "FAIL"
    return (str(line["benchmark"]), str(line["measure"]), number(line["value"], unit),  # type: ignore[arg-type]
            number(line.get("baseline"), unit), "-" if ratio is None else f"{ratio:.2f}x",  # type: ignore[arg-type]
            str(line.get("goal") or "-"), verdict)


def table(lines: list[dict[str, object]]) -> str:
    rows = [row(line) for line in lines]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
    numeric = {2, 3, 4}

    def fmt(cells: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs)

    verdicts = [r[-1] for r in rows]
    return "\n".join([fmt(COLUMNS), "  ".join("-" * w for w in widths), *map(fmt, rows), "",
                      f"{verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL, {verdicts.count('INFO')} INFO"])


def main(names: list[str]) -> int:
    results = Path(tempfile.mkstemp(prefix="portal-bench-", suffix=".jsonl")[1])
    crashed = []
    for name in names or BENCHMARKS:
        print(f"\n===== bench/{name}.py", flush=True)
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py")], check=False,
                              env={**os.environ, "BENCH_RESULTS": str(results)})
        if done.returncode:
            crashed.append(name)
    lines = [json.loads(text) for text in results.read_text(encoding="utf-8").splitlines() if text.strip()]
    results.unlink()
    print("\n" + table(lines))
    if crashed:
        print(f"\nCrashed: {', '.join(crashed)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
