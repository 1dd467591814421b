"""Abuse limits: how often an address, a client or a code may try, and when they may again."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from types import SimpleNamespace

import limits.storage.memory
import pytest

from portal.services.limits import AbuseLimits, TooManyAttempts


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@pytest.fixture
def abuse() -> AbuseLimits:
    return AbuseLimits("memory://")


def allowed(abuse: AbuseLimits, **keys: str) -> bool:
    try:
        abuse.check(**keys)
    except TooManyAttempts:
        return False
    return True


def test_an_address_may_ask_three_links_per_15_minutes(abuse):
    for _ in range(3):
        abuse.check(link_address="an@example.com", link_client="192.0.2.1")
    before = utcnow()
    with pytest.raises(TooManyAttempts) as refused:
        abuse.check(link_address="an@example.com", link_client="192.0.2.1")
    retry_at = refused.value.retry_at
    assert retry_at.tzinfo is None
    assert before + dt.timedelta(minutes=14) < retry_at <= utcnow() + dt.timedelta(minutes=15)
    assert f"{retry_at:%H:%M} UTC" in str(refused.value)
    # Other addresses are not affected by this one.
    assert allowed(abuse, link_address="jo@example.com", link_client="192.0.2.1")


@pytest.mark.parametrize("kind", ["link_client", "code_client"])
def test_a_client_may_try_30_times_an_hour(abuse, kind):
    for _ in range(30):
        abuse.check(**{kind: "198.51.100.7"})
    with pytest.raises(TooManyAttempts) as refused:
        abuse.check(**{kind: "198.51.100.7"})
    assert utcnow() + dt.timedelta(minutes=59) < refused.value.retry_at <= utcnow() + dt.timedelta(hours=1)
    assert allowed(abuse, **{kind: "198.51.100.8"})


def test_links_and_codes_are_counted_apart(abuse):
    for _ in range(30):
        abuse.check(code_client="198.51.100.7")
    assert allowed(abuse, link_client="198.51.100.7", link_address="an@example.com")
    assert not allowed(abuse, code_client="198.51.100.7")


def test_a_refused_attempt_costs_the_client_no_allowance(abuse):
    client = "192.0.2.1"
    for _ in range(3):
        abuse.check(link_address="an@example.com", link_client=client)
    for _ in range(5):  # refused for the address: these must not count for the client
        assert not allowed(abuse, link_address="an@example.com", link_client=client)
    passed = sum(allowed(abuse, link_address=f"p{number}@example.com", link_client=client) for number in range(40))
    assert passed == 27  # 30 per hour, of which the first 3 were used


def test_a_refused_attempt_costs_the_address_no_allowance(abuse):
    for number in range(30):
        abuse.check(link_address=f"p{number}@example.com", link_client="192.0.2.1")
    for _ in range(5):  # refused for the client: these must not count for the address
        assert not allowed(abuse, link_address="an@example.com", link_client="192.0.2.1")
    passed = sum(allowed(abuse, link_address="an@example.com", link_client=f"192.0.2.{number + 2}")
                 for number in range(5))
    assert passed == 3


def test_an_address_may_ask_ten_links_per_day(abuse, monkeypatch):
    """The counters' own clock is moved: 3 per 15 minutes, again and again, until 10 in a day."""
    clock = SimpleNamespace(now=1_800_000_000.0)
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=lambda: clock.now))
    start = clock.now
    granted = 0
    while granted < 10:
        if allowed(abuse, link_address="an@example.com"):
            granted += 1
        else:
            clock.now += 15 * 60 + 1
    assert clock.now - start == 3 * (15 * 60 + 1)  # 3 + 3 + 3 + 1
    clock.now += 15 * 60 + 1  # the 15-minute window is free again, the day is not
    with pytest.raises(TooManyAttempts) as refused:
        abuse.check(link_address="an@example.com")
    expected = dt.datetime.fromtimestamp(start + 24 * 3600, dt.UTC).replace(tzinfo=None)
    assert refused.value.retry_at == expected
    clock.now = start + 24 * 3600 + 1
    assert allowed(abuse, link_address="an@example.com")


def test_simultaneous_requests_cannot_pass_the_limit_together(abuse):
    """Five requests for one address arrive at once when two of its three links are used: one may pass.

    Testing every limit first and then counting with `hit` while ignoring its answer let all five pass
    (and five more mails go out); `hit` is now the deciding, atomic check.
    """
    for _ in range(2):
        abuse.check(link_address="an@example.com")
    acquire = abuse.storage.acquire_entry
    together = threading.Barrier(5, timeout=2)

    def acquire_after_everyone_tested(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait()
        return acquire(*args, **kwargs)

    abuse.storage.acquire_entry = acquire_after_everyone_tested
    outcomes: list[bool] = []
    workers = [threading.Thread(target=lambda: outcomes.append(allowed(abuse, link_address="an@example.com")))
               for _ in range(5)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert sorted(outcomes) == [False, False, False, False, True]


def test_reset_forgets_every_count(abuse):
    for _ in range(3):
        abuse.check(link_address="an@example.com")
    abuse.reset()
    assert allowed(abuse, link_address="an@example.com")
