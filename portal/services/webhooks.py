"""Instructions delivered as signed webhooks (Standard Webhooks), retried until their system answers.

`deliver_due` posts every due webhook instruction (see services/instructions.py) to its party's endpoint:
the instruction's `payload` exactly as written, with the headers `webhook-id` (its `event_id`, the same on
every attempt, so that a system recognises a repeat), `webhook-timestamp` and `webhook-signature`, signed
by the `standardwebhooks` library with the party's secret. A 2xx answer means done; 202 means accepted,
the system confirming later (`POST /api/v1/events/<id>/confirmation`, portal/api/events.py); anything
else, or no answer, is tried again after a growing pause, and after `GIVE_UP_AFTER` attempts the
instruction is failed, for the back office to retry. Rows are claimed with a lease, like the outbox's
mail, so that two workers never post the same event at the same time. docs/webhooks.md is the contract.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook, WebhookVerificationError

from portal import clock
from portal.config import WebhookEndpoint
from portal.models import Instruction
from portal.services import instructions
from portal.services.context import Context

LEASE = dt.timedelta(minutes=5)  # longer than a batch can take (BATCH posts x TIMEOUT)
BATCH = 20
TIMEOUT = 10.0  # seconds a system has to answer one event
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_PAUSE = dt.timedelta(hours=4)
GIVE_UP_AFTER = 15  # attempts: 30 s, 1 min, 2 min ... then every 4 hours, about a day in all
CONSOLE = "console"  # done_by of an event printed on the console instead of posted

log = logging.getLogger("portal.webhooks")


class Unanswered(Exception):
    """The system did not answer as it should: no connection, a timeout, or a status other than 2xx."""


def signed_headers(signer: Webhook, event_id: str, at: dt.datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: the id, the attempt's time and the signature over both and
    the body. `at` is naive UTC; the signature covers whole seconds, as the header says them."""
    at = at.replace(microsecond=0)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.replace(tzinfo=dt.UTC).timestamp())),
            "webhook-signature": signer.sign(event_id, at, body), "content-type": "application/json"}


class Webhooks:
    """The endpoints of the parties that hear by webhook, keyed "system:<id>" (config.load_webhooks), and how
    an event reaches one: posted over HTTP, or printed on `stream` for a party without a secret."""

    def __init__(self, endpoints: Mapping[str, WebhookEndpoint], *, timeout: float = TIMEOUT,
                 stream: TextIO | None = None) -> None:
        self.endpoints = dict(endpoints)
        self.timeout = timeout
        self.stream = stream
        self._signers = {key: Webhook(e.secret) for key, e in self.endpoints.items() if e.secret is not None}

    def endpoint(self, instruction: Instruction) -> WebhookEndpoint | None:
        return self.endpoints.get(f"{instruction.party_kind}:{instruction.party}")

    def signer(self, instruction: Instruction) -> Webhook | None:
        """The signer (and verifier) of a party's events: None for a party printed on the console."""
        return self._signers.get(f"{instruction.party_kind}:{instruction.party}")

    @contextmanager
    def poster(self) -> Iterator[Callable[[Instruction], int]]:
        """A function that delivers one instruction and returns the HTTP status (200 when printed), raising
        `Unanswered`; one HTTP client for the block, so a batch to one system reuses its connection.

        The webhook-timestamp is the wall clock's, whatever clock schedules the attempts: a receiver
        compares it with its own to refuse a replayed event.
        """
        clients: list[httpx.Client] = []  # made at the first post: one costs ~30 ms; most rounds post nothing

        def post(instruction: Instruction) -> int:
            key = f"{instruction.party_kind}:{instruction.party}"
            endpoint, signer = self.endpoints.get(key), self._signers.get(key)
            if endpoint is None:
                raise Unanswered(f"no webhook endpoint for {instruction.party_kind} {instruction.party!r}")
            if signer is None:
                self._print(instruction, endpoint)
                return 200
            if not clients:
                clients.append(httpx.Client(timeout=self.timeout, follow_redirects=False))
            headers = signed_headers(signer, instruction.event_id, clock.utcnow(), instruction.payload)
            try:
                answer = clients[0].post(endpoint.url, content=instruction.payload.encode(), headers=headers)
            except httpx.HTTPError as exc:
                raise Unanswered(f"{type(exc).__name__}: {exc}") from exc
            if not 200 <= answer.status_code < 300:
                raise Unanswered(f"HTTP {answer.status_code}")
            return answer.status_code

        try:
            yield post
        finally:
            for client in clients:
                client.close()

    def _print(self, instruction: Instruction, endpoint: WebhookEndpoint) -> None:
        stream = self.stream or sys.stdout
        rule = "=" * 72
        body = json.dumps(json.loads(instruction.payload), indent=2, ensure_ascii=False)
        stream.write(f"\n{rule}\nWebhook to {instruction.party_kind} {instruction.party} ({endpoint.url}), not "
                     f"signed: no secret set\n{instruction.event_type} {instruction.event_id}\n{rule}\n{body}\n"
                     f"{rule}\n\n")
        stream.flush()


