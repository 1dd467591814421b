"""Answer dates per Art. 12(3) as the EDPB's guidelines 01/2022 count them, with Belgian holidays."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.policy.deadlines import answer_due, belgian_public_holidays, easter_sunday, may_extend
from portal.policy.register import default_register

pytestmark = pytest.mark.clause("2.4.response_time")

D = dt.date
HANDLING = default_register().handling


@pytest.mark.parametrize(("received", "due"), [
    (D(2026, 3, 10), D(2026, 4, 10)),   # same date next month (a Friday)
    (D(2026, 1, 31), D(2026, 3, 2)),    # no 31 February: last day (Sat 28 Feb) -> next working day, Mon 2 March
    (D(2024, 1, 31), D(2024, 2, 29)),   # leap year: Thursday 29 February
    (D(2025, 1, 29), D(2025, 2, 28)),   # no 29 February in 2025: Friday 28 February
    (D(2026, 12, 1), D(2027, 1, 4)),    # year end: 1 January 2027 is a holiday (Friday) -> Monday 4 January
    (D(2026, 3, 6), D(2026, 4, 7)),     # Monday 6 April 2026 is Easter Monday -> Tuesday 7 April
    (D(2026, 10, 11), D(2026, 11, 12)), # Wednesday 11 November, Armistice -> Thursday 12 November
    (D(2026, 6, 21), D(2026, 7, 22)),   # Tuesday 21 July, National Day -> Wednesday 22 July
    (D(2026, 4, 14), D(2026, 5, 15)),   # Thursday 14 May 2026 is Ascension Day -> Friday 15 May
    (D(2026, 8, 20), D(2026, 9, 21)),   # Sunday 20 September -> Monday 21 September
    (D(2026, 11, 25), D(2026, 12, 28)), # Friday 25 December is Christmas -> Mon 28 December
])
def test_one_month_answer_date(received, due):
    assert answer_due(received, response_time=HANDLING.response_time) == due


@pytest.mark.parametrize(("received", "due"), [
    (D(2026, 1, 15), D(2026, 4, 15)),   # three months in all
    (D(2025, 11, 30), D(2026, 3, 2)),   # 28 Feb 2026 is a Saturday -> Monday 2 March
    (D(2026, 2, 23), D(2026, 5, 26)),   # 25 May 2026 is Whit Monday -> Tuesday 26 May
])
def test_extended_answer_date(received, due):
    assert answer_due(received, response_time=HANDLING.response_time, extension=HANDLING.extension) == due


@pytest.mark.parametrize(("received", "today", "allowed"), [
    (D(2026, 3, 10), D(2026, 3, 10), True),
    (D(2026, 3, 10), D(2026, 4, 10), True),    # the last day of the first month
    (D(2026, 3, 10), D(2026, 4, 11), False),   # one day late: refused
    (D(2026, 1, 31), D(2026, 3, 2), True),     # the month ended on a Saturday: moved to Monday
    (D(2026, 1, 31), D(2026, 3, 3), False),
])
def test_extension_only_while_the_first_month_runs(received, today, allowed):
    assert may_extend(received, today, notice_within=HANDLING.extension_notice_within) is allowed


@pytest.mark.parametrize(("year", "easter"), [
    (2024, D(2024, 3, 31)), (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)), (2027, D(2027, 3, 28)),
    (2038, D(2038, 4, 25)), (2000, D(2000, 4, 23)),
])
def test_easter(year, easter):
    assert easter_sunday(year) == easter


def test_belgian_holidays_2026():
    assert sorted(belgian_public_holidays(2026)) == [
        D(2026, 1, 1), D(2026, 4, 6), D(2026, 5, 1), D(2026, 5, 14), D(2026, 5, 25), D(2026, 7, 21),
        D(2026, 8, 15), D(2026, 11, 1), D(2026, 11, 11), D(2026, 12, 25),
    ]
