"""How much time and memory a person's JSON and CSV (zip) export takes, next to a bare SELECT written out.

Run:  .venv/bin/python bench/export.py [--database-url URL ...] [--runs 3] [--kind copy] [--profile]

Setup, in one fresh migrated database: two people, each with one customer relation, one holding 1,000
data items and the other 100,000 (the customer categories in turn, source "provided", short texts),
written with Core `insert()` executemany in batches (then ANALYZE on PostgreSQL, as autovacuum would).

Cases, for each size and each format:
- export: `build_export(...)` of the copy (Art. 15, every table; `--kind portable` for Art. 20), then
  `json_export` or `zip_export` (with a one-line README), consumed chunk by chunk into a null sink that
  only counts the bytes: what the download view streams, without Flask and without a client;
- baseline: a plain Core `SELECT` of the same data item rows (the same columns, the same order, read in
  batches of `BATCH` as the export reads them), written to a null sink with the standard library only:
  `json.dumps` per row for JSON, `csv.writer` inside a `zipfile` entry (deflate) for CSV, because the
  export is a zip and compressing is part of the least any zip export must do.

Every run of every case is a fresh `python bench/export.py --one ...` process that prints its seconds
(from the first query to the last byte, imports and interpreter start excluded) and its peak resident
memory, so that no case inherits another's heap. The peak is VmHWM of /proc/self/status, the
high-water mark of the process's own RSS: Linux carries `ru_maxrss` over from the forking parent
across exec, so it would report the driver's peak for every case. Both kinds of process import the
same modules, so their peaks differ only by the work they do. The runs go round the cases `--runs` times in
turn; the table keeps each case's best time and highest peak. Memory is in MB (10^6 bytes), as the
goal is stated; "start" is the resident memory once the modules are imported, "growth" the peak above it.
Beside the wall-clock seconds it prints the CPU seconds of the measuring process: steadier when other
work shares the cores, but without the PostgreSQL server's share, so the goal is judged on wall-clock
time and the CPU ratio only helps to read it.

Goals (from the issue), per format: the export's peak at 100,000 items at most 30 MB above its peak
at 1,000, and the export at most twice the baseline's time at 100,000 items.

By default it runs on a temporary SQLite file and, when it answers, on PostgreSQL at `DEFAULT_POSTGRES`
(bench/common.py; a scratch database is created there in AUTOCOMMIT and dropped afterwards).
`--database-url` (repeatable) names the databases instead: `sqlite` for a temporary file, or a
`postgresql+psycopg://...` server URL.
`--profile` adds, after the table, one in-process export of 100,000 items per format under cProfile,
printed to stderr; profiled seconds never enter the table.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench.common import (  # noqa: E402
    Runs,
    add_database_urls_argument,
    database_urls,
    goals_on_each,
    measured,
    print_profile,
    run_case,
    temporary_database,
)
from bench.results import record  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import DataItem, Relation, Subject  # noqa: E402
from portal.policy.register import Register, default_register  # noqa: E402
from portal.services.export import BATCH, COPY, KINDS, Receipt, build_export, json_export, zip_export  # noqa: E402

SIZES = (1_000, 100_000)
FORMATS = ("json", "csv")
ROLES = ("export", "baseline")
GOAL_GROWTH_MB = 30.0  # issue: peak memory at 100,000 items within 30 MB of the peak at 1,000
GOAL_RATIO = 2.0  # issue: the export within twice the baseline's time
INSERT_BATCH = 10_000
SEED = 20240
NOW = dt.datetime(2024, 6, 1, 12, 0, 0)  # naive UTC, as the portal stores it
FIELDS = {"contact": "phone", "correspondence": "e-mail", "payment": "invoice"}


def email_of(items: int) -> str:
    return f"person.{items}@example.com"


# --------------------------------------------------------------------------------------------------
# People


def create_person(database: Database, register: Register, items: int) -> None:
    """One person with a customer relation holding `items` data items, written in executemany batches."""
    categories = register.relations["customer"].category_ids
    assert "provided" in register.sources
    rng = random.Random(SEED + items)
    with database.engine.begin() as connection:
        subject_id = connection.execute(
            insert(Subject).returning(Subject.id), {"email": email_of(items), "name": "Bench Person", "language": "en"}
        ).scalar_one()
        relation_id = connection.execute(
            insert(Relation).returning(Relation.id),
            {"subject_id": subject_id, "kind": "customer", "started": dt.date(2015, 3, 1), "ended": None,
             "last_contact": NOW.date()},
        ).scalar_one()
        for first in range(0, items, INSERT_BATCH):
            rows = []
            for n in range(first, min(items, first + INSERT_BATCH)):
                category = categories[n % len(categories)]
                rows.append({
                    "relation_id": relation_id, "category": category, "field": FIELDS.get(category, "note"),
                    "value": f"{FIELDS.get(category, 'note')} {n}: {rng.getrandbits(64):016x}", "source": "provided",
                    "recorded": NOW.date() - dt.timedelta(days=1 + n % 3000),
                    "fingerprint": hashlib.sha256(str(n).encode()).hexdigest(),
                })
            connection.execute(insert(DataItem), rows)


# --------------------------------------------------------------------------------------------------
# One case, in its own process


class NullSink(io.RawIOBase):
    """Takes bytes and keeps only their count; not seekable, like a response stream."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)


