"""The retention sweep: carry out the statement's retention periods (3.1 to 3.5) from the register's rules.

For every person, in batches of people, it works out with the same functions as the overview
(`purpose_views`, `RelationView.kept_until_for`) which categories of which relation are past their
retention date today, and decides per (relation, category):

- erase, naming the rule and the clause;
- or keep, and why: an open request of the person, a restriction of processing (Art. 18), or another
  relation of the same person that still holds and keeps the same values (e.g. the bank account a
  participant paid with, which their running customer relation uses).

It also finds applicants whose longer, consent-based retention has reached its end: they are asked by
mail whether to renew, and erased when the answer does not come in time (the register's
`answer_within`). A relation with nothing left whose every purpose has ended goes, and so does a person
with no relation left (and the personal parts of their audit trail).

`plan_batch` only reads; `apply_plan` writes one batch in one transaction, so an interruption loses
nothing and never leaves a person half-erased, and running it again finds only what is still due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from portal.models import Consent, DataItem, MarketingObjection, Relation, RenewalQuestion, RightsRequest, Subject
from portal.policy import requests as lifecycle
from portal.policy.register import Register
from portal.services import audit
from portal.services.context import AffectedData, Context, Effect, EffectKind
from portal.services.erasing import remove_relations
from portal.services.overview import PurposeView, RelationView, latest_consents, purpose_views


class Hold(Enum):
    """Why data past their retention date stay for now."""

    OPEN_REQUEST = "open_request"  # the person's request is being handled: erasing now would pre-empt it
    RESTRICTED = "restricted"  # processing restricted at the person's request: nothing changes until it ends
    NEEDED_ELSEWHERE = "needed_elsewhere"  # another relation of the person still needs this category
    AWAITING_RENEWAL = "awaiting_renewal"  # we ask first whether to renew; erased only if no answer comes in time


@dataclass(frozen=True)
class Finding:
    """One category of one relation of one person, past its retention date."""

    email: str
    relation_id: int
    relation: str
    category: str
    items: int
    until: dt.date
    rule: str
    clause: str
    hold: Hold | None = None
    held_by: str | None = None  # for NEEDED_ELSEWHERE: the other relation
    held_until: dt.date | None = None  # ... and until when it keeps the category, if known

    @property
    def erase(self) -> bool:
        return self.hold is None


@dataclass(frozen=True)
class RenewalDue:
    """An applicant whose consent-based retention ends: to be asked whether to renew."""

    email: str
    language: str
    relation_id: int
    purpose: str
    renewal_due: dt.date
    answer_by: dt.date  # the last day to renew
    erase_on: dt.date  # the day the sweep erases when no renewal came


@dataclass
class BatchPlan:
    findings: list[Finding] = field(default_factory=list)
    renewals: list[RenewalDue] = field(default_factory=list)
    relations_to_remove: list[int] = field(default_factory=list)
    subjects_to_remove: list[tuple[int, str]] = field(default_factory=list)
    people: int = 0
    last_subject_id: int = 0


@dataclass
class SweepReport:
    people: int = 0
    items_erased: int = 0
    items_held: int = 0
    categories_erased: int = 0
    relations_removed: int = 0
    people_removed: int = 0
    renewals_asked: int = 0


def _deciding(users: list[PurposeView]) -> PurposeView:
    """The purpose whose end date is the category's: the latest end among those counted."""
    counted = [p for p in users if p.in_use] or users
    return max(counted, key=lambda p: p.retention.until or dt.date.max)


def due_pairs(relations: list[RelationView], counts: dict[tuple[int, str], int], today: dt.date
              ) -> set[tuple[int, str]]:
    """The (relation, category) pairs holding items whose every purpose has ended by `today`."""
    return {
        (relation.id, category)
        for relation in relations for category in relation.definition.category_ids
        if counts.get((relation.id, category)) and _ended(relation.kept_until_for(category), today)
    }


