"""How fast the portal imports a large `portal-subjects/1` file, next to the least any importer must do.

Run:  .venv/bin/python bench/import_subjects.py [--items 100000] [--database-url URL] [--profile]

It generates one valid document (about ten data items per person, one or two relations each, some
consents on the consent purposes of those relations, every date in the past), writes it to bytes once
and measures on those same bytes:

- baseline: `json.loads` plus plain SQLAlchemy Core `insert()` executemany of the same subject,
  relation, data item and consent rows into a fresh migrated database, with no validation at all;
- portal import: `read_document` + `import_subjects(...)`, as `flask --app wsgi import-subjects` does,
  split into the time spent in `validate_document` (timed inside that same run) and the rest;
- the JSON Schema pass alone over the same document (a separate run), the bulk of the validation;
- portal re-import: the same bytes again into the same database, which must change nothing.

The database is a temporary SQLite file by default. A `postgresql+psycopg://...` URL names a server:
two temporary databases are created on it (CREATE DATABASE in AUTOCOMMIT) and dropped afterwards.
`--profile` adds one more portal import, on a third fresh database and under cProfile, and prints where
its time goes to stderr; profiled seconds never enter the table (cProfile inflates jsonschema's many
small calls far more than the database work).

Ids (relation kinds, categories per relation, sources, consent purposes) come from the policy
register, so the generated file stays valid when the register changes.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import random
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench.common import FIELDS, day_between, print_profile, temporary_databases  # noqa: E402
from bench.results import record  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import Consent, DataItem, Relation, Subject  # noqa: E402
from portal.policy.register import Register, default_register  # noqa: E402
from portal.services import subjects as subjects_service  # noqa: E402
from portal.services.subjects import FORMAT, SCHEMA_PATH, import_subjects, read_document  # noqa: E402

GOAL_ITEMS = 100_000
GOAL_SECONDS = 60.0
# "Well under" 60 s, read as: at most half of it, so the import keeps its margin on a busier server.
WELL_UNDER = GOAL_SECONDS / 2
ITEMS_PER_PERSON = 10
SEED = 20231
FIRST_NAMES = ("An", "Bram", "Chloé", "Dries", "Eva", "Frank", "Gert", "Hanne", "Inès", "Jonas", "Kato", "Lars")
LAST_NAMES = ("Peeters", "De Clercq", "Martin", "Vermeulen", "Janssens", "Wouters", "Maes", "Claes", "Dubois")


# --------------------------------------------------------------------------------------------------
# The document


def generate_document(items: int, register: Register, today: dt.date) -> dict[str, Any]:
    """A valid document with exactly `items` data items, about ten per person."""
    rng = random.Random(SEED)
    kinds = list(register.relations)
    sources = list(register.sources)
    consent_purposes: dict[str, list[str]] = {}
    for purpose in register.consent_purposes():
        consent_purposes.setdefault(purpose.relation, []).append(purpose.id)
    earliest, latest_start = dt.date(2012, 1, 1), today - dt.timedelta(days=30)

    people = max(1, round(items / ITEMS_PER_PERSON))
    subjects: list[dict[str, Any]] = []
    for index in range(people):
        # Spread the items evenly so the total is exactly `items`.
        own_items = items * (index + 1) // people - items * index // people
        chosen = rng.sample(kinds, 2 if rng.random() < 0.35 else 1)
        relations = []
        for r_index, kind in enumerate(chosen):
            started = day_between(rng, earliest, latest_start)
            ended = day_between(rng, started, today) if rng.random() < 0.3 else None
            last_contact = day_between(rng, started, ended or today)
            share = own_items // len(chosen) + (1 if r_index < own_items % len(chosen) else 0)
            categories = register.relations[kind].category_ids
            data = []
            for d_index in range(share):
                category = categories[d_index % len(categories)]
                field = rng.choice(FIELDS.get(category, ("note",)))
                data.append({
                    "category": category,
                    "field": field,
                    # The index keeps every item distinct under its relation, as real data would be.
                    "value": f"{field} {d_index} of person {index}: {rng.getrandbits(48):012x}",
                    "source": rng.choice(sources),
                    "recorded": day_between(rng, started, last_contact).isoformat(),
                })
            relations.append({
                "kind": kind, "started": started.isoformat(),
                "ended": ended.isoformat() if ended else None, "last_contact": last_contact.isoformat(),
                "data": data,
            })
        consents = []
        for relation in relations:
            purposes = consent_purposes.get(relation["kind"], [])
            if purposes and rng.random() < 0.6:
                given = day_between(rng, dt.date.fromisoformat(relation["started"]), today)
                withdrawn = day_between(rng, given, today) if rng.random() < 0.2 else None
                consents.append({"purpose": rng.choice(purposes), "given": given.isoformat(),
                                 "withdrawn": withdrawn.isoformat() if withdrawn else None})
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        # Every seventh address in capitals: the import must compare addresses case-insensitively.
        email = f"person.{index:06d}@example.com"
        subjects.append({
            "email": email.title() if index % 7 == 0 else email,
            "name": name,
            "language": rng.choice(("nl", "en")),
            "relations": relations,
            "consents": consents,
        })
    return {"format": FORMAT, "subjects": subjects}


# --------------------------------------------------------------------------------------------------
# Databases (scratch ones from bench/common.py)


def migrated(url: str) -> Database:
    database = Database(url)
    database.migrate()
    return database


def row_counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {model.__tablename__: connection.scalar(select(func.count()).select_from(model))
                for model in (Subject, Relation, DataItem, Consent)}


# --------------------------------------------------------------------------------------------------
# The measurements


def baseline(raw: bytes, database: Database) -> float:
    """json.loads plus Core executemany of the same rows, no validation: the floor for any importer."""
    started = time.perf_counter()
    document = json.loads(raw)
    subject_table, relation_table = Subject.__table__, Relation.__table__
    item_table, consent_table = DataItem.__table__, Consent.__table__
    date = dt.date.fromisoformat
    with database.engine.begin() as connection:
        subjects = document["subjects"]
        subject_ids = connection.execute(
            insert(subject_table).returning(subject_table.c.id, sort_by_parameter_order=True),
            [{"email": s["email"].strip().lower(), "name": s.get("name"), "language": s.get("language", "nl")}
             for s in subjects],
        ).scalars().all()
        relation_rows, relation_data, consent_rows = [], [], []
        for subject_id, subject in zip(subject_ids, subjects, strict=True):
            for relation in subject.get("relations", []):
                ended, last_contact = relation.get("ended"), relation.get("last_contact")
                relation_rows.append({"subject_id": subject_id, "kind": relation["kind"],
                                      "started": date(relation["started"]),
                                      "ended": date(ended) if ended else None,
                                      "last_contact": date(last_contact) if last_contact else None})
                relation_data.append(relation.get("data", []))
            for consent in subject.get("consents", []):
                withdrawn = consent.get("withdrawn")
                consent_rows.append({"subject_id": subject_id, "purpose": consent["purpose"],
                                     "given": date(consent["given"]),
                                     "withdrawn": date(withdrawn) if withdrawn else None})
        relation_ids = connection.execute(
            insert(relation_table).returning(relation_table.c.id, sort_by_parameter_order=True), relation_rows,
        ).scalars().all()
        item_rows = []
        for relation_id, data in zip(relation_ids, relation_data, strict=True):
            for item in data:
                # The fingerprint column is NOT NULL, so even the floor computes it.
                joined = "\x1f".join((item["category"], item["field"], item["value"], item["source"],
                                      item["recorded"]))
                item_rows.append({"relation_id": relation_id, "category": item["category"],
                                  "field": item["field"], "value": item["value"], "source": item["source"],
                                  "recorded": date(item["recorded"]),
                                  "fingerprint": hashlib.sha256(joined.encode("utf-8")).hexdigest()})
        connection.execute(insert(item_table), item_rows)
        if consent_rows:
            connection.execute(insert(consent_table), consent_rows)
    return time.perf_counter() - started


@contextmanager
def timed_validation(timings: list[float]) -> Iterator[None]:
    """Time `validate_document` inside the real import, to split checking from writing."""
    original = subjects_service.validate_document

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timings.append(time.perf_counter() - started)

    subjects_service.validate_document = timed
    try:
        yield
    finally:
        subjects_service.validate_document = original


def portal_import(raw: bytes, database: Database, register: Register, today: dt.date,
                  profiler: cProfile.Profile | None = None) -> tuple[float, Any]:
    """What `flask --app wsgi import-subjects FILE` does after reading the file: parse, validate, write."""
    session = database.session()
    try:
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        report = import_subjects(read_document(raw), session=session, register=register, today=today)
        elapsed = time.perf_counter() - started
        if profiler:
            profiler.disable()
    finally:
        session.close()
    return elapsed, report


def schema_check_alone(raw: bytes) -> float:
    """Only the JSON Schema pass over the document, with the same schema file the import uses."""
    validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    document = json.loads(raw)
    started = time.perf_counter()
    problems = sum(1 for _ in validator.iter_errors(document))
    elapsed = time.perf_counter() - started
    assert problems == 0, f"the generated file breaks the schema in {problems} places"
    return elapsed


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=GOAL_ITEMS, help="data items in the file (default 100000)")
    parser.add_argument("--database-url", help="SQLAlchemy URL of a PostgreSQL server; default: temp SQLite")
    parser.add_argument("--profile", action="store_true", help="profile the first portal import with cProfile")
    args = parser.parse_args(argv)

    register = default_register()
    today = dt.date.today()
    started = time.perf_counter()
    document = generate_document(args.items, register, today)
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8")
    people = len(document["subjects"])
    relations = sum(len(s["relations"]) for s in document["subjects"])
    consents = sum(len(s["consents"]) for s in document["subjects"])
    del document  # only the bytes are measured from here on
    print(f"file: {people:,} people, {relations:,} relations, {args.items:,} data items, {consents:,} consents, "
          f"{len(raw) / 2**20:.1f} MiB (generated in {time.perf_counter() - started:.1f} s)")

    with temporary_databases(args.database_url, 3 if args.profile else 2) as urls:
        baseline_db, portal_db = migrated(urls[0]), migrated(urls[1])
        try:
            print(f"database: {baseline_db.engine.url.get_backend_name()} "
                  f"({baseline_db.engine.url.render_as_string(hide_password=True)} and one more like it)")
            base_seconds = baseline(raw, baseline_db)
            expected = row_counts(baseline_db)

            validation: list[float] = []
            with timed_validation(validation):
                first_seconds, first = portal_import(raw, portal_db, register, today)
            assert first.items_created == args.items, f"{first.items_created} items created, not {args.items}"
            assert row_counts(portal_db) == expected, (row_counts(portal_db), expected)
            second_seconds, second = portal_import(raw, portal_db, register, today)
            assert second.changed_anything is False, f"the re-import changed something: {second}"
            assert row_counts(portal_db) == expected
        finally:
            baseline_db.dispose()
            portal_db.dispose()
        schema_seconds = schema_check_alone(raw)

        profiler = None
        if args.profile:
            # A separate run on a fresh database: cProfile inflates many-small-call code (jsonschema)
            # far more than C-heavy code (SQLite), so its seconds never go into the table.
            profiler = cProfile.Profile()
            profiled_db = migrated(urls[2])
            try:
                portal_import(raw, profiled_db, register, today, profiler)
            finally:
                profiled_db.dispose()

    (validate_seconds,) = validation
    rows = [
        ("baseline: json.loads + Core executemany", base_seconds),
        ("portal import (read_document + import_subjects)", first_seconds),
        ("  of which validate_document", validate_seconds),
        ("  of which parsing and writing", first_seconds - validate_seconds),
        ("  JSON Schema pass alone (separate run)", schema_seconds),
        ("portal re-import, same file (changed nothing)", second_seconds),
    ]
    print()
    print(f"{'figure':<50} {'seconds':>8} {'items/s':>10} {'x baseline':>11}")
    for label, seconds in rows:
        print(f"{label:<50} {seconds:>8.2f} {args.items / seconds:>10,.0f} {seconds / base_seconds:>10.1f}x")
    print()
    # Scaled linearly when --items is not 100,000, and said so.
    projected = first_seconds * GOAL_ITEMS / args.items
    scaled = "" if args.items == GOAL_ITEMS else f" (projected from {args.items:,} items)"
    verdict = "met" if projected <= WELL_UNDER else "NOT met"
    print(f"goal: 100,000 items well under 60 s (taken as at most {WELL_UNDER:.0f} s): {verdict}: "
          f"{projected:.1f} s{scaled}")
    print(f"peak memory of this process: {peak_memory_mib():.0f} MiB")
    record(f"import_subjects ({portal_db.engine.url.get_backend_name()})", f"import of {GOAL_ITEMS:,} items{scaled}",
           projected, "s", baseline=base_seconds * GOAL_ITEMS / args.items, goal=f"<= {WELL_UNDER:.0f} s",
           passed=projected <= WELL_UNDER)

    if profiler:
        print_profile(profiler, "\n", cumulative=40, own=25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
