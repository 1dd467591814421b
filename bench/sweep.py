"""How much time and memory the retention sweep takes over a large database, next to a bare SELECT of its items.

Run:  .venv/bin/python bench/sweep.py [--items 1000000] [--database-url URL ...] [--runs 1] [--profile]

Setup, in two fresh migrated databases: one of `--items` data items (about ten per person, so 100,000
people for the default 1,000,000) and one of a tenth of that, written with Core `insert()` executemany
in rounds of `INSERT_PEOPLE` people (then VACUUM ANALYZE on PostgreSQL, as autovacuum would). The people are a
mix of the register's relations, each relation's dates drawn around its own retention rule so that a
share of them is past it on `TODAY`:
- contract relations (customer, supplier): 45% running, the others ended up to 1.6 times their period ago;
- visitors: last contact up to 1.6 times the prospect period ago;
- applicants: a procedure that ended up to about 20 months ago (10% still running), some with the
  consent that extends their retention (`applicant.2`), of whom some were asked to renew before;
- participants: an activity of a day or three that ended up to 1.6 times its period ago;
- 15% of the people hold a second relation of another kind, with the same contact details (name,
  e-mail, ...) under both: the sweep keeps values another relation still holds and keeps;
- consents on the consent purposes (some withdrawn); items only in the categories some purpose in use
  needs (no cookie data without cookie consent, no photos without photo consent);
- 2% of the people with an open request and 4% with a closed one, 1% objecting to direct marketing,
  0.5% of the relations restricted (Art. 18).
About 30% of the items are due for erasure on `TODAY`; the table says how many exactly.

Cases, for each size:
- dry run: `sweep(..., apply=False)` over the whole database, consumed to the end as the
  `sweep-retention` command does (each batch's plan is dropped once the next comes);
- apply: `sweep(..., apply=True)` with the command's renewal question (`ask_renewal`, a mail queued in the
  batch's transaction), on a fresh copy of the database (a file copy for SQLite, `CREATE DATABASE ...
  TEMPLATE ...` on PostgreSQL), made before the process starts and removed after it;
- baseline: a plain Core `SELECT relation_id, category, count(*) FROM data_item GROUP BY relation_id,
  category`, streamed with `yield_per` and added up: the counts the sweep bases its decisions on, read
  in one statement, with no policy at all.

Every run of every case is a fresh `python bench/sweep.py --one ...` process that builds the app (as the
command does, so the renewal mail can be rendered) and prints its seconds (from the first query to the
end of the sweep, imports and app start excluded) and its peak resident memory, so that no case
inherits another's heap. The peak is VmHWM of /proc/self/status, the high-water mark of the process's
own RSS: Linux carries `ru_maxrss` over from the forking parent across exec, so it would report the
driver's peak (the driver holds a round of generated rows) for every case. All cases import the same
modules and build the same app, so their peaks differ only by the work they do. Memory is in MB (10^6
bytes); "start" is the resident memory once the app is built, "growth" the peak above it. Beside the
wall-clock seconds it prints the CPU seconds of the measuring process (without the PostgreSQL server's
share). "items/s" is the database's data items over the seconds (every item is counted and judged);
"erased/s" the items the sweep erased (or, dry, would erase) over the seconds.

Goals: memory must not grow with the database: the dry run's peak on the large database at most
+30 MB above its peak on the database a tenth of its size (the same asked of apply). Checks: apply
erases what the dry run announced, leaves exactly the other items and an audit trail that verifies
(`audit.verify`, run after the measurement), and the dry run changes nothing. The sweep's time is shown as a
ratio to the baseline's; there is no goal on it. On SQLite, part of the sweep's growth is the sqlite3
module's cache of 128 prepared statements per connection: each length of an IN list is another
statement, so it fills over the first hundred or so batches (up to about 20 MB) and then stays.

By default it runs on a temporary SQLite folder and, when it answers, on PostgreSQL at `DEFAULT_POSTGRES`
(bench/common.py; scratch databases are created there in AUTOCOMMIT and dropped afterwards). `--database-url`
(repeatable) names the databases instead: `sqlite`, or a `postgresql+psycopg://...` server URL.
`--profile` adds, after the table, an in-process dry run and apply of the large database under cProfile,
printed to stderr; profiled seconds never enter the table.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from bench.common import (  # noqa: E402
    FIELDS,
    Runs,
    add_database_urls_argument,
    database_urls,
    day_between,
    goals_on_each,
    measured,
    print_profile,
    run_case,
)
from bench.results import record  # noqa: E402
from portal import create_app  # noqa: E402
from portal.account.renewal import ask_renewal  # noqa: E402
from portal.database import Database  # noqa: E402
from portal.models import (  # noqa: E402
    Consent,
    DataItem,
    MarketingObjection,
    Relation,
    RenewalQuestion,
    RightsRequest,
    Subject,
)
from portal.policy import requests as lifecycle  # noqa: E402
from portal.policy.register import Purpose, Register, default_register  # noqa: E402
from portal.services import audit  # noqa: E402
from portal.services.sweep import SweepReport, sweep  # noqa: E402

DEFAULT_ITEMS = 1_000_000
SMALL_FRACTION = 10  # the small database holds a tenth of the items
ITEMS_PER_PERSON = 10
ROLES = ("baseline", "dry", "apply")
GOAL_GROWTH_MB = 30.0  # issue: the sweep's peak on 1,000,000 items within 30 MB of its peak on 100,000
INSERT_PEOPLE = 2_000  # people per executemany round: about 20,000 data item rows
BASELINE_BATCH = 1_000  # rows per fetch of the baseline's streamed SELECT
SEED = 20245
TODAY = dt.date(2024, 6, 1)  # the day the sweep runs as (`--today`)
NOW = dt.datetime(2024, 6, 1, 2, 30)  # naive UTC, as the portal stores it
SECOND_RELATION = 0.15
OPEN_REQUEST, CLOSED_REQUEST, OBJECTING, RESTRICTED = 0.02, 0.04, 0.01, 0.005
KIND_WEIGHTS = {"customer": 30, "supplier": 10, "visitor": 25, "applicant": 15, "participant": 20}
# Development settings with a fixed key: the app must not write a key file into instance/.
APP_SETTINGS = {"ENV": "development", "SECRET_KEY": "bench-sweep-" + "k" * 40, "BASE_URL": "https://portal.example"}


# --------------------------------------------------------------------------------------------------
# Scratch databases


class Scratch:
    """Empty databases made on demand, all removed at the end: files in a temp folder, or databases on a server."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.server = url
        self.prefix = f"portal_bench_sweep_{secrets.token_hex(4)}"
        self.folder = Path(tempfile.mkdtemp(prefix="portal-bench-sweep-")) if self.sqlite else None
        self.admin: Engine | None = None if self.sqlite else create_engine(url, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def url(self, name: str) -> str:
        if self.folder is not None:
            return f"sqlite:///{self.folder / f'{name}.sqlite3'}"
        return make_url(self.server).set(database=f"{self.prefix}_{name}").render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        """A new database `name`: empty, or a copy of the scratch database `template` (not in use)."""
        self.made.append(name)
        if self.folder is not None:
            if template is not None:
                for suffix in ("", "-wal"):  # no -wal after a checkpoint, but copy it if there is one
                    source = self.folder / f"{template}.sqlite3{suffix}"
                    if source.exists():
                        shutil.copyfile(source, self.folder / f"{name}.sqlite3{suffix}")
            return self.url(name)
        assert self.admin is not None
        copy = f' TEMPLATE "{self.prefix}_{template}"' if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.prefix}_{name}"{copy}'))
        return self.url(name)

    def drop(self, name: str) -> None:
        if name in self.made:
            self.made.remove(name)
        if self.folder is not None:
            for suffix in ("", "-wal", "-shm"):
                (self.folder / f"{name}.sqlite3{suffix}").unlink(missing_ok=True)
            return
        assert self.admin is not None
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.prefix}_{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in list(self.made):
            self.drop(name)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self.admin is not None:
            self.admin.dispose()


@contextmanager
def scratch(url: str) -> Iterator[Scratch]:
    place = Scratch(url)
    try:
        yield place
    finally:
        place.close()


# --------------------------------------------------------------------------------------------------
# The people


def _days(period_end: dt.date) -> int:
    return (period_end - TODAY).days


@dataclass(frozen=True)
class Kind:
    """What the generator needs to know of one relation kind, read from the register."""

    id: str
    profile: str  # "contract", "visit", "application" or "activity": how its dates are drawn
    span: int  # days: dates are drawn up to 1.6 times this before TODAY
    categories: tuple[str, ...]
    purposes: tuple[Purpose, ...]
    extension: str | None  # the consent purpose that extends the retention, if any
    extension_years: int  # ... and its period (the renewal is due that long after the end)


def kinds_of(register: Register) -> dict[str, Kind]:
    kinds = {}
    for kind_id, definition in register.relations.items():
        purposes = tuple(register.purposes_of(kind_id))
        rules = [register.retention[p.retention] for p in purposes]
        periods = [_days(r.period.after(TODAY)) for r in rules if r.period is not None] or [3 * 365]
        extension = next((r.consent_extension for r in rules if r.consent_extension), None)
        if extension is not None:
            profile = "application"
            wait = extension.answer_within.after(TODAY) if extension.answer_within else TODAY
            span = _days(extension.period.after(TODAY)) + _days(wait)
        else:
            profile = ("visit" if any(r.kind == "after_last_contact" for r in rules)
                       else "activity" if any(r.kind == "as_long_as_necessary" for r in rules) else "contract")
            span = max(periods)
        kinds[kind_id] = Kind(kind_id, profile, span, definition.category_ids, purposes,
                              extension.purpose if extension else None,
                              extension.period.years if extension else 0)
    return kinds


@dataclass
class Rows:
    """One round of rows to insert, table by table."""

    subjects: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Population:
    people: int = 0
    items: int = 0
    relations: Counter[str] = field(default_factory=Counter)
    consents: int = 0
    questions: int = 0
    open_requests: int = 0
    seconds: float = 0.0


class Generator:
    """Deterministic people, round by round; relation ids are given here so that items can name them."""

    def __init__(self, register: Register, people: int, seed: int) -> None:
        self.register = register
        self.kinds = kinds_of(register)
        self.weights = [KIND_WEIGHTS.get(k, 10) for k in self.kinds]
        self.sources = list(register.sources)
        self.rights = list(register.rights)
        self.version = register.statement.version
        self.people = people
        self.items = people * ITEMS_PER_PERSON
        self.rng = random.Random(seed)
        self.relation_id = 0

    def rounds(self) -> Iterator[Rows]:
        for first in range(0, self.people, INSERT_PEOPLE):
            rows = Rows()
            for index in range(first, min(self.people, first + INSERT_PEOPLE)):
                self.person(index, rows)
            yield rows

    def person(self, index: int, rows: Rows) -> None:
        rng = self.rng
        subject_id = index + 1
        email = f"person.{index:07d}@example.com"
        rows.subjects.append({"id": subject_id, "email": email, "name": f"Person {index}",
                              "language": rng.choice(("nl", "en"))})
        chosen = [rng.choices(list(self.kinds), self.weights)[0]]
        if rng.random() < SECOND_RELATION:
            chosen.append(rng.choice([k for k in self.kinds if k != chosen[0]]))
        own = self.items * (index + 1) // self.people - self.items * index // self.people
        for position, kind_id in enumerate(chosen):
            share = own // len(chosen) + (1 if position < own % len(chosen) else 0)
            self.relation(subject_id, index, self.kinds[kind_id], share, rows)
        draw = rng.random()
        if draw < OPEN_REQUEST + CLOSED_REQUEST:
            received = TODAY - dt.timedelta(days=rng.randint(1, 25) if draw < OPEN_REQUEST else rng.randint(30, 900))
            closed = draw >= OPEN_REQUEST
            rows.requests.append({
                "email": email, "right": rng.choice(self.rights),
                "status": rng.choice(sorted(lifecycle.CLOSED_STATES if closed else lifecycle.OPEN_STATES)),
                "received_on": received, "due_on": received + dt.timedelta(days=30),
                "statement_version": self.version, "idempotency_key": f"bench-{index}",
                "created_at": dt.datetime.combine(received, dt.time(9)),
                "closed_at": dt.datetime.combine(received + dt.timedelta(days=20), dt.time(9)) if closed else None,
            })
        if rng.random() < OBJECTING:
            rows.objections.append({"email": email, "objected_at": NOW - dt.timedelta(days=rng.randint(1, 900))})

    def dates(self, kind: Kind) -> tuple[dt.date, dt.date | None, dt.date | None]:
        """(started, ended, last_contact) for a new relation of `kind`."""
        rng, span = self.rng, int(kind.span * 1.6)
        if kind.profile == "visit":
            last_contact = TODAY - dt.timedelta(days=rng.randint(1, span))
            return last_contact - dt.timedelta(days=rng.randint(0, 1500)), None, last_contact
        if kind.profile == "application" and rng.random() < 0.1:
            return TODAY - dt.timedelta(days=rng.randint(1, 60)), None, TODAY - dt.timedelta(days=rng.randint(0, 5))
        if kind.profile == "contract" and rng.random() < 0.45:
            return (TODAY - dt.timedelta(days=rng.randint(30, 6000)), None,
                    TODAY - dt.timedelta(days=rng.randint(1, 400)))
        ended = TODAY - dt.timedelta(days=rng.randint(7, span))
        length = {"contract": (30, 3000), "application": (14, 120), "activity": (0, 2)}[kind.profile]
        return ended - dt.timedelta(days=rng.randint(*length)), ended, ended

    def relation(self, subject_id: int, index: int, kind: Kind, share: int, rows: Rows) -> None:
        rng = self.rng
        self.relation_id += 1
        relation_id = self.relation_id
        started, ended, last_contact = self.dates(kind)
        rows.relations.append({
            "id": relation_id, "subject_id": subject_id, "kind": kind.id, "started": started, "ended": ended,
            "last_contact": last_contact,
            "restricted_since": TODAY - dt.timedelta(days=rng.randint(1, 300)) if rng.random() < RESTRICTED else None,
        })
        end = ended or last_contact or TODAY
        consented = set()
        for purpose in kind.purposes:
            if purpose.basis != "consent" or rng.random() >= 0.5:
                continue
            consented.add(purpose.id)
            given = day_between(rng, started, end)
            withdrawn = (day_between(rng, given, TODAY)
                         if rng.random() < (0.1 if purpose.id == kind.extension else 0.25) else None)
            renewed = None
            if purpose.id == kind.extension and ended is not None and withdrawn is None:
                due = max(ended, given) + dt.timedelta(days=365 * kind.extension_years)
                if due <= TODAY - dt.timedelta(days=3) and rng.random() < 0.5:  # an earlier sweep asked
                    asked = day_between(rng, due, min(TODAY, due + dt.timedelta(days=10)))
                    rows.questions.append({"relation_id": relation_id, "purpose": purpose.id, "asked_on": asked})
                    if rng.random() < 0.2:
                        renewed = day_between(rng, asked, TODAY)
            rows.consents.append({"subject_id": subject_id, "purpose": purpose.id, "given": given,
                                  "withdrawn": withdrawn, "renewed_on": renewed})
        # Items only in the categories some purpose in use needs: no cookie data without cookie consent.
        categories = [c for c in kind.categories if any(
            c in p.categories and (p.basis != "consent" or p.id in consented) for p in kind.purposes)]
        categories = categories or list(kind.categories)
        offset = rng.randrange(len(categories))
        last = ended or last_contact or TODAY
        contacts = 0
        for n in range(share):
            category = categories[(n + offset) % len(categories)]
            if category == "contact":  # the person's own details: the same values under each of their relations
                name = FIELDS["contact"][contacts % len(FIELDS["contact"])]
                value = f"{name} of person {index}" + (f" ({contacts})" if contacts >= len(FIELDS["contact"]) else "")
                contacts += 1
            else:
                name = rng.choice(FIELDS.get(category, ("note",)))
                value = f"{name} {n}: {rng.getrandbits(48):012x}"
            source = rng.choice(self.sources)
            recorded = day_between(rng, started, last)
            rows.items.append({
                "relation_id": relation_id, "category": category, "field": name, "value": value, "source": source,
                "recorded": recorded,
                "fingerprint": hashlib.sha256(f"{category}|{name}|{value}|{source}|{recorded}".encode()).hexdigest(),
            })


def build(url: str, register: Register, people: int, seed: int) -> Population:
    """A fresh migrated database at `url` holding `people` generated people."""
    started = time.perf_counter()
    population = Population()
    database = Database(url)
    try:
        database.migrate()
        generator = Generator(register, people, seed)
        for rows in generator.rounds():
            with database.engine.begin() as connection:
                for table, batch in ((Subject, rows.subjects), (Relation, rows.relations), (DataItem, rows.items),
                                     (Consent, rows.consents), (RenewalQuestion, rows.questions),
                                     (RightsRequest, rows.requests), (MarketingObjection, rows.objections)):
                    if batch:
                        connection.execute(insert(table), batch)
            population.people += len(rows.subjects)
            population.items += len(rows.items)
            population.relations.update(r["kind"] for r in rows.relations)
            population.consents += len(rows.consents)
            population.questions += len(rows.questions)
            population.open_requests += sum(r["status"] in lifecycle.OPEN_STATES for r in rows.requests)
        if database.engine.url.get_backend_name() == "postgresql":
            with database.engine.begin() as connection:
                for table in ("subject", "relation"):  # the ids were given: move the sequences past them
                    connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                            f"(SELECT max(id) FROM {table}))"))
            # Fresh statistics and visibility map, as autovacuum would make them soon after a large import.
            with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        else:
            with database.engine.connect() as connection:  # everything in the main file, ready to be copied
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        database.dispose()
    population.seconds = time.perf_counter() - started
    return population


