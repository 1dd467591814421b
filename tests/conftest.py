"""Fixtures shared by the whole suite: one migrated database per run, an app, its client and CLI runner.

The database is SQLite in a temporary folder by default. With `PORTAL_TEST_DATABASE_URL` set to a
PostgreSQL server (as `make test` does on its second pass), a fresh database `portal_test_<random>`
is created on that server for the run and dropped afterwards. A server that does not answer fails
the run: a database test never skips.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from portal import create_app
from portal.database import Database
from portal.models import Base

TEST_SECRET = "test-secret-key-" + "x" * 32


def _postgres_database(server_url: str) -> Iterator[str]:
    name = f"portal_test_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means the suite cannot run as asked
        pytest.fail(f"PostgreSQL at {server_url} does not answer ({exc}); start it or unset "
                    "PORTAL_TEST_DATABASE_URL", pytrace=False)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if server_url:
        yield from _postgres_database(server_url)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.sqlite3'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    database = Database(database_url)
    database.migrate()
    database.dispose()
    return database_url


def make_app(database_url: str, **overrides: object) -> Flask:
    config: dict[str, object] = {"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "ENV": "test"}
    config.update(overrides)
    app = create_app(config)
    app.testing = True
    return app


@pytest.fixture
def app(migrated_database: str) -> Iterator[Flask]:
    app = make_app(migrated_database)
    yield app
    empty_database(app)
    app.extensions["portal.db"].dispose()


def empty_database(app: Flask) -> None:
    """Remove every row, children first, so that each test starts from an empty, migrated database."""
    with app.extensions["portal.db"].session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        session.commit()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.extensions["portal.db"].session() as db_session:
        yield db_session


@pytest.fixture
def register(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["portal.register"]


REPO_ROOT = Path(__file__).resolve().parent.parent
