"""The back office's side of the instructions: tasks for the owners of manual systems, progress, reminders.

A system or recipient whose notice is "manual" hears of a change as a task in the back office: its owner
(the register's `notice.owner`, a staff account with that address) or the data protection manager does
what it says and ticks it; `instructions.confirm` records who and when. Webhook deliveries that kept
failing are listed here too, beside the failed mails, to be sent again (`instructions.retry`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import Instruction, OwnerReminder, RightsRequest
from portal.policy.register import Notice, Register
from portal.policy.text import Text
from portal.services import instructions
from portal.services.context import Context
from portal.services.mail import MailContent

MANUAL = "manual"


class TaskRefused(Exception):
    """A task that cannot be ticked: unknown, not a task, already done, or not the reader's to tick."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Task:
    """One instruction as the back office shows it: to whom, what (the payload's `data`), and how far it is."""

    instruction: Instruction
    party_name: Text  # the system's name ("our CRM") or the recipient's
    owner: str
    data: dict[str, Any]

    @property
    def id(self) -> int:
        return self.instruction.id

    @property
    def is_manual(self) -> bool:
        return self.instruction.delivery == MANUAL

    @property
    def done(self) -> bool:
        return self.instruction.status == instructions.DONE


@dataclass(frozen=True)
class TaskGroup:
    """The open tasks of one system or recipient, with who answers for it."""

    party_kind: str
    party: str
    name: Text
    owner: str
    tasks: list[Task] = field(default_factory=list)


def notice_of(register: Register, party_kind: str, party: str) -> tuple[Text, Notice] | None:
    """A party's name and notice as the register holds them, or None for a party the register no longer names."""
    if party_kind == instructions.SYSTEM and party in register.systems:
        system = register.systems[party]
        return system.name, system.notice
    recipient = register.recipients.get(party) if party_kind == instructions.RECIPIENT else None
    if recipient is not None and recipient.notice is not None:
        return recipient.name, recipient.notice
    return None


def as_task(register: Register, instruction: Instruction) -> Task:
    """An instruction with its party's name and owner and its payload's data."""
    found = notice_of(register, instruction.party_kind, instruction.party)
    name, owner = (found[0], found[1].owner) if found else (Text(nl=instruction.party, en=instruction.party), "")
    return Task(instruction, name, owner, json.loads(instruction.payload).get("data", {}))


def may_tick(task: Task, *, email: str, decides: bool) -> bool:
    """Who may tick a task: its owner, or the data protection manager; only an open manual one."""
    return task.is_manual and not task.done and (decides or email == task.owner)


def _open_manual() -> Any:
    return select(Instruction).where(Instruction.delivery == MANUAL, Instruction.status.in_(instructions.OPEN))


def open_tasks(session: Session, register: Register, *, owner: str | None = None) -> list[TaskGroup]:
    """The open manual tasks, grouped by system (in the register's order), then by recipient; oldest first."""
    groups: dict[tuple[str, str], TaskGroup] = {}
    for instruction in session.scalars(_open_manual().order_by(Instruction.created_at, Instruction.id)):
        task = as_task(register, instruction)
        if owner is not None and task.owner != owner:
            continue
        key = (instruction.party_kind, instruction.party)
        groups.setdefault(key, TaskGroup(key[0], key[1], task.party_name, task.owner)).tasks.append(task)
    order = [(instructions.SYSTEM, s) for s in register.systems] + [(instructions.RECIPIENT, r)
                                                                   for r in register.recipients]
    return sorted(groups.values(), key=lambda g: order.index((g.party_kind, g.party))
                  if (g.party_kind, g.party) in order else len(order))


def open_count(session: Session) -> int:
    """How many manual tasks wait: the figure beside the tasks in the back office's navigation."""
    return session.scalar(select(func.count()).select_from(_open_manual().subquery())) or 0