def claim_due(session: Session, *, now: dt.datetime, batch: int = BATCH) -> list[int]:
    """Claim up to `batch` due webhook instructions for this worker and commit the claim; their ids, oldest first.

    As the outbox's claim (services/outbox.py): one guarded UPDATE, so that two workers never hold the same
    instruction, also on SQLite; on PostgreSQL the due rows are picked `FOR UPDATE SKIP LOCKED`.
    """
    unclaimed = or_(Instruction.claimed_until.is_(None), Instruction.claimed_until < now)
    # A CTE, not `id IN (subquery)`: PostgreSQL may rescan such a subquery for each row, and a rescan skips
    # the row this UPDATE just changed and locks the next one, so a claim of 1 took 2 (seen in the tests).
    # A CTE with FOR UPDATE is evaluated once.
    due = (select(Instruction.id)
           .where(Instruction.status == instructions.PENDING, Instruction.delivery == "webhook",
                  Instruction.next_attempt_at <= now, unclaimed)
           .order_by(Instruction.id).limit(batch).with_for_update(skip_locked=True).cte("due"))
    claimed = session.scalars(
        update(Instruction).where(Instruction.id.in_(select(due.c.id)), Instruction.status == instructions.PENDING,
                                  unclaimed)
        .values(claimed_until=now + LEASE).returning(Instruction.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted(claimed)


@dataclass
class EventReport:
    done: int = 0
    accepted: int = 0
    retried: int = 0
    failed: int = 0


def pause_after(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed attempt: doubling from FIRST_RETRY up to LONGEST_PAUSE."""
    pause: dt.timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(pause, LONGEST_PAUSE)


def deliver_due(sessions: sessionmaker[Session], webhooks: Webhooks, *, context: Callable[[], Context],
                now: Callable[[], dt.datetime] = clock.utcnow, batch: int = BATCH) -> EventReport:
    """Deliver every webhook instruction that is due now, batch by batch, and record each outcome.

    `context` makes the context of a system's answer (actor audit.SYSTEM), with which a done instruction is
    confirmed, and its request completed when it was the last (so the person is mailed: wake the mail after).
    """
    report = EventReport()
    with sessions() as session, webhooks.poster() as post:
        while True:
            claimed = claim_due(session, now=now(), batch=batch)
            rows = session.scalars(select(Instruction).where(
                Instruction.id.in_(claimed), Instruction.status == instructions.PENDING).order_by(Instruction.id)
            ).all() if claimed else []
            for instruction in rows:
                _deliver_one(session, instruction, post, webhooks=webhooks, context=context, now=now, report=report)
            if len(claimed) < batch:
                return report


def _deliver_one(session: Session, instruction: Instruction, post: Callable[[Instruction], int], *,
                 webhooks: Webhooks, context: Callable[[], Context], now: Callable[[], dt.datetime],
                 report: EventReport) -> None:
    """Post one claimed instruction and commit its outcome, counted in `report`."""
    attempts = instruction.attempts + 1
    try:
        status = post(instruction)
    except Unanswered as exc:
        gives_up = attempts >= GIVE_UP_AFTER
        outcome: dict[str, object] = {"last_error": str(exc)[:500]}
        outcome.update({"status": instructions.FAILED} if gives_up
                       else {"next_attempt_at": now() + pause_after(attempts)})
        if _record_attempt(session, instruction, attempts, outcome) and gives_up:
            report.failed += 1
            context().audit(session, "instruction_failed", target=f"instruction:{instruction.id}",
                            details={"party": f"{instruction.party_kind}:{instruction.party}",
                                     "event": instruction.event_type, "attempts": attempts})
            log.warning("Webhook %s to %s %s failed for good: %s", instruction.event_id, instruction.party_kind,
                        instruction.party, str(exc)[:500])
        elif not gives_up:
            report.retried += 1
        session.commit()
        return
    if status == 202:  # the system will carry it out and confirm by its call-back
        if _record_attempt(session, instruction, attempts, {"last_error": None, "status": instructions.ACCEPTED}):
            report.accepted += 1
        session.commit()
        return
    _record_attempt(session, instruction, attempts, {"last_error": None})
    endpoint = webhooks.endpoint(instruction)
    by = CONSOLE if endpoint is not None and endpoint.secret is None else \
        f"{instruction.party_kind}:{instruction.party}"
    try:
        instructions.confirm(session, context(), instruction.id, by=by)
    except instructions.InstructionRefused:  # confirmed meanwhile (by staff): the attempt is all there is to keep
        session.commit()
    report.done += 1


def _record_attempt(session: Session, instruction: Instruction, attempts: int, outcome: dict[str, object]) -> bool:
    """Write an attempt's outcome unless the instruction was confirmed while it was posted; whether it was written.

    A conditional UPDATE, not the loaded row: a call-back or a ticked task may have confirmed the instruction
    during the POST, and "done" must never be overwritten by "accepted" or a retry.
    """
    result = session.execute(
        update(Instruction).where(Instruction.id == instruction.id, Instruction.status == instructions.PENDING)
        .values(attempts=attempts, claimed_until=None, **outcome).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def confirm_callback(session: Session, ctx: Context, webhooks: Webhooks, event_id: str, body: bytes,
                     headers: Mapping[str, str]) -> Instruction:
    """A system's signed call-back that it carried out an accepted event (`POST .../events/<id>/confirmation`).

    Verified with the party's own secret (Standard Webhooks: signature over the call-back's own webhook-id,
    a timestamp within five minutes, and the body); the body must name the event (`data.event_id`), because
    the signature does not cover the URL. Confirming an already confirmed event changes nothing. Raises
    `CallbackRefused("not_found" | "bad_signature" | "wrong_event")`; commits.
    """
    instruction = session.scalar(select(Instruction).where(Instruction.event_id == event_id,
                                                           Instruction.delivery == "webhook"))
    if instruction is None:
        raise CallbackRefused("not_found")
    signer = webhooks.signer(instruction)
    if signer is None:
        raise CallbackRefused("bad_signature")  # nothing to verify with: nobody can sign for it
    try:
        message = signer.verify(body, {k.lower(): v for k, v in headers.items()})
    except (WebhookVerificationError, ValueError) as exc:  # ValueError: a malformed signature, base64 or JSON
        raise CallbackRefused("bad_signature") from exc
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict) or data.get("event_id") != event_id:
        raise CallbackRefused("wrong_event")
    try:
        return instructions.confirm(session, ctx, instruction.id, by=f"{instruction.party_kind}:{instruction.party}")
    except instructions.InstructionRefused:  # already done: a repeated call-back is answered as the first
        session.rollback()
        return instruction


class CallbackRefused(Exception):
    """A confirmation call-back that does not confirm anything: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

