"""What the company's systems hear: one instruction per system that holds affected data, written with the change;
recipients told of rectifications, erasures and restrictions (Art. 19); a request completed when its systems are."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.models import DataItem, Instruction, RightsRequest, Subject, Suppression
from portal.services import decisions, instructions, requests
from portal.services.instructions import InstructionRefused
from tests.support.contexts import NOW, TODAY, context
from tests.support.nina import DPO, NINA, nina

LISTEN = (instructions.carry_out,)


def told(session) -> dict[str, dict]:
    """Each party told, with the `data` of its event."""
    rows = session.scalars(select(Instruction).order_by(Instruction.id))
    return {f"{row.party_kind}:{row.party}": {"type": row.event_type, "status": row.status, "delivery": row.delivery,
                                              **json.loads(row.payload)["data"]} for row in rows}


def erase_nina(session, register) -> RightsRequest:
    made = requests.submit_request(session, context(register), email=NINA, right="erasure", idempotency_key="e",
                                   scope="all")
    done, _plan = decisions.complete(session, context(register, actor=DPO, listeners=LISTEN), made.id, "Done")
    return done


@pytest.mark.clause("2.4.withdrawal")
def test_a_withdrawn_consent_reaches_the_system_that_keeps_it_and_only_that_one(session, register):
    nina(session)
    made = requests.withdraw_consent(session, context(register, listeners=LISTEN), email=NINA, purpose_id="visitor.2",
                                     idempotency_key="w")
    parties = told(session)
    assert list(parties) == ["system:newsletter"]  # the register: the newsletter tool keeps visitor.2's consents
    event = parties["system:newsletter"]
    assert (event["type"], event["purposes"], event["request"], event["subject"]) == (
        "consent.withdrawn", ["visitor.2"], made.id, {"email": NINA})
    assert event["delivery"] == "webhook" and event["status"] == "pending"
    (suppressed,) = session.scalars(select(Suppression))
    assert (suppressed.purpose, suppressed.reason, suppressed.on) == ("visitor.2", "consent_withdrawn", TODAY)
    assert NINA not in suppressed.subject_key and len(suppressed.subject_key) == 64  # a keyed hash, not the address


@pytest.mark.clause("2.4.erasure")
def test_an_erasure_tells_each_system_what_to_erase_and_what_to_keep_and_waits_for_them(session, register):
    nina(session)
    done = erase_nina(session, register)
    assert done.status == "carrying_out"  # decided and told; completed when the systems have carried it out
    parties = told(session)
    # Nina's newsletter contact data go (the newsletter tool); her running customer relation keeps its data.
    assert parties["system:newsletter"]["erase"] == [{"relation": "visitor", "category": "contact", "items": 1}]
    assert "system:accounting" not in parties and "system:crm" not in parties  # they erase nothing of hers
    # Art. 19: the recipients of the visitor purposes using contact data hear of it, as tasks.
    assert {p for p in parties if p.startswith("recipient:")} == {"recipient:processors", "recipient:cookie_parties"}
    assert all(parties[p]["delivery"] == "manual" for p in parties if p.startswith("recipient:"))
    (suppressed,) = session.scalars(select(Suppression))
    assert (suppressed.relation, suppressed.category, suppressed.reason, suppressed.systems) == (
        "visitor", "contact", "erasure", "newsletter")


def test_the_request_completes_when_its_last_system_confirms_and_not_before(session, register):
    nina(session)
    done = erase_nina(session, register)
    system = session.scalar(select(Instruction).where(Instruction.party_kind == "system"))
    ctx = context(register, actor=DPO)
    # The recipients' notices are told to the person as they are sent, but do not hold the request back.
    confirmed = instructions.confirm(session, ctx, system.id, by="system:newsletter")
    assert (confirmed.status, confirmed.done_by, confirmed.done_at) == ("done", "system:newsletter", NOW)
    session.refresh(done)
    assert done.status == "completed" and [e.status for e in done.events][-2:] == ["carrying_out", "completed"]
    with pytest.raises(InstructionRefused):
        instructions.confirm(session, ctx, system.id, by="system:newsletter")  # once is enough


def test_a_request_waiting_for_its_systems_cannot_be_decided_again(session, register):
    nina(session)
    done = erase_nina(session, register)
    with pytest.raises(requests.RequestRefused):
        decisions.complete(session, context(register, actor=DPO, listeners=LISTEN), done.id, "Again")
    with pytest.raises(requests.RequestRefused):
        decisions.refuse(session, context(register, actor=DPO), done.id, "excessive", "No")
    assert session.scalar(select(RightsRequest.status).where(RightsRequest.id == done.id)) == "carrying_out"


def test_a_rectification_tells_the_system_holding_the_value_its_old_and_new_value(session, register):
    nina(session)
    phone = session.scalar(select(DataItem).where(DataItem.field == "phone"))
    made = requests.submit_request(session, context(register), email=NINA, right="rectification", idempotency_key="r",
                                   changes=[(phone.id, "phone", phone.value, "+32 9 765 43 21")])
    done, _plan = decisions.complete(session, context(register, actor=DPO, listeners=LISTEN), made.id, "Done",
                                     approved_changes={c.id for c in made.changes})
    parties = told(session)
    assert parties["system:crm"]["changes"] == [{"relation": "customer", "category": "contact", "field": "phone",
                                                 "old": "+32 9 123 45 67", "new": "+32 9 765 43 21"}]
    assert "recipient:processors" in parties  # customer purposes share contact data with processors (Art. 19)
    assert done.status == "carrying_out"


def test_an_objection_to_direct_marketing_reaches_every_system_using_a_marketing_purpose(session, register):
    nina(session)
    ctx = context(register, listeners=LISTEN)
    requests.object_to_direct_marketing(session, ctx, email=NINA, idempotency_key="o")
    parties = told(session)
    using = {system.id for purpose in register.purposes.values() if purpose.direct_marketing
             for system in register.systems_keeping_consent(purpose.id)
             + [s for c in purpose.categories for s in register.systems_holding(purpose.relation, c)]}
    assert {p.removeprefix("system:") for p in parties} == using
    assert {s.purpose for s in session.scalars(select(Suppression))} == {
        p.id for p in register.purposes.values() if p.direct_marketing}
    requests.lift_direct_marketing_objection(session, ctx, email=NINA, idempotency_key="l")
    assert all(s.lifted_at == NOW for s in session.scalars(select(Suppression)))


def test_every_instruction_has_its_own_event_id_and_a_payload_that_names_its_type(session, register):
    nina(session)
    erase_nina(session, register)
    rows = list(session.scalars(select(Instruction)))
    assert len({row.event_id for row in rows}) == len(rows)
    for row in rows:
        body = json.loads(row.payload)
        assert body["type"] == row.event_type and body["data"]["event_id"] == row.event_id


def test_a_carried_out_instruction_about_a_person_erased_entirely_keeps_no_address(session, register):
    nina(session)
    made = requests.submit_request(session, context(register), email=NINA, right="erasure", idempotency_key="x",
                                   scope="all")
    decisions.complete(session, context(register, actor=DPO, listeners=LISTEN), made.id, "Done")
    # Nina is still a running customer, so she is still held: the instruction keeps her address for now.
    newsletter = session.scalar(select(Instruction).where(Instruction.party == "newsletter"))
    for subject in session.scalars(select(Subject)):
        session.delete(subject)  # as if the retention sweep removed the rest of her since
    session.commit()
    instructions.confirm(session, context(register, actor=DPO), newsletter.id, by="system:newsletter")
    session.refresh(newsletter)
    assert NINA not in newsletter.payload and NINA not in newsletter.subject_email
    assert json.loads(newsletter.payload)["data"]["subject"] == {"key": context(register).subject_key(NINA)}
