"""The company's systems, played by the test: confirming what a decision told them to do.

A decision that changes data (an erasure, a rectification, a restriction) waits in `carrying_out` until
every system concerned has confirmed its instruction (services/instructions.py); a test that follows such
a request to its end confirms them as the systems would, then finds the request completed.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from functools import cache

from flask import Flask
from sqlalchemy.orm import Session

from portal import state
from portal.models import Instruction
from portal.policy.register import default_register
from portal.services import instructions
from tests.support.people import DPO
from tests.support.receiver import Receiver, new_secret, signed

WEBHOOK = "webhook"
ACCEPTED = 202  # "received, we will confirm when it is done": an instruction stays open until a test confirms


@cache
def company_systems() -> Receiver:
    """One receiver on 127.0.0.1 for every webhook system of the register, started once per test process.

    It verifies each event's signature and answers 202, as a system that carries an instruction out later
    and then calls back: what a test's decision told the systems stays open until the test confirms it,
    whenever the app's sender thread happens to post it.
    """
    receiver = Receiver(new_secret())
    receiver.answer = lambda _id, _attempt: ACCEPTED
    receiver.start()
    return receiver


def systems_settings() -> dict[str, str]:
    """The settings that point every webhook system of the register at `company_systems()`."""
    receiver = company_systems()
    settings: dict[str, str] = {}
    for system in default_register().systems.values():
        if system.notice.delivery == WEBHOOK:
            settings[f"SYSTEM_{system.id.upper()}_SECRET"] = receiver.secret
            settings[f"SYSTEM_{system.id.upper()}_URL"] = receiver.url
    return settings


def owner_of(instruction: Instruction) -> str:
    """Who answers for the party an instruction is for: its task goes to them."""
    register = default_register()
    party = (register.systems[instruction.party] if instruction.party_kind == instructions.SYSTEM
             else register.recipients[instruction.party])
    assert party.notice is not None
    return party.notice.owner


def events_arrived(event_ids: set[str], timeout: float = 10) -> None:
    """Wait until every event was received (signature verified) by `company_systems()`."""
    deadline = time.monotonic() + timeout
    receiver = company_systems()
    while not event_ids <= set(receiver.ids()):
        assert time.monotonic() < deadline, f"never arrived: {sorted(event_ids - set(receiver.ids()))}"
        time.sleep(0.05)


def call_back(base_url: str, event_id: str) -> int:
    """A system's signed confirmation that it carried an event out, over HTTP; the portal's status code."""
    body, headers = signed(company_systems().secret, f"confirm_{event_id}",
                           {"type": "event.confirmed", "data": {"event_id": event_id}})
    request = urllib.request.Request(f"{base_url}/api/v1/events/{event_id}/confirmation", data=body,
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test's own server
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def open_instructions(session: Session, request_id: int) -> list[Instruction]:
    """The instructions and notices of a request that nobody has confirmed yet."""
    session.expire_all()  # the app wrote them in its own sessions
    return [i for i in instructions.of_request(session, request_id) if i.status in instructions.OPEN]


def carry_out_everywhere(app: Flask, session: Session, request_id: int, *, by_staff: str = DPO) -> list[str]:
    """Confirm every open instruction of a request the way its party would; the parties confirmed, in order.

    A system that hears by webhook confirms itself ("system:<id>"); a task (a manual system, a recipient's
    notice) is confirmed by a member of staff. The last confirmation completes the request and queues its mail.
    """
    confirmed = []
    with app.app_context():
        for instruction in open_instructions(session, request_id):
            party = f"{instruction.party_kind}:{instruction.party}"
            by = f"system:{instruction.party}" if instruction.delivery == WEBHOOK else f"staff:{by_staff}"
            instructions.confirm(session, state.context(actor=by), instruction.id, by=by)
            confirmed.append(party)
        state.mail().wake()
    return confirmed