def of_request(session: Session, register: Register, request_id: int) -> list[Task]:
    """Every instruction and notice of a request's decision, as tasks: its progress per system and recipient."""
    return [as_task(register, i) for i in instructions.of_request(session, request_id)]


def tick(session: Session, ctx: Context, instruction_id: int, *, email: str, decides: bool) -> Task:
    """A task done: by its owner or the data protection manager; completes the request when it was the last.

    Commits (through `instructions.confirm`, which records who confirmed and when in the audit trail).
    """
    instruction = session.get(Instruction, instruction_id)
    if instruction is None or instruction.delivery != MANUAL:
        raise TaskRefused("not_found")
    task = as_task(ctx.register, instruction)
    if task.done:
        raise TaskRefused("already_done")
    if not may_tick(task, email=email, decides=decides):
        raise TaskRefused("not_yours")
    try:
        confirmed = instructions.confirm(session, ctx, instruction_id, by=ctx.actor)
    except instructions.InstructionRefused as refused:  # ticked at the same moment in another window
        session.rollback()
        raise TaskRefused(refused.reason) from refused
    return as_task(ctx.register, confirmed)


def request_completed(session: Session, request_id: int | None) -> bool:
    """Whether a request is completed (after its last task was ticked)."""
    if request_id is None:
        return False
    return session.scalar(select(RightsRequest.status).where(RightsRequest.id == request_id)) == "completed"


def failed_deliveries(session: Session, register: Register, *, limit: int = 200) -> list[Task]:
    """Webhook deliveries given up on after their retries, newest first: to send again once the system is fixed."""
    query = (select(Instruction).where(Instruction.delivery != MANUAL, Instruction.status == instructions.FAILED)
             .order_by(Instruction.created_at.desc(), Instruction.id.desc()).limit(limit))
    return [as_task(register, i) for i in session.scalars(query)]


def lagging(session: Session, request_ids: Iterable[int]) -> dict[int, int]:
    """Per request, how many of its systems have not yet confirmed: one grouped count for a page of requests."""
    ids = list(request_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Instruction.request_id, func.count()).where(
            Instruction.request_id.in_(ids), Instruction.party_kind == instructions.SYSTEM,
            Instruction.status.in_(instructions.OPEN)).group_by(Instruction.request_id))
    return {request_id: count for request_id, count in rows if request_id is not None}


# --- the owners' daily mail ------------------------------------------------------------------------------

ComposeReminder = Callable[[str, list[TaskGroup]], MailContent]


def _claim_today(session: Session, owner: str, today: dt.date) -> bool:
    """Whether this run may mail `owner` today: a guarded UPDATE (or the first row), so two runs mail once."""
    moved = session.execute(update(OwnerReminder).where(OwnerReminder.owner == owner, OwnerReminder.sent_on < today)
                            .values(sent_on=today))
    if moved.rowcount:  # type: ignore[attr-defined]
        return True
    if session.get(OwnerReminder, owner) is not None:
        return False  # mailed today already
    try:
        with session.begin_nested():
            session.add(OwnerReminder(owner=owner, sent_on=today))
    except IntegrityError:  # another run inserted it first: that run mails
        return False
    return True


def remind_owners(session: Session, ctx: Context, compose: ComposeReminder) -> list[str]:
    """Mail each owner their open tasks, at most once a company day; the owners mailed now. Commits per owner."""
    by_owner: dict[str, list[TaskGroup]] = {}
    for group in open_tasks(session, ctx.register):
        if group.owner:
            by_owner.setdefault(group.owner, []).append(group)
    session.rollback()  # the read is done: each owner's claim and mail are their own transaction
    mailed = []
    for owner, groups in by_owner.items():
        if not _claim_today(session, owner, ctx.today):
            session.rollback()
            continue
        ctx.mail(session, owner, compose(owner, groups))
        ctx.audit(session, "owner_reminded", details={"tasks": sum(len(g.tasks) for g in groups)},
                  personal={"owner": owner})
        session.commit()
        mailed.append(owner)
    return mailed
