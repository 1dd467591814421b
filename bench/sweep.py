"""`sweep-retention --apply` over N data items, beside the same erasure as plain SQL on a copy of the same data.

Run:  .venv/bin/python bench/sweep.py [--items 1000000] [--database-url URL]

For N/10 and N items (ten per person) a scratch PostgreSQL database with dates drawn over 1.6 times each
relation's retention period: about a third of the items is due on `TODAY`, some are held (2% of the people
have an open request, 0.5% of the relations are restricted, 15% of the people hold their contact details
under a second relation), talent-pool applicants are asked to renew. `sweep-retention --apply` runs on a
copy, through Flask's CLI runner as an operator runs it; the baseline, the database's floor, deletes what
the sweep removed (the copy compared with the original) from the original in three plain DELETEs. Each
is a fresh process (`run_case`); seconds, CPU seconds (of this process, not the server's) and peak RSS
(VmHWM) are of the measured block. Goals: under 60 s at 1,000,000 items with an audit trail that verifies;
a peak within +30 MB of the peak at a tenth of that. Only a run on an otherwise idle machine means anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from bench.common import DEFAULT_POSTGRES, FIELDS, measured, run_case, temporary_databases  # noqa: E402
from bench.results import record  # noqa: E402
from portal import create_app  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import Consent, DataItem, Relation, RenewalQuestion, RightsRequest, Subject  # noqa: E402
from portal.policy.register import default_register  # noqa: E402
from portal.services import audit  # noqa: E402

TODAY, NOW, DAY = dt.date(2024, 6, 1), dt.datetime(2024, 6, 1, 2, 30), dt.timedelta(days=1)
# Per relation kind: its share of the people (%), and the years over which its dates are drawn, 1.6 times its
# retention period in the register (for applicants, their talent-pool year).
KINDS = {"customer": (30, 16), "supplier": (10, 16), "visitor": (25, 4.8), "applicant": (15, 1.6),
         "participant": (20, 3.2)}
SETTINGS = {"ENV": "development", "SECRET_KEY": "bench-sweep-" + "k" * 40, "BASE_URL": "https://portal.example"}


def person(sid: int, rng: random.Random, relation_ids: Any, rows: dict[Any, list[dict[str, Any]]]) -> None:
    """One person with ten items under one relation, or five under each of two, and what hangs on them."""
    register, email = default_register(), f"person.{sid:07d}@example.com"
    rows[Subject].append({"id": sid, "email": email, "name": f"Person {sid}", "language": rng.choice(("nl", "en"))})
    shares = [share for share, _years in KINDS.values()]
    kinds = list(dict.fromkeys(rng.choices(list(KINDS), shares, k=2 if rng.random() < 0.15 else 1)))
    for kind in kinds:
        purposes, rid = register.purposes_of(kind), next(relation_ids)
        ended = TODAY - rng.randint(7, int(KINDS[kind][1] * 365)) * DAY
        running = kind == "visitor" or (kind in ("customer", "supplier") and rng.random() < 0.45)
        rows[Relation].append({"id": rid, "subject_id": sid, "kind": kind, "ended": None if running else ended,
                               "started": ended - rng.randint(0, 900) * DAY, "last_contact": ended,
                               "restricted_since": ended if rng.random() < 0.005 else None})
        consented = {p.id for p in purposes if p.basis == "consent" and rng.random() < 0.5}
        for purpose in sorted(consented):
            withdrawn = ended + rng.randint(0, 600) * DAY if rng.random() < 0.25 else None
            rows[Consent].append({"subject_id": sid, "purpose": purpose, "given": ended - 30 * DAY,
                                  "withdrawn": withdrawn if withdrawn and withdrawn <= TODAY else None})
            if purpose == "applicant.2" and ended + 400 * DAY < TODAY and rng.random() < 0.5:  # asked a year on
                rows[RenewalQuestion].append({"relation_id": rid, "purpose": purpose, "asked_on": ended + 365 * DAY})
        used = [c for c in register.relations[kind].category_ids if any(  # no cookie data without cookie consent
            c in p.categories and (p.basis != "consent" or p.id in consented) for p in purposes)]
        for n in range(10 // len(kinds)):
            category = used[n % len(used)]
            name = FIELDS[category][n // len(used) % len(FIELDS[category])]
            value = f"{name} of person {sid}" if category == "contact" else f"{name} {rng.getrandbits(40):x}"
            rows[DataItem].append({"relation_id": rid, "category": category, "field": name, "value": value,
                                   "source": "provided", "recorded": ended, "fingerprint": f"{n:064}"})
    if rng.random() < 0.02:
        rows[RightsRequest].append({"email": email, "right": "access", "status": "received", "received_on": TODAY,
                                    "due_on": TODAY + 30 * DAY, "created_at": NOW, "statement_version": "bench",
                                    "idempotency_key": "b" * 32})


def build(url: str, people: int) -> None:
    database, rng, relation_ids = Database(url), random.Random(people), itertools.count(1)
    database.migrate()
    for first in range(1, people + 1, 2000):  # rounds of 2,000 people
        rows: dict[Any, list[dict[str, Any]]] = {m: [] for m in (Subject, Relation, DataItem, Consent,
                                                                 RenewalQuestion, RightsRequest)}
        for sid in range(first, min(people + 1, first + 2000)):
            person(sid, rng, relation_ids, rows)
        with database.engine.begin() as connection:
            for model, batch in rows.items():
                if batch:
                    connection.execute(insert(model), batch)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))  # as autovacuum would soon after a large import
    database.dispose()


def held(url: str) -> dict[str, set[tuple[Any, ...]]]:
    """The (relation, category) pairs with items, the relations and the people a database holds."""
    database = Database(url)
    with database.engine.connect() as connection:
        found = {name: set(map(tuple, connection.execute(text(sql)))) for name, sql in (
            ("items", "SELECT DISTINCT relation_id, category FROM data_item"),
            ("relations", "SELECT id FROM relation"), ("people", "SELECT id FROM subject"))}
    database.dispose()
    return found


def one(role: str, url: str, swept: str) -> None:
    """One case in this fresh process: its figures as one JSON line."""
    app = create_app({**SETTINGS, "DATABASE_URL": url})
    database = app.extensions["portal.db"]
    with app.app_context():
        if role == "sweep":  # the command itself; the renewal mails stay in the outbox, nobody sends them
            app.extensions["portal.mail"] = SimpleNamespace(wake=lambda: None)
            with measured() as figures:
                done = app.test_cli_runner().invoke(args=["sweep-retention", "--apply", "--quiet", "--today",
                                                          TODAY.isoformat()])
            if done.exit_code != 0:
                raise RuntimeError(done.output) from done.exception
            with database.session() as session:
                figures.update(totals=done.stdout.splitlines()[-1], intact=audit.verify(session).intact)
        else:
            before, after = held(url), held(swept)
            with database.engine.begin() as connection:  # what the sweep removed, in tables, before the clock
                for table, columns in (("items", "id int, c text"), ("relations", "id int"), ("people", "id int")):
                    connection.execute(text(f"CREATE TEMPORARY TABLE {table} ({columns})"))
                    with connection.connection.driver_connection.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                        for row in before[table] - after[table]:
                            copy.write_row(row)
                with measured() as figures:
                    connection.execute(text("DELETE FROM data_item WHERE (relation_id, category) IN (TABLE items)"))
                    connection.execute(text("DELETE FROM relation WHERE id IN (TABLE relations)"))
                    connection.execute(text("DELETE FROM subject WHERE id IN (TABLE people)"))
    database.dispose()
    print(json.dumps(figures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="data items in the large database")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES, help="a postgresql+psycopg:// server URL")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return 0
    script, peak, name = str(Path(__file__).resolve()), {}, "sweep (postgresql)"
    print(f"{'items':>9} {'sweep s':>8} {'cpu s':>6} {'baseline s':>10} {'x':>6} {'peak MB':>8}  audit; totals")
    for items in (args.items // 10, args.items):
        with temporary_databases(args.database_url, 2) as (original, copy):
            build(original, items // 10)
            admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:  # the sweep's copy: CREATE DATABASE ... TEMPLATE the original
                connection.execute(text(f'DROP DATABASE "{make_url(copy).database}"'))
                connection.execute(text(f'CREATE DATABASE "{make_url(copy).database}" '
                                        f'TEMPLATE "{make_url(original).database}"'))
            admin.dispose()
            swept = run_case(script, ["sweep", copy, ""], f"sweep at {items:,} items")
            base = run_case(script, ["baseline", original, copy], f"baseline at {items:,} items")
        peak[items] = swept["peak_kib"] * 1024 / 1e6
        print(f"{items:>9,} {swept['seconds']:>8.1f} {swept['cpu']:>6.1f} {base['seconds']:>10.1f} "
              f"{swept['seconds'] / base['seconds']:>5.1f}x {peak[items]:>8.1f}  "
              f"{'verifies' if swept['intact'] else 'BROKEN'}; {swept['totals']}")
    small, fast = args.items // 10, swept["seconds"] < 60 and swept["intact"]
    growth = peak[args.items] - peak[small]
    record(name, f"sweep --apply at {args.items:,} items (baseline: its DELETEs in plain SQL)", swept["seconds"], "s",
           baseline=base["seconds"], goal="< 60 s, audit verifies", passed=fast)
    record(name, f"sweep --apply peak memory growth {small:,} -> {args.items:,} items", growth, "+MB", ratio=False,
           goal="<= +30 MB", passed=growth <= 30)
    print(f"{'PASS' if fast else 'FAIL'}  {args.items:,} items in {swept['seconds']:.1f} s (goal under 60 s)\n"
          f"{'PASS' if growth <= 30 else 'FAIL'}  peak {growth:+.1f} MB over {small:,} items (goal at most +30 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