# --------------------------------------------------------------------------------------------------
# One case, in its own process


def run_sweep(database: Database, register: Register, *, apply: bool) -> dict[str, int]:
    """The sweep as `flask sweep-retention [--apply] --quiet` drives it; its report's figures."""
    report = SweepReport()
    batches = 0
    for _plan in sweep(database.sessions, register, today=TODAY, now=NOW, apply=apply,
                       ask=lambda session, renewal: ask_renewal(session, renewal, now=NOW), report=report):
        batches += 1
    return {"people": report.people, "erased": report.items_erased, "held": report.items_held,
            "categories": report.categories_erased, "relations_removed": report.relations_removed,
            "people_removed": report.people_removed, "renewals": report.renewals_asked, "batches": batches}


def run_baseline(database: Database) -> dict[str, int]:
    """A plain streamed SELECT: the item count of every (relation, category), in one statement."""
    query = (select(DataItem.relation_id, DataItem.category, func.count())
             .group_by(DataItem.relation_id, DataItem.category))
    groups = counted = 0
    with database.engine.connect() as connection:
        for _relation_id, _category, count in connection.execution_options(yield_per=BASELINE_BATCH).execute(query):
            groups += 1
            counted += count
    return {"groups": groups, "counted": counted}


def count_items(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(DataItem)).scalar_one())