def plan_person(
    email: str, language: str, relations: list[RelationView], counts: dict[tuple[int, str], int], *,
    open_request: bool, today: dt.date, still_needed: dict[tuple[int, str], tuple[int, str]] | None = None,
) -> tuple[list[Finding], list[RenewalDue], list[int], bool]:
    """Pure: what is due for one person today; (findings, renewals, relations to remove, remove the person)."""
    findings: list[Finding] = []
    renewals: list[RenewalDue] = []
    for relation in relations:
        for purpose in relation.purposes:
            end, extension = purpose.retention, purpose.rule.consent_extension
            if (extension is not None and purpose.purpose.id == extension.purpose and end.extended_by_consent
                    and end.renewal_due is not None and end.renewal_due <= today and end.renewal_asked is None):
                erase_on = extension.answer_within.after(today) if extension.answer_within else today
                renewals.append(RenewalDue(email, language, relation.id, purpose.purpose.id, end.renewal_due,
                                           answer_by=erase_on - dt.timedelta(days=1), erase_on=erase_on))
    asking = {renewal.relation_id for renewal in renewals}
    due = due_pairs(relations, counts, today)
    by_id = {relation.id: relation for relation in relations}
    for relation in relations:
        for category in relation.definition.category_ids:
            if (relation.id, category) not in due:
                continue
            users = [p for p in relation.purposes if category in p.purpose.categories]
            deciding = _deciding(users)
            until = relation.kept_until_for(category)
            assert until is not None  # due
            hold, held_by, held_until = None, None, None
            # The same values are still held under another relation that keeps them (the bank account a
            # participant paid with, which the running customer relation uses): they stay.
            needed = (still_needed or {}).get((relation.id, category))
            if open_request:
                hold = Hold.OPEN_REQUEST
            elif relation.restricted_since is not None:
                hold = Hold.RESTRICTED
            elif relation.id in asking:
                hold = Hold.AWAITING_RENEWAL
            elif needed is not None and needed[0] in by_id:
                other = by_id[needed[0]]
                hold, held_by, held_until = Hold.NEEDED_ELSEWHERE, other.definition.id, other.kept_until_for(needed[1])
            findings.append(Finding(
                email=email, relation_id=relation.id, relation=relation.definition.id, category=category,
                items=counts[(relation.id, category)], until=until, rule=deciding.rule.id,
                clause=deciding.rule.clause, hold=hold, held_by=held_by, held_until=held_until,
            ))
    erased = {(f.relation_id, f.category) for f in findings if f.erase}
    removable = []
    for relation in relations:
        held = [c for c in relation.definition.category_ids
                if counts.get((relation.id, c)) and (relation.id, c) not in erased]
        ended = all(_ended(relation.kept_until_for(c), today) or _unused(relation, c, counts)
                    for c in relation.definition.category_ids)
        if not held and ended and relation.restricted_since is None and not open_request and relation.id not in asking:
            removable.append(relation.id)
    remove_person = bool(relations) and len(removable) == len(relations)
    return findings, renewals, removable, remove_person


def _ended(until: dt.date | None, today: dt.date) -> bool:
    return until is not None and until <= today


def _unused(relation: RelationView, category: str, counts: dict[tuple[int, str], int]) -> bool:
    """No items, and no purpose in use that could still collect them (e.g. cookies never consented to)."""
    return not counts.get((relation.id, category)) and not any(
        p.in_use and category in p.purpose.categories for p in relation.purposes)


