"""Abuse limits kept in Redis, as in production: shared by every process that serves the portal."""

from __future__ import annotations

import secrets
import time

import pytest
import redis

from tests.conftest import close_app, make_app

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
def redis_apps(migrated_database, smtp_server, inbox):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis does not answer at {REDIS_URL} ({exc}); `make test` starts it", pytrace=False)
    apps = [make_app(migrated_database, SMTP_URL=smtp_server.url, RATELIMIT_STORAGE_URI=REDIS_URL,
                     WTF_CSRF_ENABLED=False) for _ in range(2)]
    yield apps
    apps[1].extensions["portal.mail"].stop()
    apps[1].extensions["portal.db"].dispose()
    close_app(apps[0])


def test_the_address_limit_holds_across_two_server_processes(redis_apps, inbox):
    first, second = (app.test_client() for app in redis_apps)
    # Keys unique to this run: Redis keeps its counters between test runs.
    address = f"limit-{secrets.token_hex(4)}@example.com"
    client_address = {"REMOTE_ADDR": f"192.0.2.{secrets.randbelow(250) + 1}-{secrets.token_hex(3)}"}
    answers = [
        client.post("/sign-in", data={"email": address}, environ_base=client_address).status_code
        for client in (first, second, first)
    ]
    assert answers == [303, 303, 303]
    refused = second.post("/sign-in", data={"email": address}, environ_base=client_address)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert len(inbox.wait_for(3)) == 3
    time.sleep(0.5)
    assert len(inbox.messages) == 3  # the refused request sent nothing
