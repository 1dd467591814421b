"""Abuse limits: how often an address, a client or a sign-in attempt may try, and when it may again.

Counters live in the storage named by `PORTAL_RATELIMIT_STORAGE_URI` (`memory://` locally, Redis in
production, so that every server process shares them). A limit is checked before any work is done,
so a refused request sends no mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Per address: a person who lost a mail can ask again, a stranger cannot flood an inbox.
LINKS_PER_ADDRESS = "3 per 15 minutes;10 per day"
# Per client address (behind the configured number of trusted proxies).
LINKS_PER_CLIENT = "30 per hour"
CODES_PER_CLIENT = "30 per hour"
# The systems' API (POST /api/v1/subjects): per client before the token is checked (guessing, flooding),
# per system after (a runaway sync job). A full push is one request of up to the body limit.
API_PER_CLIENT = "120 per minute"
API_PUSHES_PER_SYSTEM = "30 per minute;2000 per day"
RETRY_SHARED_AFTER = 30.0  # seconds on the local store before trying the shared one again
log = logging.getLogger("portal.limits")
T = TypeVar("T")


class TooManyAttempts(Exception):
    """A limit was reached; `retry_at` (UTC, naive) is when the oldest counted attempt expires."""

    def __init__(self, retry_at: dt.datetime) -> None:
        self.retry_at = retry_at
        super().__init__(f"too many attempts; try again after {retry_at:%H:%M} UTC")


@dataclass(frozen=True)
class Limit:
    name: str
    items: tuple[RateLimitItem, ...]


class AbuseLimits:
    """Counts attempts per key and refuses the one that goes over any limit of a kind.

    When the shared store (Redis) cannot be reached, counting goes on in a store local to this process,
    with a warning in the log: the limits keep holding (per process) instead of opening the door or
    failing the request, and the shared store is tried again every `RETRY_SHARED_AFTER` seconds.
    """

    def __init__(self, storage_uri: str) -> None:
        self.storage_uri = storage_uri
        # A Redis that stops answering must not hold sign-in up: give up after a second and count locally.
        options = {"socket_timeout": 1, "socket_connect_timeout": 1} if storage_uri.startswith("redis") else {}
        self.storage = storage_from_string(storage_uri, **options)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.local = MovingWindowRateLimiter(storage_from_string("memory://"))
        self.local_since: float | None = None
        self.kinds = {
            "link_address": Limit("link_address", tuple(parse_many(LINKS_PER_ADDRESS))),
            "link_client": Limit("link_client", tuple(parse_many(LINKS_PER_CLIENT))),
            "code_client": Limit("code_client", tuple(parse_many(CODES_PER_CLIENT))),
            "api_client": Limit("api_client", tuple(parse_many(API_PER_CLIENT))),
            "api_system": Limit("api_system", tuple(parse_many(API_PUSHES_PER_SYSTEM))),
        }

    @property
    def degraded(self) -> bool:
        """Whether counting happens in this process only, because the shared store did not answer."""
        return self.local_since is not None

    def _with_limiter(self, work: Callable[[MovingWindowRateLimiter], T]) -> T:
        now = time.monotonic()
        if self.local_since is None or now - self.local_since >= RETRY_SHARED_AFTER:
            try:
                result = work(self.limiter)
            except TooManyAttempts:
                raise
            except Exception as error:  # noqa: BLE001 - any storage failure: Redis down, timeout, refused
                if self.local_since is None:
                    log.warning("Rate-limit storage %s unavailable (%s): counting in this process until it is back.",
                                self.storage_uri.split("@")[-1], type(error).__name__)
                self.local_since = now
            else:
                if self.local_since is not None:
                    log.warning("Rate-limit storage %s is back: counting there again.",
                                self.storage_uri.split("@")[-1])
                self.local_since = None
                return result
        return work(self.local)

    def check(self, **keys: str) -> None:
        """Refuse with `TooManyAttempts` when any kind is exhausted for its key; otherwise count one.

        All kinds are tested before any is counted, so that a refused attempt costs no allowance.
        """
        self._with_limiter(lambda limiter: self._check(limiter, keys))

    def _check(self, limiter: MovingWindowRateLimiter, keys: dict[str, str]) -> None:
        for kind, key in keys.items():
            for item in self.kinds[kind].items:
                if not limiter.test(item, kind, key):
                    reset = limiter.get_window_stats(item, kind, key).reset_time
                    raise TooManyAttempts(dt.datetime.fromtimestamp(reset, dt.UTC).replace(tzinfo=None))
        for kind, key in keys.items():
            for item in self.kinds[kind].items:
                # hit() is the atomic check: of simultaneous requests that all passed test(), the ones
                # that no longer fit are refused here.
                if not limiter.hit(item, kind, key):
                    reset = limiter.get_window_stats(item, kind, key).reset_time
                    raise TooManyAttempts(dt.datetime.fromtimestamp(reset, dt.UTC).replace(tzinfo=None))

    def reset(self) -> None:
        self.storage.reset()
        self.local.storage.reset()
