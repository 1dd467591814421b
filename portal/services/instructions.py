"""What the company's systems hear: every change that takes effect becomes one instruction per system.

`carry_out` listens to every `Effect` (see services/context.py) and writes, in the transaction of the
change, one `Instruction` for each of the company's systems that holds affected data (the register's
`[system.*]`), one notice for each recipient of the purposes concerned when data were rectified, erased or
restricted (Art. 19 GDPR), and a `Suppression` for what was erased or stopped, so that no import brings it
back. Delivery (a signed webhook, or a task for the system's owner) happens afterwards; a request that
changes data is completed when every system concerned has confirmed (`confirm`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from portal.models import Instruction, Relation, RightsRequest, Subject, Suppression
from portal.policy import requests as lifecycle
from portal.policy.register import Notice, Register
from portal.services.context import AffectedData, Context, Effect, EffectKind

SYSTEM, RECIPIENT = "system", "recipient"
PENDING, ACCEPTED, DONE, FAILED = "pending", "accepted", "done", "failed"
OPEN = (PENDING, ACCEPTED, FAILED)

# The event types the systems receive (docs/webhooks.md; a JSON Schema per type in portal/schemas/events/).
EVENT_TYPES: dict[EffectKind, str] = {
    EffectKind.CONSENT_WITHDRAWN: "consent.withdrawn",
    EffectKind.CONSENT_GIVEN: "consent.given",
    EffectKind.CONSENT_RENEWED: "consent.renewed",
    EffectKind.MARKETING_OBJECTION: "marketing.objected",
    EffectKind.MARKETING_OBJECTION_LIFTED: "marketing.objection_lifted",
    EffectKind.OBJECTION_UPHELD: "objection.upheld",
    EffectKind.ERASED: "data.erased",
    EffectKind.RECTIFIED: "data.rectified",
    EffectKind.RESTRICTED: "data.restricted",
    EffectKind.RETENTION_ERASED: "data.retention_erased",
    EffectKind.ADDRESS_CHANGED: "subject.address_changed",
    EffectKind.ADDRESS_CHANGE_UNDONE: "subject.address_change_undone",
}
# Art. 19: recipients are told of a rectification, an erasure or a restriction at the person's request.
TOLD_TO_RECIPIENTS = frozenset({EffectKind.ERASED, EffectKind.RECTIFIED, EffectKind.RESTRICTED})
SUPPRESSION_REASONS = {EffectKind.ERASED: "erasure", EffectKind.RETENTION_ERASED: "retention",
                       EffectKind.CONSENT_WITHDRAWN: "consent_withdrawn",
                       EffectKind.MARKETING_OBJECTION: "marketing_objection"}


@dataclass
class _Part:
    """What one party must do for one effect: the data (or purposes) of the effect that concern it."""

    data: list[AffectedData] = field(default_factory=list)
    kept: list[AffectedData] = field(default_factory=list)
    changes: list[dict[str, str | None]] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)


def carry_out(session: Session, ctx: Context, effects: Sequence[Effect]) -> None:
    """The listener: instructions to systems, notices to recipients, suppressions; in the change's transaction.

    A batch of effects (the retention sweep's) is written in two statements, not two per person.
    """
    register = ctx.register
    rows: list[dict[str, object]] = []
    suppressions: list[dict[str, object]] = []
    for effect in effects:
        rows += [_row(ctx, effect, SYSTEM, system_id, register.systems[system_id].notice, part)
                 for system_id, part in _system_parts(session, register, effect).items()]
        if effect.kind in TOLD_TO_RECIPIENTS:
            rows += [_row(ctx, effect, RECIPIENT, recipient_id, register.recipients[recipient_id].notice, part)
                     for recipient_id, part in _recipient_parts(register, effect).items()]
        suppressions += _suppressions(session, ctx, effect)
    if rows:
        session.execute(insert(Instruction), rows)
    if suppressions:
        session.execute(insert(Suppression), suppressions)


def _system_parts(session: Session, register: Register, effect: Effect) -> dict[str, _Part]:
    parts: dict[str, _Part] = {}

    def part(system_id: str) -> _Part:
        return parts.setdefault(system_id, _Part())

    for data in effect.data:
        for system in register.systems_holding(data.relation, data.category):
            part(system.id).data.append(data)
    for kept in effect.kept:  # told only to a system that also erases something: "keep this until ..."
        for system in register.systems_holding(kept.relation, kept.category):
            if system.id in parts:
                part(system.id).kept.append(kept)
    for change in effect.changes:
        for system in register.systems_holding(change.relation, change.category):
            part(system.id).changes.append({"relation": change.relation, "category": change.category,
                                            "field": change.field, "old": change.old, "new": change.new})
    for purpose_id in effect.purposes:
        purpose = register.purposes.get(purpose_id)
        if purpose is None:
            continue
        concerned = {system.id for system in register.systems_keeping_consent(purpose_id)}
        if effect.kind not in (EffectKind.CONSENT_WITHDRAWN, EffectKind.CONSENT_GIVEN, EffectKind.CONSENT_RENEWED):
            # An objection stops a purpose wherever its data are used, not only where its consents are kept.
            concerned |= {system.id for category in purpose.categories
                          for system in register.systems_holding(purpose.relation, category)}
        for system_id in sorted(concerned):
            part(system_id).purposes.append(purpose_id)
    if effect.kind in (EffectKind.ADDRESS_CHANGED, EffectKind.ADDRESS_CHANGE_UNDONE):
        kinds = session.scalars(select(Relation.kind).join(Subject).distinct()
                                .where(Subject.email.in_([effect.email, effect.new_email or effect.email])))
        for kind in kinds:
            for category in register.relations[kind].category_ids:
                for system in register.systems_holding(kind, category):
                    part(system.id)
    return {system_id: parts[system_id] for system_id in register.systems if system_id in parts}


def _recipient_parts(register: Register, effect: Effect) -> dict[str, _Part]:
    parts: dict[str, _Part] = {}
    affected = [(d.relation, d.category, d) for d in effect.data]
    affected += [(c.relation, c.category, c) for c in effect.changes]
    for relation, category, what in affected:
        for purpose in register.purposes_using(relation, category):
            for recipient_id in purpose.recipients:
                if register.recipients[recipient_id].notice is None:
                    continue
                part = parts.setdefault(recipient_id, _Part())
                if isinstance(what, AffectedData):
                    if what not in part.data:
                        part.data.append(what)
                else:
                    change = {"relation": what.relation, "category": what.category, "field": what.field,
                              "old": what.old, "new": what.new}
                    if change not in part.changes:
                        part.changes.append(change)
    return parts


def _data(items: Iterable[AffectedData]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for d in items:
        entry: dict[str, object] = {"relation": d.relation, "category": d.category}
        if d.items is not None:
            entry["items"] = d.items
        if d.until is not None:
            entry["until"] = d.until.isoformat()
        if d.reason is not None:
            entry["reason"] = d.reason
        out.append(entry)
    return out


def payload_data(effect: Effect, part: _Part) -> dict[str, object]:
    """The `data` of an event: who, which request, and what the party must do, in register ids."""
    data: dict[str, object] = {"subject": {"email": effect.email}, "request": effect.request_id}
    if effect.kind in (EffectKind.ERASED, EffectKind.RETENTION_ERASED):
        data["erase"] = _data(part.data)
        data["keep"] = _data(part.kept)
    elif effect.kind == EffectKind.RESTRICTED:
        data["restrict"] = _data(part.data)
    elif effect.kind == EffectKind.RECTIFIED:
        data["changes"] = part.changes
    elif effect.kind in (EffectKind.ADDRESS_CHANGED, EffectKind.ADDRESS_CHANGE_UNDONE):
        data["new_email"] = effect.new_email
    else:
        data["purposes"] = part.purposes
    return data


def _row(ctx: Context, effect: Effect, party_kind: str, party: str, notice: Notice | None,
         part: _Part) -> dict[str, object]:
    assert notice is not None  # the register requires a notice of every system and of every recipient told
    event_id = f"msg_{secrets.token_hex(12)}"
    event_type = EVENT_TYPES[effect.kind]
    data = {"event_id": event_id, party_kind: party, **payload_data(effect, part)}
    body = {"type": event_type, "timestamp": ctx.now.isoformat(timespec="seconds") + "Z", "data": data}
    return {"event_id": event_id, "party_kind": party_kind, "party": party, "delivery": notice.delivery,
            "event_type": event_type, "subject_email": effect.email, "request_id": effect.request_id,
            "payload": json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
            "status": PENDING, "attempts": 0, "created_at": ctx.now, "next_attempt_at": ctx.now}


def _suppressions(session: Session, ctx: Context, effect: Effect) -> list[dict[str, object]]:
    """What was erased or stopped, by a keyed hash of the address, so that an import skips it."""
    key = ctx.subject_key(effect.email)
    if effect.kind == EffectKind.MARKETING_OBJECTION_LIFTED:
        session.execute(update(Suppression).where(
            Suppression.subject_key == key, Suppression.reason == "marketing_objection",
            Suppression.lifted_at.is_(None)).values(lifted_at=ctx.now))
        return []
    reason = SUPPRESSION_REASONS.get(effect.kind)
    if reason is None:
        return []
    register = ctx.register
    common = {"subject_key": key, "reason": reason, "request_id": effect.request_id, "on": ctx.today, "at": ctx.now,
              "lifted_at": None}
    if effect.kind in (EffectKind.ERASED, EffectKind.RETENTION_ERASED):
        return [{**common, "relation": d.relation, "category": d.category, "purpose": None,
                 "systems": ",".join(s.id for s in register.systems_holding(d.relation, d.category))}
                for d in effect.data]
    return [{**common, "relation": register.purposes[p].relation if p in register.purposes else None,
             "category": None, "purpose": p, "systems": ",".join(s.id for s in register.systems_keeping_consent(p))}
            for p in effect.purposes]


# --- the request's side: progress and completion ------------------------------------------------------

def open_for_request(session: Session, request_id: int) -> int:
    """How many of the systems concerned have not yet confirmed a request's decision."""
    return session.scalar(select(func.count()).select_from(Instruction).where(
        Instruction.request_id == request_id, Instruction.party_kind == SYSTEM,
        Instruction.status.in_(OPEN))) or 0


def of_request(session: Session, request_id: int) -> list[Instruction]:
    """Every instruction and notice a request's decision gave, systems first, in the register's order."""
    return list(session.scalars(select(Instruction).where(Instruction.request_id == request_id)
                                .order_by(Instruction.party_kind.desc(), Instruction.id)))


@dataclass(frozen=True)
class SystemProgress:
    """How far one of the company's systems is with a request's decision: done (and when), or not yet."""

    system: str  # its register id
    done_at: dt.datetime | None  # when the last of its instructions was confirmed; None while one is open

    @property
    def done(self) -> bool:
        return self.done_at is not None


@dataclass(frozen=True)
class RequestProgress:
    """Where a request's decision was carried out: each system concerned, and the recipients told (Art. 19)."""

    systems: list[SystemProgress]
    recipients_told: list[str]  # register ids of the recipients whose notice was sent


def progress_of(session: Session, request_ids: Iterable[int], *, register: Register) -> dict[int, RequestProgress]:
    """The progress of each of these requests that gave instructions, in one query, in the register's order.

    The caller passes only the ids of the signed-in person's own requests: nothing here checks whose they are.
    A recipient is listed once its notice is done; a failed webhook reads as "not yet" for the person.
    """
    ids = list(request_ids)
    if not ids:
        return {}
    rows = session.execute(select(Instruction.request_id, Instruction.party_kind, Instruction.party,
                                  Instruction.status, Instruction.done_at)
                           .where(Instruction.request_id.in_(ids)))
    systems: dict[int, dict[str, dt.datetime | None]] = {}
    open_systems: dict[int, set[str]] = {}
    told: dict[int, set[str]] = {}
    for request_id, party_kind, party, status, done_at in rows:
        if request_id is None:
            continue
        if party_kind == SYSTEM:
            latest = systems.setdefault(request_id, {}).get(party)
            if done_at is not None and (latest is None or done_at > latest):
                latest = done_at
            systems[request_id][party] = latest
            if status != DONE:
                open_systems.setdefault(request_id, set()).add(party)
        elif status == DONE:
            told.setdefault(request_id, set()).add(party)
    progress = {}
    for request_id in systems.keys() | told.keys():
        held, waiting = systems.get(request_id, {}), open_systems.get(request_id, set())
        progress[request_id] = RequestProgress(
            systems=[SystemProgress(system_id, None if system_id in waiting else held[system_id])
                     for system_id in register.systems if system_id in held],
            recipients_told=[r for r in register.recipients if r in told.get(request_id, set())],
        )
    return progress


class InstructionRefused(Exception):
    """An instruction that cannot be confirmed: unknown, or already done."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def confirm(session: Session, ctx: Context, instruction_id: int, *, by: str) -> Instruction:
    """Record that a system (or whoever sends a recipient's notice) carried an instruction out; commits.

    `by` is who confirmed: "system:<id>" for a webhook's answer or call-back, the staff actor for a task.
    When it was the last open instruction of a request waiting for its systems, the request is completed.
    """
    instruction = session.get(Instruction, instruction_id, with_for_update=True, populate_existing=True)
    if instruction is None:
        raise InstructionRefused("not_found")
    if instruction.status == DONE:
        raise InstructionRefused("already_done")
    instruction.status, instruction.done_at, instruction.done_by = DONE, ctx.now, by
    instruction.claimed_until = None
    # Linked to the person only while we still hold data on them: an erased person's trail stays forgotten.
    held = session.scalar(select(Subject.id).where(Subject.email == instruction.subject_email)) is not None
    ctx.audit(session, "instruction_confirmed", target=f"instruction:{instruction.id}",
              details={"party": f"{instruction.party_kind}:{instruction.party}", "event": instruction.event_type,
                       "by": by.split(":", 1)[0], "request": instruction.request_id},
              subject_email=instruction.subject_email if held else None)
    if not held:
        _forget_address(ctx, instruction)
    session.flush()
    if instruction.request_id is not None:
        complete_if_carried_out(session, ctx, instruction.request_id)
    session.commit()
    return instruction


def _forget_address(ctx: Context, instruction: Instruction) -> None:
    """A carried-out instruction about a person we no longer hold keeps the keyed hash, not the address."""
    key = ctx.subject_key(instruction.subject_email)
    body = json.loads(instruction.payload)
    body["data"]["subject"] = {"key": key}
    instruction.payload = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    instruction.subject_email = f"key:{key}"


def complete_if_carried_out(session: Session, ctx: Context, request_id: int) -> bool:
    """Complete a request that waits for its systems once none is left; whether it was completed now."""
    from portal.services.requests import change_status  # requests -> context -> (listeners) -> here

    # Locked before counting: two systems confirming the last two instructions at once would otherwise each
    # count the other's as open, and the request would wait for ever. The second waits here for the first.
    request = session.get(RightsRequest, request_id, with_for_update=True)
    if request is None or request.status != lifecycle.CARRYING_OUT or open_for_request(session, request_id):
        return False
    change_status(session, ctx, request_id, to=lifecycle.COMPLETED, note=None)
    return True


def retry(session: Session, ctx: Context, instruction_id: int) -> bool:
    """Send a failed webhook again (after its system was fixed); whether there was one. Commits."""
    result = session.execute(
        update(Instruction).where(Instruction.id == instruction_id, Instruction.status == FAILED)
        .values(status=PENDING, attempts=0, next_attempt_at=ctx.now, claimed_until=None)
    )
    done = bool(result.rowcount)  # type: ignore[attr-defined]
    if done:
        ctx.audit(session, "instruction_retried", target=f"instruction:{instruction_id}")
    session.commit()
    return done
