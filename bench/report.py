"""The one table `make bench` ends with: every judged figure of every benchmark, from `bench/.results.jsonl`.

Run:  .venv/bin/python bench/report.py [--results FILE]

Each benchmark appends its lines (see `bench/results.py`); a (benchmark, measure) recorded more than
once keeps its newest line. Verdicts: PASS or FAIL against the goal beside it, INFO for a figure shown
for reading only. The exit status is 0 whatever the verdicts: a benchmark that crashed is what makes
`make bench` fail, a missed goal is read in the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench.results import RESULTS  # noqa: E402

COLUMNS = ("benchmark", "measure", "value", "baseline", "ratio", "goal", "verdict")


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    size = abs(value)
    if float(value).is_integer():
        text = f"{int(value):,}"
    else:
        text = f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"
    if unit.startswith("+"):  # a signed figure: growth
        text = ("+" if value >= 0 else "") + text
        unit = unit[1:]
    return f"{text} {unit}".strip()


def rows(lines: list[dict[str, object]]) -> list[tuple[str, ...]]:
    newest: dict[tuple[object, object], dict[str, object]] = {}
    for line in lines:
        newest.pop((line["benchmark"], line["measure"]), None)  # keep the order of the newest run
        newest[(line["benchmark"], line["measure"])] = line
    table: list[tuple[str, ...]] = []
    for line in newest.values():
        unit = str(line.get("unit") or "")
        passed = line.get("passed")
        verdict = "INFO" if line.get("goal") is None or passed is None else "PASS" if passed else "FAIL"
        ratio = line.get("ratio")
        table.append((
            str(line["benchmark"]), str(line["measure"]), number(line["value"], unit),  # type: ignore[arg-type]
            number(line.get("baseline"), unit),  # type: ignore[arg-type]
            "-" if ratio is None else f"{ratio:.2f}x",
            str(line.get("goal") or "-"), verdict,
        ))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"the JSON lines file (default {RESULTS})")
    args = parser.parse_args(argv)
    if not args.results.exists():
        print(f"no results in {args.results}: run the benchmarks first (make bench)")
        return 0
    lines = [json.loads(text) for text in args.results.read_text(encoding="utf-8").splitlines() if text.strip()]
    table = rows(lines)
    widths = [max(len(column), *(len(row[i]) for row in table)) if table else len(column)
              for i, column in enumerate(COLUMNS)]
    right = {2, 3, 4}  # numbers
    print()
    print("=" * (sum(widths) + 2 * (len(widths) - 1)))
    print("  ".join(column.ljust(width) if i not in right else column.rjust(width)
                    for i, (column, width) in enumerate(zip(COLUMNS, widths, strict=True))))
    print("  ".join("-" * width for width in widths))
    for row in table:
        print("  ".join(cell.rjust(width) if i in right else cell.ljust(width)
                        for i, (cell, width) in enumerate(zip(row, widths, strict=True))))
    verdicts = [row[-1] for row in table]
    print()
    print(f"{verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL, {verdicts.count('INFO')} INFO "
          f"({len(table)} figures from {args.results})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
