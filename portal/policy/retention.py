"""Retention dates computed from the register's rules and a person's records.

Pure functions: the facts of a relation and consent are passed in, and so is nothing else, so that
the overview, the exports and the retention sweep all compute the same date for the same item.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from portal.policy.register import RetentionRule


class Pending(Enum):
    """Why no end date can be given yet: the event the rule counts from has not happened."""

    RELATION_RUNNING = "relation_running"
    NO_CONTACT_RECORDED = "no_contact_recorded"
    CONSENT_STANDS = "consent_stands"


@dataclass(frozen=True)
class RetentionFacts:
    """What the rules count from, for one relation of one person."""

    relation_ended: dt.date | None = None
    last_contact: dt.date | None = None
    consent_given: dt.date | None = None
    consent_withdrawn: dt.date | None = None
    extension_consent_given: dt.date | None = None
    extension_consent_withdrawn: dt.date | None = None
    renewal_asked: dt.date | None = None  # when we last asked whether to renew the extending consent


@dataclass(frozen=True)
class RetentionEnd:
    """The end of retention: a date, or the reason it is not known yet."""

    until: dt.date | None
    pending: Pending | None = None
    extended_by_consent: bool = False
    renewal_due: dt.date | None = None  # when we ask whether the person renews the extending consent
    renewal_asked: dt.date | None = None  # when we asked, for the period that ends at `renewal_due`


def retention_end(rule: RetentionRule, facts: RetentionFacts) -> RetentionEnd:
    """When data kept under `rule` are to be erased, given the person's `facts`."""
    if rule.kind == "until_consent_withdrawn":
        if facts.consent_withdrawn is not None:
            return RetentionEnd(until=facts.consent_withdrawn)
        return RetentionEnd(until=None, pending=Pending.CONSENT_STANDS)

    start = facts.last_contact if _counts_from_last_contact(rule) else facts.relation_ended
    if start is None:
        pending = Pending.NO_CONTACT_RECORDED if _counts_from_last_contact(rule) else Pending.RELATION_RUNNING
        return RetentionEnd(until=None, pending=pending)
    assert rule.period is not None  # the register requires a period for every other kind
    until = rule.period.after(start)

    extension = rule.consent_extension
    if extension and facts.extension_consent_given is not None:
        if facts.extension_consent_withdrawn is not None:
            # Withdrawn: the longer period ends with the consent, never before the normal date.
            return RetentionEnd(until=max(until, facts.extension_consent_withdrawn))
        # The longer period runs from the later of the relation's end and the consent itself (a renewal is
        # a new consent, so it starts the period again). At its end we ask; the data go when the answer
        # does not come within `answer_within` of the question (or of the day the question was due).
        renewal_due = extension.period.after(max(start, facts.extension_consent_given))
        asked = facts.renewal_asked if facts.renewal_asked and facts.renewal_asked >= renewal_due else None
        wait = extension.answer_within
        ends = (wait.after(asked or renewal_due) if wait else renewal_due)
        return RetentionEnd(until=max(until, ends), extended_by_consent=True, renewal_due=renewal_due,
                            renewal_asked=asked)
    return RetentionEnd(until=until)


def _counts_from_last_contact(rule: RetentionRule) -> bool:
    return rule.kind == "after_last_contact" or (
        rule.kind == "as_long_as_necessary" and rule.counted_from == "last_contact"
    )


def purpose_retention_end(
    rule: RetentionRule, facts: RetentionFacts, *, rests_on_consent: bool, consent_withdrawn: dt.date | None,
) -> RetentionEnd:
    """When the data of one purpose go: its rule, but never beyond the withdrawal of the consent it rests on.

    Withdrawing consent stops the purpose (Art. 7(3)); what the data are still kept for then is decided
    by the other purposes of the same relation, each with its own end.
    """
    end = retention_end(rule, facts)
    if rests_on_consent and consent_withdrawn is not None and (end.until is None or consent_withdrawn < end.until):
        return RetentionEnd(until=consent_withdrawn)
    return end
