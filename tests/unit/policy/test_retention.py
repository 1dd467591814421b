"""Retention dates from the register's rules, at their edges."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.policy.register import default_register
from portal.policy.retention import Pending, RetentionFacts, retention_end
from portal.policy.text import Period

RULES = default_register().retention
D = dt.date


@pytest.mark.clause("3.1.retention", "3.2.retention", "3.3.retention.prospect", "3.3.retention.newsletter",
                    "3.4.retention")
@pytest.mark.parametrize(
    ("rule", "facts", "until", "pending"),
    [
        ("customer", RetentionFacts(relation_ended=D(2024, 3, 12)), D(2034, 3, 12), None),
        ("customer", RetentionFacts(relation_ended=D(2024, 2, 29)), D(2034, 2, 28), None),  # no 29 Feb in 2034
        ("customer", RetentionFacts(), None, Pending.RELATION_RUNNING),
        ("supplier", RetentionFacts(relation_ended=D(2024, 6, 30)), D(2034, 6, 30), None),
        ("prospect", RetentionFacts(last_contact=D(2024, 2, 20)), D(2027, 2, 20), None),
        ("prospect", RetentionFacts(), None, Pending.NO_CONTACT_RECORDED),
        ("newsletter", RetentionFacts(consent_given=D(2021, 5, 10)), None, Pending.CONSENT_STANDS),
        ("newsletter", RetentionFacts(consent_given=D(2021, 5, 10), consent_withdrawn=D(2025, 1, 3)),
         D(2025, 1, 3), None),
        ("applicant", RetentionFacts(relation_ended=D(2026, 11, 10)), D(2026, 12, 8), None),  # 4 weeks
        ("applicant", RetentionFacts(), None, Pending.RELATION_RUNNING),
    ],
)
def test_retention_end(rule, facts, until, pending):
    end = retention_end(RULES[rule], facts)
    assert (end.until, end.pending) == (until, pending)


@pytest.mark.clause("3.4.retention")
def test_applicant_consent_keeps_data_a_year_then_asks_to_renew():
    facts = RetentionFacts(relation_ended=D(2025, 10, 15), extension_consent_given=D(2025, 10, 10))
    end = retention_end(RULES["applicant"], facts)
    assert end.extended_by_consent
    assert end.renewal_due == D(2026, 10, 15)
    assert end.until == D(2026, 11, 14)  # asked on the day it is due, 30 days to answer


@pytest.mark.clause("3.4.retention")
def test_applicant_data_go_30_days_after_the_renewal_question_unless_renewed():
    asked_late = RetentionFacts(relation_ended=D(2025, 10, 15), extension_consent_given=D(2025, 10, 10),
                                renewal_asked=D(2026, 10, 20))
    end = retention_end(RULES["applicant"], asked_late)
    assert (end.renewal_asked, end.until) == (D(2026, 10, 20), D(2026, 11, 19))
    # Renewing is a new consent: a new year runs from it, and the old question no longer counts.
    renewed = RetentionFacts(relation_ended=D(2025, 10, 15), extension_consent_given=D(2026, 10, 25),
                             renewal_asked=D(2026, 10, 20))
    end = retention_end(RULES["applicant"], renewed)
    assert (end.renewal_due, end.renewal_asked, end.until) == (D(2027, 10, 25), None, D(2027, 11, 24))


@pytest.mark.clause("3.4.retention", "2.4.withdrawal")
def test_withdrawn_applicant_consent_ends_the_longer_period():
    facts = RetentionFacts(relation_ended=D(2025, 10, 15), extension_consent_given=D(2025, 10, 10),
                           extension_consent_withdrawn=D(2026, 1, 5))
    end = retention_end(RULES["applicant"], facts)
    assert not end.extended_by_consent
    assert end.until == D(2026, 1, 5)


@pytest.mark.clause("3.5.retention")
def test_participant_period_is_the_registers_configured_reading():
    rule = RULES["participant"]
    ended = D(2025, 3, 14)
    assert retention_end(rule, RetentionFacts(relation_ended=ended)).until == rule.period.after(ended)


@pytest.mark.parametrize(
    ("period", "start", "expected"),
    [
        (Period(months=1), D(2025, 1, 31), D(2025, 2, 28)),
        (Period(months=1), D(2024, 1, 31), D(2024, 2, 29)),
        (Period(months=1), D(2025, 12, 15), D(2026, 1, 15)),
        (Period(years=10), D(2016, 11, 30), D(2026, 11, 30)),
        (Period(weeks=4), D(2026, 12, 20), D(2027, 1, 17)),
        (Period(years=1, months=2, days=3), D(2023, 12, 31), D(2025, 3, 3)),
    ],
)
def test_period_counts_like_people_do(period, start, expected):
    assert period.after(start) == expected


def test_period_in_words():
    assert Period(years=10).describe("nl") == "10 jaar"
    assert Period(weeks=4).describe("en") == "4 weeks"
    assert Period(years=1, months=2).describe("en") == "1 year and 2 months"


@pytest.mark.clause("3.5.retention", "2.4.withdrawal")
def test_a_purpose_on_consent_ends_with_the_withdrawal():
    from portal.policy.retention import purpose_retention_end

    facts = RetentionFacts(relation_ended=D(2025, 3, 14))
    rule = RULES["participant"]
    withdrawn = purpose_retention_end(rule, facts, rests_on_consent=True, consent_withdrawn=D(2025, 6, 20))
    assert withdrawn.until == D(2025, 6, 20)
    standing = purpose_retention_end(rule, facts, rests_on_consent=True, consent_withdrawn=None)
    assert standing.until == rule.period.after(D(2025, 3, 14))
    other_basis = purpose_retention_end(rule, facts, rests_on_consent=False, consent_withdrawn=D(2025, 6, 20))
    assert other_basis.until == standing.until