def one(role: str, url: str) -> int:
    """Run one case once in this fresh process and print its figures as one JSON line."""
    app = create_app({**APP_SETTINGS, "DATABASE_URL": url})
    database: Database = app.extensions["portal.db"]
    register: Register = app.extensions["portal.register"]
    with app.app_context():
        with measured() as measures:  # the peak is VmHWM, not ru_maxrss: see `measured`
            figures = (run_baseline(database) if role == "baseline"
                       else run_sweep(database, register, apply=role == "apply"))
        # After the measurement, the checks: the items left, and the audit trail the sweep appended to.
        figures["remaining"] = count_items(database)
        with database.session() as session:
            verification = audit.verify(session)
        figures["audit_entries"], figures["audit_intact"] = verification.checked, int(verification.intact)
    database.dispose()
    print(json.dumps({**measures, **figures}))
    return 0


# --------------------------------------------------------------------------------------------------
# The runs and the table


@dataclass
class Case(Runs):
    role: str
    size: str  # "small" or "large"
    figures: list[dict[str, int]] = field(default_factory=list)

    @property
    def last(self) -> dict[str, int]:
        return self.figures[-1]


def measure(case: Case, url: str) -> None:
    figures = run_case(str(Path(__file__).resolve()), [case.role, url], f"{case.role} {case.size}")
    case.add(figures)
    case.figures.append(figures)


