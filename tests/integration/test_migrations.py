"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.models import Base


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
