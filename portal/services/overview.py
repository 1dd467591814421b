"""A person's own situation, derived from the register and their records: the first layer of access.

`build_overview` answers, for one verified address: which relations apply, what data we hold under
each (grouped by category, with source and date), for which purposes, on which legal basis, shared with
whom, kept until when, and which rights apply to each purpose and why. It runs a fixed number of
queries whatever the number of data items: long categories are cut to their newest items and paged
separately (`category_page`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, exists, func, or_, select, union_all, update
from sqlalchemy.orm import Session

from portal.models import AuthSession, Consent, DataItem, MarketingObjection, Relation, RenewalQuestion, Subject
from portal.policy.register import Basis, Category, Purpose, Recipient, Register, RetentionRule, Version
from portal.policy.register import Relation as RelationDefinition
from portal.policy.retention import RetentionEnd, RetentionFacts, purpose_retention_end
from portal.policy.rights import RightDecision, rights_for
from portal.services.context import Context
from portal.services.versions import unseen_changes

ITEMS_SHOWN = 10  # per category on the overview; the rest is one click away, paged
PAGE_SIZE = 50


class NotFound(Exception):
    """The thing asked for does not exist for this person (whether or not it exists for someone else)."""


@dataclass(frozen=True)
class ItemView:
    field: str
    value: str
    source: str
    recorded: dt.date
    id: int = 0


@dataclass(frozen=True)
class CategoryView:
    category: Category
    items: list[ItemView]
    total: int
    systems: tuple[str, ...] = ()  # where they are kept: the company's systems (register ids), see `kept_in`

    @property
    def hidden(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True)
class ConsentView:
    purpose: Purpose
    given: dt.date
    withdrawn: dt.date | None

    @property
    def standing(self) -> bool:
        return self.withdrawn is None


@dataclass(frozen=True)
class PurposeView:
    purpose: Purpose
    basis: Basis
    recipients: list[Recipient]
    rule: RetentionRule
    retention: RetentionEnd
    rights: list[RightDecision]
    consent: ConsentView | None  # for purposes on consent: the latest consent, if any
    objected: bool = False  # a direct-marketing purpose the person objected to

    @property
    def in_use(self) -> bool:
        """Not after an objection to direct marketing; on consent, only while a consent stands."""
        if self.objected:
            return False
        return self.purpose.basis != "consent" or (self.consent is not None and self.consent.standing)


@dataclass(frozen=True)
class RelationView:
    id: int
    definition: RelationDefinition
    started: dt.date
    ended: dt.date | None
    last_contact: dt.date | None
    categories: list[CategoryView]
    purposes: list[PurposeView]
    restricted_since: dt.date | None = None  # processing restricted (Art. 18): the data are only stored

    @property
    def kept_until(self) -> dt.date | None:
        """The latest retention date among the purposes in use, if every one of them is known."""
        dates = [p.retention.until for p in self.purposes if p.in_use]
        return max(dates) if dates and all(dates) else None  # type: ignore[type-var]

    def kept_until_for(self, category_id: str) -> dt.date | None:
        """Until when items of one category are kept: the latest end among the purposes in use that use them.

        When no purpose using them is in use any more (a withdrawn consent, an objection), the latest end
        among all of them counts; an end not known yet makes the answer unknown.
        """
        users = [p for p in self.purposes if category_id in p.purpose.categories]
        in_use = [p for p in users if p.in_use] or users
        dates = [p.retention.until for p in in_use]
        return max(dates) if dates and all(dates) else None  # type: ignore[type-var]


@dataclass(frozen=True)
class Overview:
    email: str
    name: str | None
    language: str | None
    relations: list[RelationView]
    consents: list[ConsentView] = field(default_factory=list)
    objects_to_marketing: bool = False

    @property
    def holds_anything(self) -> bool:
        return bool(self.relations or self.consents)


def latest_consents(consents: list[Consent]) -> dict[str, Consent]:
    latest: dict[str, Consent] = {}
    for consent in sorted(consents, key=lambda c: (c.given, c.id)):
        latest[consent.purpose] = consent
    return latest


def _facts(
    relation: Relation, rule: RetentionRule, latest: dict[str, Consent], renewal_asked: dt.date | None,
) -> RetentionFacts:
    consent = latest.get(rule.consent_purpose or "")
    extension = latest.get(rule.consent_extension.purpose) if rule.consent_extension else None
    return RetentionFacts(
        relation_ended=relation.ended, last_contact=relation.last_contact,
        consent_given=consent.given if consent else None,
        consent_withdrawn=consent.withdrawn if consent else None,
        # A renewal starts the longer period again, from the day it was confirmed.
        extension_consent_given=max(extension.given, extension.renewed_on or extension.given) if extension
        else None,
        extension_consent_withdrawn=extension.withdrawn if extension else None,
        renewal_asked=renewal_asked,
    )


@functools.cache
def _rights(register: Register, purpose_id: str) -> list[RightDecision]:
    return rights_for(purpose_id, register=register)


def purpose_views(
    register: Register, relation: Relation, latest: dict[str, Consent], *, objected: bool,
    renewal_asked: dt.date | None = None, consent_views: dict[int, ConsentView] | None = None,
) -> list[PurposeView]:
    """Every purpose of one relation, explained: basis, recipients, retention, rights and consent.

    Pure: `latest` is the person's latest consent per purpose, `renewal_asked` when we last asked to renew
    the consent that keeps this relation's data longer. The overview and the retention sweep both use it,
    so that what a person is shown is what the sweep carries out.
    """
    views = []
    for purpose in register.purposes_of(relation.kind):
        rule = register.retention[purpose.retention]
        consent = latest.get(purpose.id)
        shown = None
        if consent is not None:
            shown = (consent_views or {}).get(consent.id) or ConsentView(purpose, consent.given, consent.withdrawn)
        views.append(PurposeView(
            purpose=purpose, basis=register.bases[purpose.basis],
            recipients=[register.recipients[r] for r in purpose.recipients], rule=rule,
            retention=purpose_retention_end(
                rule, _facts(relation, rule, latest, renewal_asked), rests_on_consent=purpose.basis == "consent",
                consent_withdrawn=consent.withdrawn if consent else None,
            ),
            rights=_rights(register, purpose.id), consent=shown, objected=objected and purpose.direct_marketing,
        ))
    return views


def latest_questions(session: Session, relation_ids: list[int]) -> dict[int, dt.date]:
    """When we last asked to renew, per relation."""
    if not relation_ids:
        return {}
    return {
        relation_id: asked for relation_id, asked in session.execute(
            select(RenewalQuestion.relation_id, func.max(RenewalQuestion.asked_on))
            .where(RenewalQuestion.relation_id.in_(relation_ids)).group_by(RenewalQuestion.relation_id)
        )
    }


VIEW_NOTED_EVERY = dt.timedelta(minutes=15)
_NOTE_VIEW = (update(AuthSession)
              .where(AuthSession.id == bindparam("session_id"),
                     or_(AuthSession.overview_noted_at.is_(None), AuthSession.overview_noted_at <= bindparam("due")))
              .values(overview_noted_at=bindparam("now")))


def open_overview(session: Session, ctx: Context, *, email: str, session_id: int,
                  last_noted: dt.datetime | None) -> list[Version]:
    """What opening the overview writes, in one transaction: the statement's versions the person has not seen
    (returned, to be told once), and the look itself in the audit trail.

    A look is written at most once per signed-in session every quarter hour: every entry appends to one
    hash chain (a row lock), a reload must not queue behind everybody else's writes, and what an auditor
    needs is that this session looked, not every reload. The guarded UPDATE keeps two simultaneous
    reloads from both writing.
    """
    changes = unseen_changes(session, email, ctx.register.statement, now=ctx.now)
    wrote = bool(session.new or session.dirty)
    if last_noted is None or ctx.now - last_noted >= VIEW_NOTED_EVERY:
        claimed = session.execute(_NOTE_VIEW, {"session_id": session_id, "due": ctx.now - VIEW_NOTED_EVERY,
                                               "now": ctx.now})
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            ctx.audit(session, "overview_viewed", subject_email=email)
            wrote = True
    if wrote:
        session.commit()
    return changes


# The overview's statements, built once: a person's first view runs them with their ids as parameters
# instead of assembling the SQL again (building these took 15 times longer than running them).
_SUBJECT = select(
    Subject,
    exists().where(MarketingObjection.email == Subject.email, MarketingObjection.lifted_at.is_(None)),
).where(Subject.email == bindparam("email"))
_RELATIONS = select(
    Relation,
    select(func.max(RenewalQuestion.asked_on)).where(RenewalQuestion.relation_id == Relation.id).scalar_subquery(),
).where(Relation.subject_id == bindparam("subject_id")).order_by(Relation.started, Relation.id)
_CONSENTS = select(Consent).where(Consent.subject_id == bindparam("subject_id")).order_by(Consent.given, Consent.id)
_TOTALS = (  # per system too: where a category is kept is read with its count, not by a query of its own
    select(DataItem.relation_id, DataItem.category, DataItem.system, func.count())
    .where(DataItem.relation_id.in_(bindparam("relation_ids", expanding=True)))
    .group_by(DataItem.relation_id, DataItem.category, DataItem.system)
)


@functools.lru_cache(maxsize=1024)
def kept_in(register: Register, relation_id: str, category_id: str, named: frozenset[str | None]) -> tuple[str, ...]:
    """The company's systems that keep a category's items, in the register's order.

    `named` holds the system each item names (`DataItem.system`), None for an item that names none: for
    those the register says where such data are kept (`systems_holding`). Register-derived and few, so
    cached per register, relation, category and set of named systems.
    """
    ids = {system_id for system_id in named if system_id is not None}
    if None in named:
        ids |= {system.id for system in register.systems_holding(relation_id, category_id)}
    return tuple(system_id for system_id in register.systems if system_id in ids)


def build_overview(session: Session, email: str, *, register: Register) -> Overview:
    """Everything we hold under `email`, explained from the register, in a fixed number of queries."""
    found = session.execute(_SUBJECT, {"email": email}).one_or_none()
    if found is None:
        return Overview(email=email, name=None, language=None, relations=[])
    subject, objected = found
    with_questions = session.execute(_RELATIONS, {"subject_id": subject.id}).all()
    relations = [relation for relation, _asked in with_questions]
    questions = {relation.id: asked for relation, asked in with_questions if asked is not None}
    consents = list(session.scalars(_CONSENTS, {"subject_id": subject.id}))
    totals: dict[tuple[int, str], int] = {}
    named: dict[tuple[int, str], set[str | None]] = {}
    newest: dict[tuple[int, str], list[ItemView]] = {}
    if relations:
        for relation_id, category, system, count in session.execute(
                _TOTALS, {"relation_ids": [r.id for r in relations]}):
            totals[relation_id, category] = totals.get((relation_id, category), 0) + count
            named.setdefault((relation_id, category), set()).add(system)
        newest = _newest_items(session, relations, register)

    latest = latest_consents(consents)
    consent_views = {c.id: ConsentView(register.purposes[c.purpose], c.given, c.withdrawn) for c in consents}
    views = []
    for relation in relations:
        definition = register.relations[relation.kind]
        categories = [
            CategoryView(
                category=register.categories[listed.id],
                items=newest.get((relation.id, listed.id), []), total=totals.get((relation.id, listed.id), 0),
                systems=kept_in(register, relation.kind, listed.id, frozenset(named[relation.id, listed.id])),
            )
            for listed in definition.categories if totals.get((relation.id, listed.id))
        ]
        purposes = purpose_views(register, relation, latest, objected=objected,
                                 renewal_asked=questions.get(relation.id), consent_views=consent_views)
        views.append(RelationView(
            id=relation.id, definition=definition, started=relation.started, ended=relation.ended,
            last_contact=relation.last_contact, categories=categories, purposes=purposes,
            restricted_since=relation.restricted_since,
        ))
    return Overview(email=subject.email, name=subject.name, language=subject.language, relations=views,
                    consents=list(consent_views.values()), objects_to_marketing=objected)


@functools.lru_cache(maxsize=256)
def _newest_items_statement(shape: tuple[tuple[str, ...], ...]) -> CompoundSelect[Any]:
    """The statement for relations whose categories are `shape` (one tuple per relation, in order).

    One `ORDER BY ... LIMIT` per (relation, category), joined with UNION ALL: each part is a short range
    scan of the (relation, category, recorded, id) index, so the cost follows what is shown, not what is
    held. The relations' ids are parameters `r0`, `r1`, ...; the categories come from the register, so the
    shapes are few (the kinds of relation a person has, in order).
    """
    parts = [
        select(DataItem.relation_id, DataItem.category, DataItem.field, DataItem.value, DataItem.source,
               DataItem.recorded, DataItem.id)
        .where(DataItem.relation_id == bindparam(f"r{index}"), DataItem.category == category_id)
        .order_by(DataItem.recorded.desc(), DataItem.id.desc())
        .limit(ITEMS_SHOWN)
        .subquery()
        for index, categories in enumerate(shape)
        for category_id in categories
    ]
    return union_all(*(select(part) for part in parts))


def _newest_items(
    session: Session, relations: list[Relation], register: Register,
) -> dict[tuple[int, str], list[ItemView]]:
    """The newest `ITEMS_SHOWN` items of every (relation, category) of the register, in one statement."""
    shape = tuple(register.relations[relation.kind].category_ids for relation in relations)
    ids = {f"r{index}": relation.id for index, relation in enumerate(relations)}
    grouped: dict[tuple[int, str], list[ItemView]] = {}
    for relation_id, category, field_name, value, source, recorded, item_id in session.execute(
            _newest_items_statement(shape), ids):
        grouped.setdefault((relation_id, category), []).append(
            ItemView(field_name, value, source, recorded, item_id))
    for items in grouped.values():
        items.sort(key=lambda item: item.recorded, reverse=True)
    return grouped


@dataclass(frozen=True)
class CategoryPage:
    relation: RelationDefinition
    relation_id: int
    category: Category
    items: list[ItemView]
    page: int
    pages: int
    total: int
    systems: tuple[str, ...] = ()  # where they are kept (see `kept_in`)


def category_page(
    session: Session, email: str, relation_id: int, category_id: str, page: int, *, register: Register,
) -> CategoryPage:
    """One page of the items of a category under one of the person's relations, newest first.

    Raises `NotFound` when the relation is not this person's, the category is unknown or holds nothing
    here, or the page is out of range: the same answer as for an id that does not exist at all.
    """
    relation = session.scalar(
        select(Relation).join(Subject).where(Relation.id == relation_id, Subject.email == email)
    )
    if relation is None or category_id not in register.relations[relation.kind].category_ids:
        raise NotFound()
    per_system: dict[str | None, int] = {system: count for system, count in session.execute(
        select(DataItem.system, func.count())
        .where(DataItem.relation_id == relation.id, DataItem.category == category_id).group_by(DataItem.system)
    )}
    total = sum(per_system.values())
    pages = max(1, -(-total // PAGE_SIZE))
    if total == 0 or not 1 <= page <= pages:
        raise NotFound()
    items = [
        ItemView(item.field, item.value, item.source, item.recorded, item.id)
        for item in session.scalars(
            select(DataItem).where(DataItem.relation_id == relation.id, DataItem.category == category_id)
            .order_by(DataItem.recorded.desc(), DataItem.id.desc())
            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        )
    ]
    return CategoryPage(
        relation=register.relations[relation.kind], relation_id=relation.id,
        category=register.categories[category_id], items=items, page=page, pages=pages, total=total,
        systems=kept_in(register, relation.kind, category_id, frozenset(per_system)),
    )
