"""The company's systems, played by the test: confirming what a decision told them to do.

A decision that changes data (an erasure, a rectification, a restriction) waits in `carrying_out` until
every system concerned has confirmed its instruction (services/instructions.py); a test that follows such
a request to its end confirms them as the systems would, then finds the request completed.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from portal import state
from portal.models import Instruction
from portal.services import instructions
from tests.support.people import DPO

WEBHOOK = "webhook"


def open_instructions(session: Session, request_id: int) -> list[Instruction]:
    """The instructions and notices of a request that nobody has confirmed yet."""
    session.expire_all()  # the app wrote them in its own sessions
    return [i for i in instructions.of_request(session, request_id) if i.status in instructions.OPEN]


def waits_for_staff(session: Session, request_id: int) -> bool:
    """Whether a task (a system that hears by a task in the back office) must still be confirmed by staff.

    A test app prints a webhook system's events and takes the print as the system's answer, in the mail
    sender's thread: a request whose systems all hear by webhook may be completed by the time a test looks.
    """
    return any(i.party_kind == instructions.SYSTEM and i.delivery != WEBHOOK
               for i in open_instructions(session, request_id))


def carry_out_everywhere(app: Flask, session: Session, request_id: int, *, by_staff: str = DPO) -> list[str]:
    """Confirm every open instruction of a request the way its party would; the parties confirmed, in order.

    A system that hears by webhook confirms itself ("system:<id>"); a task (a manual system, a recipient's
    notice) is confirmed by a member of staff. The last confirmation completes the request and queues its mail.
    One the app's webhook sender confirmed meanwhile is left as it is.
    """
    confirmed = []
    with app.app_context():
        for instruction in open_instructions(session, request_id):
            party = f"{instruction.party_kind}:{instruction.party}"
            by = f"system:{instruction.party}" if instruction.delivery == WEBHOOK else f"staff:{by_staff}"
            try:
                instructions.confirm(session, state.context(actor=by), instruction.id, by=by)
            except instructions.InstructionRefused as refused:
                assert refused.reason == "already_done", refused.reason
                session.rollback()
                continue
            confirmed.append(party)
        state.mail().wake()
    return confirmed
