"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.models import Base, RightsRequest
from portal.policy import requests as lifecycle

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


# SQLite cannot reflect an index on an expression: alembic says so and skips it there (the queue's index
# is PostgreSQL's only); on PostgreSQL it is compared like any other, except for its WHERE (see below).
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index:UserWarning")
def test_migrated_schema_matches_the_models(app):
    engine = app.extensions["portal.db"].engine
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrating_again_changes_nothing(app):
    database = app.extensions["portal.db"]
    assert database.is_migrated()
    database.migrate()
    assert database.is_migrated()


def test_the_queue_index_holds_what_the_queue_selects_by_default():
    """Alembic does not compare an index's WHERE: if the open states or the rights staff answer change, the
    queue's index must change with them (a new migration), or the queue reads the whole table again."""
    index = next(i for i in RightsRequest.__table__.indexes if i.name == "ix_rights_request_open_due")
    where = str(index.dialect_options["postgresql"]["where"])

    def listed(values) -> str:
        return ", ".join(f"'{value}'" for value in sorted(values))

    assert where == (f"status IN ({listed(lifecycle.OPEN_STATES)}) AND "
                     f"\"right\" IN ({listed(lifecycle.ANSWERED_BY_STAFF)})")
    # The latest migration that made the index (0011 added the state `carrying_out`).
    spec = importlib.util.spec_from_file_location("m0011", MIGRATIONS / "0011_systems_hear_every_decision.py")
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert where == f"{migration.OPEN_NOW} AND {migration.STAFF_RIGHTS}"
