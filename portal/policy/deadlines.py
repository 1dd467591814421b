"""When a request must be answered: Art. 12(3) GDPR as statement 2.4 promises it.

"In any case we inform you at the latest within one month ... this period may be extended by two
months, but we will inform you of this necessary extension within the month." Periods are counted as
the EDPB's guidelines 01/2022 on the right of access describe, after Regulation 1182/71: a period in
months ends on the same date of the month it ends in, or on that month's last day where the date does
not exist, and a period ending on a Saturday, Sunday or public holiday (here Belgian ones) ends on the
next working day. `received` and `today` are always passed in, never read from a clock.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from portal.policy.text import Period


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (the anonymous Gregorian algorithm, "Meeus/Jones/Butcher")."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month = (h + leap - 7 * m + 114) // 31
    day = (h + leap - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


@cache
def belgian_public_holidays(year: int) -> frozenset[dt.date]:
    """The ten legal public holidays of Belgium in `year`."""
    easter = easter_sunday(year)
    return frozenset({
        dt.date(year, 1, 1),  # New Year's Day
        easter + dt.timedelta(days=1),  # Easter Monday
        dt.date(year, 5, 1),  # Labour Day
        easter + dt.timedelta(days=39),  # Ascension Day
        easter + dt.timedelta(days=50),  # Whit Monday
        dt.date(year, 7, 21),  # National Day
        dt.date(year, 8, 15),  # Assumption
        dt.date(year, 11, 1),  # All Saints' Day
        dt.date(year, 11, 11),  # Armistice Day
        dt.date(year, 12, 25),  # Christmas Day
    })


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in belgian_public_holidays(day.year)


def next_working_day(day: dt.date) -> dt.date:
    """`day` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def period_end(start: dt.date, period: Period) -> dt.date:
    """The last day of a period counted from `start`, moved off weekends and public holidays."""
    return next_working_day(period.after(start))


def answer_due(received: dt.date, *, response_time: Period, extension: Period | None = None) -> dt.date:
    """The date by which the person must have our answer; with `extension`, the extended date.

    The extension is counted from the end of the first period as the guidelines describe: "the initial
    month plus two months", from the date of receipt.
    """
    if extension is None:
        return period_end(received, response_time)
    combined = Period(
        years=response_time.years + extension.years, months=response_time.months + extension.months,
        weeks=response_time.weeks + extension.weeks, days=response_time.days + extension.days,
    )
    return period_end(received, combined)


def may_extend(received: dt.date, today: dt.date, *, notice_within: Period) -> bool:
    """An extension is possible only while the first period runs: the person is told within it."""
    return today <= period_end(received, notice_within)
