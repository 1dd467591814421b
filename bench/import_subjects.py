"""How fast `flask --app wsgi import-subjects FILE` takes a large file, beside a COPY of the same rows.

Run:  .venv/bin/python bench/import_subjects.py [--items 1000000] [--database-url URL ...] [--profile]

Writes one valid `portal-subjects/1` file (about 50 data items per person, ids from the register), then
runs, each in a process of its own on a fresh database (default: bench.common.DEFAULT_POSTGRES):
- import: read the file, `read_document`, `import_subjects`, as the command does;
- baseline: the rows that import writes (people, relations, consents, data items with fingerprints),
  prepared beforehand, written with COPY in one transaction: the least any importer does. SQLite
  (`--database-url sqlite`) has no COPY: there it is one executemany per table.
Goal: 1,000,000 items into PostgreSQL in under 60 s. `--profile`: one more import under cProfile.
CPU s is the case's own process; the rest of its seconds the server worked, or it waited for a core.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from sqlalchemy import insert  # noqa: E402

from bench import common  # noqa: E402
from bench.results import record  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import Consent, DataItem, Relation, Subject  # noqa: E402
from portal.policy.register import default_register  # noqa: E402
from portal.services.subjects import FORMAT, import_subjects, item_fingerprint, read_document  # noqa: E402

GOAL_ITEMS, GOAL_SECONDS, PER_PERSON = 1_000_000, 60.0, 50
COLUMNS = {Subject: ("id", "email", "name", "language"),
           Relation: ("id", "subject_id", "kind", "started", "ended", "last_contact"),
           Consent: ("subject_id", "purpose", "given", "withdrawn"),
           DataItem: ("relation_id", "category", "field", "value", "source", "recorded", "fingerprint")}


def generate(items: int, today: dt.date) -> dict[str, Any]:
    """A valid file with exactly `items` data items; every seventh address in capitals."""
    register, rng, day = default_register(), random.Random(20231), common.day_between
    purposes: dict[str, list[str]] = {}
    for purpose in register.consent_purposes():
        purposes.setdefault(purpose.relation, []).append(purpose.id)
    people, subjects = max(1, round(items / PER_PERSON)), []
    for person in range(people):
        own = items * (person + 1) // people - items * person // people
        kinds = rng.sample(list(register.relations), 2 if rng.random() < 0.35 else 1)
        relations, consents = [], []
        for index, kind in enumerate(kinds):
            started = day(rng, dt.date(2012, 1, 1), today - dt.timedelta(days=30))
            ended = day(rng, started, today) if rng.random() < 0.3 else None
            categories = register.relations[kind].category_ids
            data = []
            for n in range(own // len(kinds) + (index < own % len(kinds))):
                field = rng.choice(common.FIELDS.get(categories[n % len(categories)], ("note",)))
                data.append({"category": categories[n % len(categories)], "field": field,
                             "value": f"{field} {n} of person {person}: {rng.getrandbits(48):012x}",
                             "source": rng.choice(list(register.sources)),
                             "recorded": day(rng, started, ended or today).isoformat()})
            relations.append({"kind": kind, "started": started.isoformat(), "ended": ended and ended.isoformat(),
                              "last_contact": (ended or today).isoformat(), "data": data})
            if kind in purposes and rng.random() < 0.6:
                given = day(rng, started, today)
                withdrawn = day(rng, given, today).isoformat() if rng.random() < 0.2 else None
                consents.append({"purpose": rng.choice(purposes[kind]), "given": given.isoformat(),
                                 "withdrawn": withdrawn})
        email = f"person.{person:06d}@example.com"
        subjects.append({"email": email.upper() if person % 7 == 0 else email, "name": f"Person {person}",
                         "language": rng.choice(("nl", "en")), "relations": relations, "consents": consents})
    return {"format": FORMAT, "subjects": subjects}


def rows(document: dict[str, Any]) -> dict[type, list[tuple[Any, ...]]]:
    """The rows the import writes for `document` (in the order of COLUMNS), ids numbered from 1."""
    date = dt.date.fromisoformat
    tables: dict[type, list[tuple[Any, ...]]] = {Subject: [], Relation: [], Consent: [], DataItem: []}
    for subject_id, subject in enumerate(document["subjects"], 1):
        tables[Subject].append((subject_id, subject["email"].lower(), subject["name"], subject["language"]))
        for relation in subject["relations"]:
            relation_id = len(tables[Relation]) + 1
            tables[Relation].append((relation_id, subject_id, relation["kind"], date(relation["started"]),
                                     relation["ended"] and date(relation["ended"]), date(relation["last_contact"])))
            for item in relation["data"]:
                values = (item["category"], item["field"], item["value"], item["source"], date(item["recorded"]))
                tables[DataItem].append((relation_id, *values, item_fingerprint(*values)))
        for consent in subject["consents"]:
            tables[Consent].append((subject_id, consent["purpose"], date(consent["given"]),
                                    consent["withdrawn"] and date(consent["withdrawn"])))
    return tables


def one(case: str, file: str, url: str) -> None:
    """One case, in this fresh process, on the fresh database at `url`: its figures as a JSON line."""
    database = Database(url)
    database.migrate()
    if case == "import":  # what the command does once the database is open
        with common.measured() as figures, database.session() as session:
            figures["items"] = import_subjects(read_document(Path(file).read_bytes()), session=session,
                                               register=default_register(), today=dt.date.today()).items_created
    else:
        tables = rows(json.loads(Path(file).read_bytes()))
        with common.measured() as figures, database.engine.begin() as connection:
            for model, table_rows in tables.items():
                if url.startswith("sqlite"):
                    connection.execute(insert(model), [dict(zip(COLUMNS[model], r, strict=True)) for r in table_rows])
                    continue
                statement = f"COPY {model.__tablename__} ({', '.join(COLUMNS[model])}) FROM STDIN"
                with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                    for row in table_rows:
                        copy.write_row(row)
        figures["items"] = len(tables[DataItem])
    database.dispose()
    print(json.dumps(figures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=GOAL_ITEMS, help=f"data items in the file ({GOAL_ITEMS:,})")
    parser.add_argument("--database-url", action="append", dest="urls", help="repeatable; `sqlite` for SQLite")
    parser.add_argument("--profile", action="store_true", help="one more import under cProfile, in this process")
    parser.add_argument("--one", nargs=3, metavar=("CASE", "FILE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return 0
    urls = args.urls or [common.DEFAULT_POSTGRES]
    with tempfile.TemporaryDirectory(prefix="portal-bench-import-") as folder:
        file = Path(folder) / "subjects.json"
        document = generate(args.items, dt.date.today())
        file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        print(f"file: {len(document['subjects']):,} people, {args.items:,} items, {file.stat().st_size / 1e6:,.0f} MB")
        del document
        print(f"{'database':<11} {'case':<9} {'seconds':>8} {'CPU s':>6} {'items/s':>9} {'peak RSS':>9} {'x COPY':>7}")
        for url in urls:
            backend, figures = url.split(":")[0].split("+")[0], {}
            for case in ("baseline", "import"):
                with common.temporary_database(None if backend == "sqlite" else url) as scratch:
                    figures[case] = common.run_case(__file__, [case, str(file), scratch], f"{case} on {backend}")
                assert figures[case]["items"] == args.items, figures[case]
            base, seconds = figures["baseline"]["seconds"], figures["import"]["seconds"]
            for case, run in figures.items():
                print(f"{backend:<11} {case:<9} {run['seconds']:>8.1f} {run['cpu']:>6.1f} "
                      f"{args.items / run['seconds']:>9,.0f} {run['peak_kib'] / 1024:>6,.0f} MB "
                      f"{run['seconds'] / base:>6.1f}x")
            judged, name = backend == "postgresql" and args.items == GOAL_ITEMS, f"import_subjects ({backend})"
            record(name, f"import of {args.items:,} items", seconds, "s", baseline=base, goal=f"< {GOAL_SECONDS:.0f} s"
                   if judged else None, passed=seconds < GOAL_SECONDS if judged else None)
            record(name, "peak RSS of the import", figures["import"]["peak_kib"] / 1024, "MB")
        if args.profile:  # once more, in this process, under cProfile
            with common.temporary_database(None if urls[0].startswith("sqlite") else urls[0]) as scratch:
                profiler = cProfile.Profile()
                profiler.runcall(one, "import", str(file), scratch)
            common.print_profile(profiler, "\nthe import under cProfile (times inflated)\n", cumulative=35, own=25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