def run_export(url: str, fmt: str, items: int, kind: str, register: Register) -> tuple[int, int]:
    """The export as the download view streams it; returns (bytes, data item rows)."""
    database = Database(url)
    try:
        with database.session() as session:
            export = build_export(session, email_of(items), kind, register=register, language="en", now=NOW)
            receipt = Receipt()
            chunks = (json_export(export, receipt) if fmt == "json"
                      else zip_export(export, lambda _header, digest, _entries: f"digest {digest}\n", receipt))
            size = 0
            for chunk in chunks:
                size += len(chunk)
        assert receipt.complete and receipt.size == size
        rows = {entry.name.removesuffix(".csv"): entry.rows for entry in receipt.entries}["data_items"]
        return size, rows
    finally:
        database.dispose()


def run_baseline(url: str, fmt: str, items: int) -> tuple[int, int]:
    """A plain SELECT of the same rows, in the same order and batches, written with json or csv + zipfile."""
    engine = create_engine(url)
    query = (
        select(DataItem.id.label("item_id"), DataItem.relation_id, Relation.kind.label("relation"),
               DataItem.category, DataItem.field, DataItem.value, DataItem.source, DataItem.recorded)
        .join(Relation, DataItem.relation_id == Relation.id).join(Subject, Relation.subject_id == Subject.id)
        .where(Subject.email == email_of(items))
        .order_by(DataItem.relation_id, DataItem.category, DataItem.recorded, DataItem.id)
    )
    sink, rows = NullSink(), 0
    try:
        with engine.connect() as connection:
            result = connection.execution_options(yield_per=BATCH).execute(query)
            if fmt == "json":
                out = io.TextIOWrapper(sink, encoding="utf-8", newline="")
                out.write("[")
                for row in result:
                    record = row._asdict()
                    record["recorded"] = record["recorded"].isoformat()
                    out.write(("," if rows else "") + "\n" + json.dumps(record, ensure_ascii=False))
                    rows += 1
                out.write("\n]\n")
                out.flush()
            else:
                with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
                        archive.open("data_items.csv", "w") as entry:
                    out = io.TextIOWrapper(entry, encoding="utf-8", newline="")
                    writer = csv.writer(out, lineterminator="\r\n")
                    writer.writerow(result.keys())
                    for row in result:
                        writer.writerow(row)
                        rows += 1
                    out.flush()
                    out.detach()
    finally:
        engine.dispose()
    return sink.size, rows


def one(role: str, fmt: str, items: int, url: str, kind: str) -> int:
    """Run one case once in this fresh process and print its figures as one JSON line."""
    register = default_register()  # loaded once per app, not per download
    with measured() as figures:  # the peak is VmHWM, not ru_maxrss: see `measured`
        if role == "export":
            size, rows = run_export(url, fmt, items, kind, register)
        else:
            size, rows = run_baseline(url, fmt, items)
    expected = items if role == "baseline" or kind == COPY else rows
    assert rows == expected, f"{role} {fmt}: {rows} data item rows, not {expected}"
    print(json.dumps({**figures, "bytes": size, "rows": rows}))
    return 0


# --------------------------------------------------------------------------------------------------
# The runs and the table


@dataclass
class Case(Runs):
    role: str
    fmt: str
    items: int
    size: int = 0


def measure(case: Case, url: str, kind: str) -> None:
    figures = run_case(str(Path(__file__).resolve()), [case.role, case.fmt, str(case.items), url, "--kind", kind],
                       f"{case.role} {case.fmt} {case.items:,}")
    case.add(figures)
    case.size = figures["bytes"]