def plan_batch(session: Session, register: Register, *, today: dt.date, after_id: int, size: int) -> BatchPlan:
    """Read one batch of people (ids above `after_id`) and decide what is due for each; writes nothing."""
    subjects = session.execute(select(Subject.id, Subject.email, Subject.language).where(Subject.id > after_id)
                               .order_by(Subject.id).limit(size)).all()
    plan = BatchPlan(people=len(subjects), last_subject_id=subjects[-1].id if subjects else after_id)
    if not subjects:
        return plan
    # The batch is every person with an id in this range: the range reads what hangs on them through the
    # indexes on subject_id, where IN lists of their ids, relation ids and addresses cost a bound parameter
    # each (about a quarter of the planning's CPU time, spent compiling and sending them).
    first, last = subjects[0].id, subjects[-1].id
    in_batch = Relation.subject_id.between(first, last)
    relations = list(session.scalars(select(Relation).where(in_batch)
                                     .order_by(Relation.subject_id, Relation.started, Relation.id)))
    consents = list(session.scalars(select(Consent).where(Consent.subject_id.between(first, last))
                                    .order_by(Consent.given, Consent.id)))
    counts: dict[tuple[int, str], int] = {(rid, cat): n for rid, cat, n in session.execute(
        select(DataItem.relation_id, DataItem.category, func.count()).join(Relation).where(in_batch)
        .group_by(DataItem.relation_id, DataItem.category))}
    people = select(Subject.id).distinct().where(Subject.id.between(first, last))
    open_requests = set(session.scalars(people.join(RightsRequest, RightsRequest.email == Subject.email)
                                        .where(RightsRequest.status.in_(lifecycle.OPEN_STATES))))
    objecting = set(session.scalars(people.join(MarketingObjection, MarketingObjection.email == Subject.email)
                                    .where(MarketingObjection.lifted_at.is_(None))))
    questions: dict[int, dt.date] = {rid: asked for rid, asked in session.execute(  # the last question, per relation
        select(RenewalQuestion.relation_id, func.max(RenewalQuestion.asked_on)).join(Relation).where(in_batch)
        .group_by(RenewalQuestion.relation_id))}
    by_subject: dict[int, list[Relation]] = {}
    for relation in relations:
        by_subject.setdefault(relation.subject_id, []).append(relation)
    consents_of: dict[int, list[Consent]] = {}
    for consent in consents:
        consents_of.setdefault(consent.subject_id, []).append(consent)
    views_of: dict[int, list[RelationView]] = {}
    for subject in subjects:
        latest = latest_consents(consents_of.get(subject.id, []))
        views_of[subject.id] = [
            RelationView(
                id=r.id, definition=register.relations[r.kind], started=r.started, ended=r.ended,
                last_contact=r.last_contact, categories=[], restricted_since=r.restricted_since,
                purposes=purpose_views(register, r, latest, objected=subject.id in objecting,
                                       renewal_asked=questions.get(r.id)),
            )
            for r in by_subject.get(subject.id, [])
        ]
    still_needed = _still_needed(session, views_of, counts, today)
    for subject in subjects:
        findings, renewals, removable, remove_person = plan_person(
            subject.email, subject.language, views_of[subject.id], counts,
            open_request=subject.id in open_requests, today=today, still_needed=still_needed)
        plan.findings += findings
        plan.renewals += renewals
        plan.relations_to_remove += removable
        if remove_person:
            plan.subjects_to_remove.append((subject.id, subject.email))
    return plan


def _still_needed(
    session: Session, views_of: dict[int, list[RelationView]], counts: dict[tuple[int, str], int], today: dt.date,
) -> dict[tuple[int, str], tuple[int, str]]:
    """Due (relation, category) pairs with a value also held, and kept, under another relation of the same person.

    Maps each such pair to one (relation, category) that still holds the value (the lowest relation id and
    category among them). Only people with more than one relation are looked at: the values of their items
    are read in one query per batch and compared here (a self-join on the values cost the database more
    than the whole batch's other reads).
    """
    due: set[tuple[int, str]] = set()
    kept: set[tuple[int, str]] = set()
    person_of: dict[int, int] = {}
    for person, views in views_of.items():
        if len(views) < 2:
            continue
        person_due = due_pairs(views, counts, today)
        due |= person_due
        kept |= {(v.id, c) for v in views for c in v.definition.category_ids
                 if counts.get((v.id, c)) and (v.id, c) not in person_due}
        person_of.update((v.id, person) for v in views)
    if not due or not kept:
        return {}
    items = session.execute(select(DataItem.relation_id, DataItem.category, DataItem.value)
                            .where(DataItem.relation_id.in_(person_of))).all()
    holders: dict[tuple[int, str], list[tuple[int, str]]] = {}  # (person, value) -> the kept pairs holding it
    for rid, category, value in items:
        if (rid, category) in kept:
            holders.setdefault((person_of[rid], value), []).append((rid, category))
    needed: dict[tuple[int, str], tuple[int, str]] = {}
    for rid, category, value in items:
        if (rid, category) not in due:
            continue
        for other_rid, other_category in holders.get((person_of[rid], value), []):
            if other_rid != rid:
                known = needed.get((rid, category), (other_rid, other_category))
                needed[(rid, category)] = (min(known[0], other_rid), min(known[1], other_category))
    return needed


