"""The portal's two readings of the clock: UTC for what is stored, the company's day for what the law counts.

Every module asks here (`clock.utcnow()`, `clock.local_today()`), so that a test can move time in one place.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

COMPANY_TIMEZONE = "Europe/Brussels"  # where the controller is, and the time people read


def utcnow() -> dt.datetime:
    """Now in UTC without a zone: the form every timestamp is stored in."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def local_today() -> dt.date:
    """Today where the company is: the day a request is received and its deadlines count from (Art. 12(3)).

    The server's clock runs in UTC; between midnight and 1 or 2 a.m. in Brussels, UTC still says yesterday.
    """
    return dt.datetime.now(ZoneInfo(COMPANY_TIMEZONE)).date()