def bench(server_url: str, runs: int, kind: str, profile: bool) -> list[str]:
    """Every case on one database; prints its table and returns its goal lines."""
    register = default_register()
    with temporary_database(server_url, prefix="portal-bench-export-") as url:
        database = Database(url)
        try:
            started = time.perf_counter()
            database.migrate()
            for items in SIZES:
                create_person(database, register, items)
            backend = database.engine.url.get_backend_name()
            if backend == "postgresql":
                # Fresh statistics, as autovacuum gathers soon after a large import: without them the
                # planner guesses a handful of rows and sorts 100,000 on disk instead of using the index.
                with database.engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            print(f"\ndatabase: {backend} ({database.engine.url.render_as_string(hide_password=True)}); "
                  f"people with {' and '.join(f'{n:,}' for n in SIZES)} data items under one customer relation "
                  f"(written in {time.perf_counter() - started:.1f} s)")
        finally:
            database.dispose()

        cases = {(role, fmt, items): Case(role, fmt, items) for items in SIZES for fmt in FORMATS for role in ROLES}
        started = time.perf_counter()
        for _run in range(runs):  # round the cases in turn, so that a slow moment hits them all alike
            for case in cases.values():
                measure(case, url, kind)
        print(f"{len(cases)} cases x {runs} runs, each its own process ({time.perf_counter() - started:.0f} s)")

        if profile:
            for fmt in FORMATS:
                profile_export(url, fmt, SIZES[-1], kind, register)

    labels = {
        ("export", "json"): f"export {kind} json_export", ("baseline", "json"): "baseline SELECT + json.dumps",
        ("export", "csv"): f"export {kind} zip_export", ("baseline", "csv"): "baseline SELECT + csv in zipfile",
    }
    print()
    print(f"{backend:<10} {'case':<34} {'items':>8} {'MB out':>7} {'best s':>7} {'x base':>7} {'cpu s':>6} "
          f"{'x base':>7} {'peak MB':>8} {'x base':>7} {'start MB':>9} {'growth':>7}")
    for (role, fmt, items), case in cases.items():
        base = cases[("baseline", fmt, items)]
        print(f"{backend:<10} {labels[(role, fmt)]:<34} {items:>8,} {case.size / 1e6:>7.2f} {case.best:>7.3f} "
              f"{case.best / base.best:>6.2f}x {case.best_cpu:>6.3f} {case.best_cpu / base.best_cpu:>6.2f}x "
              f"{case.peak:>8.1f} {case.peak / base.peak:>6.2f}x {case.start:>9.1f} {case.peak - case.start:>7.1f}")

    small, large = SIZES
    goals = []
    for fmt in FORMATS:
        name = "JSON" if fmt == "json" else "CSV zip"
        export_small, export_large = cases[("export", fmt, small)], cases[("export", fmt, large)]
        base_small, base_large = cases[("baseline", fmt, small)], cases[("baseline", fmt, large)]
        growth = export_large.peak - export_small.peak
        base_growth = base_large.peak - base_small.peak
        record(f"export ({backend})", f"{name}: peak memory growth {small:,} -> {large:,} items", growth, "+MB",
               baseline=base_growth, ratio=False, goal=f"<= +{GOAL_GROWTH_MB:.0f} MB", passed=growth <= GOAL_GROWTH_MB)
        goals.append(f"{'PASS' if growth <= GOAL_GROWTH_MB else 'FAIL'}  {backend} {name}: peak memory at "
                     f"{large:,} items {growth:+.1f} MB over {small:,} (goal at most +{GOAL_GROWTH_MB:.0f} MB; "
                     f"baseline {base_growth:+.1f} MB)")
        ratio = export_large.best / base_large.best
        record(f"export ({backend})", f"{name}: time at {large:,} items", export_large.best, "s",
               baseline=base_large.best, goal=f"<= {GOAL_RATIO:g}x baseline", passed=ratio <= GOAL_RATIO)
        goals.append(f"{'PASS' if ratio <= GOAL_RATIO else 'FAIL'}  {backend} {name}: time at {large:,} items "
                     f"{ratio:.2f}x the baseline ({export_large.best:.2f} s vs {base_large.best:.2f} s; goal at "
                     f"most {GOAL_RATIO:g}x; CPU of this process {export_large.best_cpu / base_large.best_cpu:.2f}x)")
    print()
    for line in goals:
        print(line)
    return goals


def profile_export(url: str, fmt: str, items: int, kind: str, register: Register) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run_export(url, fmt, items, kind, register)
    profiler.disable()
    print_profile(profiler, f"\n=== cProfile: {kind} {fmt} export of {items:,} items ===\n", cumulative=30, own=25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_urls_argument(parser)
    parser.add_argument("--runs", type=int, default=3, help="runs of every case (default 3)")
    parser.add_argument("--kind", choices=KINDS, default=COPY, help="which export (default copy, Art. 15)")
    parser.add_argument("--profile", action="store_true", help="profile one export per format, to stderr")
    parser.add_argument("--one", nargs=4, metavar=("ROLE", "FORMAT", "ITEMS", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        role, fmt, items, url = args.one
        assert role in ROLES and fmt in FORMATS
        return one(role, fmt, int(items), url, args.kind)

    urls = database_urls(args.urls)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run; "
          f"export kind: {args.kind}; {args.runs} runs per case, best time and highest peak kept")
    goals_on_each(urls, lambda url: bench(url, args.runs, args.kind, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
