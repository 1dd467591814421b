"""Abuse limits: how often an address, a client or a sign-in attempt may try, and when it may again.

Counters live in the storage named by `PORTAL_RATELIMIT_STORAGE_URI` (`memory://` locally, Redis in
production, so that every server process shares them). A limit is checked before any work is done,
so a refused request sends no mail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Per address: a person who lost a mail can ask again, a stranger cannot flood an inbox.
LINKS_PER_ADDRESS = "3 per 15 minutes;10 per day"
# Per client address (behind the configured number of trusted proxies).
LINKS_PER_CLIENT = "30 per hour"
CODES_PER_CLIENT = "30 per hour"


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
    """Counts attempts per key and refuses the one that goes over any limit of a kind."""

    def __init__(self, storage_uri: str) -> None:
        self.storage = storage_from_string(storage_uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.kinds = {
            "link_address": Limit("link_address", tuple(parse_many(LINKS_PER_ADDRESS))),
            "link_client": Limit("link_client", tuple(parse_many(LINKS_PER_CLIENT))),
            "code_client": Limit("code_client", tuple(parse_many(CODES_PER_CLIENT))),
        }

    def check(self, **keys: str) -> None:
        """Refuse with `TooManyAttempts` when any kind is exhausted for its key; otherwise count one.

        All kinds are tested before any is counted, so that a refused attempt costs no allowance.
        """
        for kind, key in keys.items():
            for item in self.kinds[kind].items:
                if not self.limiter.test(item, kind, key):
                    reset = self.limiter.get_window_stats(item, kind, key).reset_time
                    raise TooManyAttempts(dt.datetime.fromtimestamp(reset, dt.UTC).replace(tzinfo=None))
        for kind, key in keys.items():
            for item in self.kinds[kind].items:
                # hit() is the atomic check: of simultaneous requests that all passed test(), the ones
                # that no longer fit are refused here.
                if not self.limiter.hit(item, kind, key):
                    reset = self.limiter.get_window_stats(item, kind, key).reset_time
                    raise TooManyAttempts(dt.datetime.fromtimestamp(reset, dt.UTC).replace(tzinfo=None))

    def reset(self) -> None:
        self.storage.reset()