def apply_plan(session: Session, ctx: Context, plan: BatchPlan, *, report: SweepReport) -> None:
    """Carry out one batch's plan in the caller's transaction (committed by the caller, once per batch).

    Set-based: one DELETE per category over every relation of the batch due in it, one for the relations
    and one for the people that go, one audit entry per person through `audit.record_many`. A statement
    per finding and per person made the sweep ten times slower, most of it in round trips. Each person
    whose data go is reported as an effect; each applicant asked to renew is mailed through the context.
    """
    erased = [finding for finding in plan.findings if finding.erase]
    due_in: dict[str, list[int]] = {}
    for finding in erased:
        due_in.setdefault(finding.category, []).append(finding.relation_id)
    for category, relation_ids in due_in.items():
        session.execute(delete(DataItem).where(DataItem.category == category, DataItem.relation_id.in_(relation_ids)))
    # One entry per person, not per batch: the person's overview lists what was erased of theirs, and
    # an auditor answering them needs it by person. A person who goes entirely keeps no personal part.
    removed_people = {email for _id, email in plan.subjects_to_remove}
    erased_of: dict[str, list[Finding]] = {}
    for finding in erased:
        erased_of.setdefault(finding.email, []).append(finding)
    audit.record_many(session, [
        audit.Entry(details={"erased": [{"relation": f.relation, "category": f.category, "items": f.items,
                                         "rule": f.rule, "clause": f.clause} for f in findings]},
                    subject_email=None if email in removed_people else email)
        for email, findings in erased_of.items()
    ], actor=ctx.actor, action="retention_erased", now=ctx.now)
    ctx.took_effects(session, [Effect(EffectKind.RETENTION_ERASED, email, data=tuple(
        AffectedData(f.relation, f.category, f.items) for f in findings)) for email, findings in erased_of.items()])
    remove_relations(session, ctx.register, plan.relations_to_remove)
    if plan.subjects_to_remove:
        session.execute(delete(Subject).where(Subject.id.in_([subject for subject, _email in plan.subjects_to_remove])))
        audit.forget(session, removed_people)
    for renewal in plan.renewals:
        session.add(RenewalQuestion(relation_id=renewal.relation_id, purpose=renewal.purpose, asked_on=ctx.today))
        if ctx.notifier is not None:
            ctx.mail(session, renewal.email, ctx.notifier.renewal_mail(renewal))
    audit.record_many(session, [audit.Entry(details={"purpose": r.purpose}, subject_email=r.email)
                                for r in plan.renewals], actor=ctx.actor, action="renewal_asked", now=ctx.now)
    _count(plan, report)
    report.relations_removed += len(plan.relations_to_remove)
    report.people_removed += len(plan.subjects_to_remove)
    report.renewals_asked += len(plan.renewals)


def _count(plan: BatchPlan, report: SweepReport) -> None:
    report.people += plan.people
    for finding in plan.findings:
        if finding.erase:
            report.items_erased += finding.items
            report.categories_erased += 1
        else:
            report.items_held += finding.items


def sweep(
    sessions: sessionmaker[Session], ctx: Context, *, apply: bool, batch: int = 500,
    progress: Callable[[int], None] | None = None, report: SweepReport | None = None,
) -> Iterator[BatchPlan]:
    """Walk every person in batches as on `ctx.today`; yield each batch's plan as it is done, into `report`.

    With `apply`, each batch is carried out and committed before the next is read; without, nothing is
    written. Consuming the iterator drives the sweep.
    """
    report = report if report is not None else SweepReport()
    after = 0
    while True:
        with sessions() as session:
            plan = plan_batch(session, ctx.register, today=ctx.today, after_id=after, size=batch)
            if plan.people == 0:
                return
            if apply:
                apply_plan(session, ctx, plan, report=report)
                session.commit()
            else:
                _count(plan, report)
                report.relations_removed += len(plan.relations_to_remove)
                report.people_removed += len(plan.subjects_to_remove)
                report.renewals_asked += len(plan.renewals)
        after = plan.last_subject_id
        if progress is not None:
            progress(plan.people)
        yield plan
