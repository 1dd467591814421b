"""The copy of a person's data as JSON and as a CSV zip, at 1,000 and 100,000 items, beside a raw SELECT.

Run:  .venv/bin/python bench/export.py [--database-url URL ...] [--runs 3]

Two people in one fresh database, with 1,000 and 100,000 data items. The export: `build_export` of the
copy, written by `json_export` or `zip_export` (what the download view streams, without Flask). The
baseline, the floor: a raw SELECT of the same item rows in the same order, written by `json.dumps` per
row or by `csv.writer` into a deflated zip entry. Each run of a case is a fresh process (`run_case`)
reporting its seconds and peak resident memory (`measured`); a case keeps its best time, highest peak.
Goals (the issue's), per format: at 100,000 items within 2x the baseline's time, and a peak at most 30 MB
above the peak at 1,000. Missed goals are printed and recorded; only a crash exits nonzero. SQLite, and
PostgreSQL at `DEFAULT_POSTGRES` when it answers, unless `--database-url` names the databases.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import sys
import zipfile
from pathlib import Path

from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench import common  # noqa: E402
from bench.results import record  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import DataItem, Relation, Subject  # noqa: E402
from portal.policy.register import default_register  # noqa: E402
from portal.services.export.formats import json_export, zip_export  # noqa: E402
from portal.services.export.tables import BATCH, COPY, build_export  # noqa: E402

SIZES, FORMATS, ROLES = (1_000, 100_000), {"json": "JSON", "csv": "CSV zip"}, ("export", "baseline")
GOAL_RATIO, GOAL_GROWTH_MB = 2.0, 30.0
NOW = dt.datetime(2024, 6, 1, 12)  # naive UTC, as the portal stores it


def create_person(database: Database, items: int) -> None:
    categories = default_register().relations["customer"].category_ids
    with database.engine.begin() as connection:
        subject = connection.execute(insert(Subject).returning(Subject.id),
                                     {"email": f"p{items}@example.com", "name": "Bench", "language": "en"}).scalar_one()
        relation = connection.execute(insert(Relation).returning(Relation.id),
                                      {"subject_id": subject, "kind": "customer", "started": dt.date(2015, 3, 1),
                                       "last_contact": NOW.date()}).scalar_one()
        for first in range(0, items, 10_000):
            connection.execute(insert(DataItem), [
                {"relation_id": relation, "category": categories[n % len(categories)], "field": "note",
                 "value": f"note {n}: {n * 2654435761 % 2**64:016x}", "source": "provided",
                 "recorded": NOW.date() - dt.timedelta(days=1 + n % 3000), "fingerprint": f"{n:064x}"}
                for n in range(first, min(items, first + 10_000))])


def one(role: str, fmt: str, items: int, url: str) -> None:
    """One case, in this fresh process: prints its figures as a JSON line."""
    database, email = Database(url), f"p{items}@example.com"
    with common.measured() as figures, database.session() as session, open(os.devnull, "wb") as out:
        if role == "export":
            export = build_export(session, email, COPY, register=default_register(), language="en", now=NOW)
            out.writelines(json_export(export) if fmt == "json" else zip_export(export, lambda *_: "README\n"))
        else:
            rows = session.connection().execute(
                select(DataItem.id.label("item_id"), DataItem.relation_id, Relation.kind.label("relation"),
                       DataItem.category, DataItem.field, DataItem.value, DataItem.source, DataItem.recorded)
                .join(Relation).join(Subject).where(Subject.email == email)
                .order_by(DataItem.relation_id, DataItem.category, DataItem.recorded, DataItem.id)
                .execution_options(yield_per=BATCH))
            if fmt == "json":
                out.writelines(json.dumps({**row._asdict(), "recorded": row.recorded.isoformat()},
                                          ensure_ascii=False).encode() + b",\n" for row in rows)
            else:
                with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, \
                        archive.open("items.csv", "w") as entry, io.TextIOWrapper(entry, "utf-8", newline="") as lines:
                    writer = csv.writer(lines, lineterminator="\r\n")
                    writer.writerow(rows.keys())
                    writer.writerows(rows)
    database.dispose()
    print(json.dumps(figures))


def bench(server_url: str, runs: int) -> list[str]:
    """Every case on one database: prints its figures, records the judged ones, returns its goal lines."""
    with common.temporary_database(server_url, prefix="portal-bench-export-") as url:
        database = Database(url)
        database.migrate()
        for items in SIZES:
            create_person(database, items)
        backend = database.engine.url.get_backend_name()
        if backend == "postgresql":  # fresh statistics, as autovacuum would gather after a large import
            with database.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        database.dispose()
        cases = {(fmt, items, role): common.Runs() for fmt in FORMATS for items in SIZES for role in ROLES}
        for _run in range(runs):  # round the cases in turn, so that a slow moment hits them all alike
            for (fmt, items, role), case in cases.items():
                case.add(common.run_case(__file__, [role, fmt, str(items), url], f"{role} {fmt} {items:,}"))

    print(f"\n{backend}: best time of {runs} runs (CPU of the measuring process beside it), highest peak memory")
    goals = []
    for fmt, name in FORMATS.items():
        for items in SIZES:
            export, base = (cases[(fmt, items, role)] for role in ROLES)
            print(f"{name:>7} {items:>7,} items: export {export.best:6.3f} s, baseline {base.best:6.3f} s, "
                  f"{export.best / base.best:5.2f}x (CPU {export.best_cpu / base.best_cpu:4.2f}x); "
                  f"peak {export.peak:5.1f} MB, baseline {base.peak:5.1f} MB")
        export, base = (cases[(fmt, SIZES[1], role)] for role in ROLES)
        ratio = export.best / base.best
        growth, base_growth = (cases[(fmt, SIZES[1], role)].peak - cases[(fmt, SIZES[0], role)].peak for role in ROLES)
        where = f"export ({backend})"
        record(where, f"{name}: time at 100,000 items", export.best, "s", baseline=base.best,
               goal=f"<= {GOAL_RATIO:g}x baseline", passed=ratio <= GOAL_RATIO)
        record(where, f"{name}: peak memory growth 1,000 -> 100,000 items", growth, "+MB", baseline=base_growth,
               ratio=False, goal=f"<= +{GOAL_GROWTH_MB:g} MB", passed=growth <= GOAL_GROWTH_MB)
        goals += [f"{'PASS' if ratio <= GOAL_RATIO else 'FAIL'}  {backend} {name}: {ratio:.2f}x the baseline's "
                  f"time at 100,000 items (goal at most {GOAL_RATIO:g}x)",
                  f"{'PASS' if growth <= GOAL_GROWTH_MB else 'FAIL'}  {backend} {name}: peak memory {growth:+.1f} MB "
                  f"from 1,000 to 100,000 items (goal at most +{GOAL_GROWTH_MB:g} MB; baseline {base_growth:+.1f} MB)"]
    print("\n".join(["", *goals]))
    return goals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_database_urls_argument(parser)
    parser.add_argument("--runs", type=int, default=3, help="runs of every case, each its own process (default 3)")
    parser.add_argument("--one", nargs=4, metavar=("ROLE", "FORMAT", "ITEMS", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]), args.one[3])
    else:
        common.goals_on_each(common.database_urls(args.urls), lambda url: bench(url, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