def bench(server_url: str, items: int, runs: int, profile: bool) -> list[str]:
    """Every case on one database server; prints its table and returns its goal lines."""
    register = default_register()
    sizes = {"small": max(1, items // SMALL_FRACTION // ITEMS_PER_PERSON), "large": max(1, items // ITEMS_PER_PERSON)}
    with scratch(server_url) as place:
        populations = {}
        for size, people in sizes.items():
            populations[size] = build(place.create(size), register, people, SEED + people)
        backend = make_url(place.url("large")).get_backend_name()
        print(f"\ndatabase: {backend} ({make_url(place.url('large')).render_as_string(hide_password=True)}); "
              f"sweep as on {TODAY.isoformat()}")
        for size, population in populations.items():
            kinds = ", ".join(f"{kind} {n:,}" for kind, n in population.relations.most_common())
            print(f"  {size}: {population.people:,} people, {population.items:,} data items, relations {kinds}; "
                  f"{population.consents:,} consents, {population.questions:,} earlier renewal questions, "
                  f"{population.open_requests:,} open requests (written in {population.seconds:.1f} s)")

        cases = {(role, size): Case(role, size) for size in sizes for role in ROLES}
        started = time.perf_counter()
        for run in range(runs):  # round the cases in turn, so that a slow moment hits them all alike
            for (role, size), case in cases.items():
                if role != "apply":
                    measure(case, place.url(size))
                    continue
                copy = f"{size}_apply_{run}"
                try:
                    measure(case, place.create(copy, template=size))
                finally:
                    place.drop(copy)
        print(f"  {len(cases)} cases x {runs} run(s), each its own process, apply each on a fresh copy "
              f"({time.perf_counter() - started:.0f} s)")

        if profile:
            profile_sweep(place, register)

    labels = {"baseline": "baseline SELECT count GROUP BY", "dry": "sweep dry run", "apply": "sweep --apply (copy)"}
    print()
    print(f"{backend:<10} {'case':<31} {'items':>9} {'people':>8} {'best s':>7} {'x base':>7} {'cpu s':>7} "
          f"{'x base':>7} {'items/s':>8} {'erased':>8} {'erased/s':>8} {'peak MB':>8} {'start MB':>9} {'growth':>7}")
    for (role, size), case in cases.items():
        base = cases[("baseline", size)]
        population = populations[size]
        erased = case.last.get("erased")
        print(f"{backend:<10} {labels[role]:<31} {population.items:>9,} {population.people:>8,} {case.best:>7.2f} "
              f"{case.best / base.best:>6.1f}x {case.best_cpu:>7.2f} {case.best_cpu / base.best_cpu:>6.1f}x "
              f"{population.items / case.best:>8,.0f} {erased if erased is not None else '-':>8} "
              f"{f'{erased / case.best:,.0f}' if erased is not None else '-':>8} "
              f"{case.peak:>8.1f} {case.start:>9.1f} {case.peak - case.start:>7.1f}")
    for size in sizes:
        dry, population = cases[("dry", size)].last, populations[size]
        print(f"{backend:<10} {size} dry run: {dry['erased']:,} of {population.items:,} items due "
              f"({dry['erased'] / population.items:.1%}) in {dry['categories']:,} categories, {dry['held']:,} held; "
              f"{dry['relations_removed']:,} relations and {dry['people_removed']:,} people to remove, "
              f"{dry['renewals']:,} renewal questions; {dry['batches']:,} batches")

    goals = []
    small, large = sizes
    for role in ("dry", "apply"):
        growth = cases[(role, large)].peak - cases[(role, small)].peak
        base_growth = cases[("baseline", large)].peak - cases[("baseline", small)].peak
        record(f"sweep ({backend})", f"{labels[role]}: peak memory growth {populations[small].items:,} -> "
               f"{populations[large].items:,} items", growth, "+MB", baseline=base_growth, ratio=False,
               goal=f"<= +{GOAL_GROWTH_MB:.0f} MB", passed=growth <= GOAL_GROWTH_MB)
        goals.append(f"{'PASS' if growth <= GOAL_GROWTH_MB else 'FAIL'}  {backend} {labels[role]}: peak memory at "
                     f"{populations[large].items:,} items {growth:+.1f} MB over {populations[small].items:,} "
                     f"(goal at most +{GOAL_GROWTH_MB:.0f} MB; baseline {base_growth:+.1f} MB)")
    for size in sizes:
        dry, applied, items_in = cases[("dry", size)], cases[("apply", size)], populations[size].items
        keys = ("people", "erased", "held", "categories", "relations_removed", "people_removed", "renewals")
        same = all(figures[k] == dry.last[k] for figures in applied.figures for k in keys)
        left = all(figures["remaining"] == items_in - figures["erased"] for figures in applied.figures)
        untouched = all(figures["remaining"] == items_in and figures["audit_entries"] == 0 for figures in dry.figures)
        intact = all(figures["audit_intact"] for figures in applied.figures)
        record(f"sweep ({backend})", f"{size}: apply erased what the dry run announced, audit verifies",
               applied.last["erased"], "items", goal="as announced", passed=same and left and untouched and intact)
        goals.append(f"{'PASS' if same and left and untouched and intact else 'FAIL'}  {backend} {size}: apply erased "
                     f"what the dry run announced ({applied.last['erased']:,} items, "
                     f"{applied.last['people_removed']:,} people removed), left {applied.last['remaining']:,} of "
                     f"{items_in:,} items and an audit trail of {applied.last['audit_entries']:,} entries that "
                     f"{'verifies' if intact else 'DOES NOT verify'}; the dry run changed nothing")
    for role in ("dry", "apply"):
        case, base = cases[(role, large)], cases[("baseline", large)]
        record(f"sweep ({backend})", f"{labels[role]}: time at {populations[large].items:,} items", case.best, "s",
               baseline=base.best)
        goals.append(f"INFO  {backend} {labels[role]} at {populations[large].items:,} items: {case.best:.1f} s, "
                     f"{case.best / base.best:.1f}x the baseline's {base.best:.2f} s (CPU of this process "
                     f"{case.best_cpu / base.best_cpu:.1f}x); {populations[large].people / case.best:,.0f} people/s")
    print()
    for line in goals:
        print(line)
    return goals


def profile_sweep(place: Scratch, register: Register) -> None:
    """One dry run and one apply (on a fresh copy) of the large database, in this process under cProfile."""
    for apply in (False, True):
        name = "large_profile" if apply else "large"
        url = place.create(name, template="large") if apply else place.url("large")
        app = create_app({**APP_SETTINGS, "DATABASE_URL": url})
        database: Database = app.extensions["portal.db"]
        profiler = cProfile.Profile()
        try:
            with app.app_context():
                profiler.enable()
                run_sweep(database, register, apply=apply)
                profiler.disable()
        finally:
            database.dispose()
            if apply:
                place.drop(name)
        heading = f"\n=== cProfile: sweep {'--apply' if apply else 'dry run'} of the large database ===\n"
        print_profile(profiler, heading, cumulative=35, own=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_urls_argument(parser)
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS,
                        help=f"data items in the large database, about {ITEMS_PER_PERSON} per person; the small "
                             f"one holds a tenth (default {DEFAULT_ITEMS:,})")
    parser.add_argument("--runs", type=int, default=1, help="runs of every case (default 1)")
    parser.add_argument("--profile", action="store_true", help="profile a dry run and an apply, to stderr")
    parser.add_argument("--one", nargs=2, metavar=("ROLE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        role, url = args.one
        assert role in ROLES
        return one(role, url)

    urls = database_urls(args.urls)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run; "
          f"{args.items:,} items in the large database; {args.runs} run(s) per case, best time and highest peak kept")
    goals_on_each(urls, lambda url: bench(url, args.items, args.runs, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
