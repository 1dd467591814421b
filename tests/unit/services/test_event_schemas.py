"""Every event the systems receive matches its published, versioned JSON Schema (portal/schemas/events/), for every
kind of change: the schema a system validates against is the contract, and the payloads may not drift from it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import select

from portal.models import Instruction
from portal.services import instructions, requests
from portal.services.context import AffectedData, Effect, EffectKind, ValueChange
from portal.services.instructions import EVENT_TYPES
from tests.support.contexts import context
from tests.support.nina import NINA, nina

SCHEMAS = Path(instructions.__file__).resolve().parent.parent / "schemas" / "events"
CONTACT = AffectedData("visitor", "contact", items=1)
KEPT = AffectedData("customer", "payment", items=2, until=dt.date(2033, 12, 31), reason="tax law")

# One effect of each kind, with data that reach systems (and, where Art. 19 applies, recipients).
EFFECTS = {
    EffectKind.CONSENT_WITHDRAWN: Effect(EffectKind.CONSENT_WITHDRAWN, NINA, 1, purposes=("visitor.2",)),
    EffectKind.CONSENT_GIVEN: Effect(EffectKind.CONSENT_GIVEN, NINA, 2, purposes=("visitor.2",)),
    EffectKind.CONSENT_RENEWED: Effect(EffectKind.CONSENT_RENEWED, NINA, purposes=("applicant.2",)),
    EffectKind.MARKETING_OBJECTION: Effect(EffectKind.MARKETING_OBJECTION, NINA, 3, purposes=("visitor.2",)),
    EffectKind.MARKETING_OBJECTION_LIFTED: Effect(EffectKind.MARKETING_OBJECTION_LIFTED, NINA, 4,
                                                  purposes=("visitor.2",)),
    EffectKind.OBJECTION_UPHELD: Effect(EffectKind.OBJECTION_UPHELD, NINA, 5, purposes=("visitor.2",)),
    EffectKind.ERASED: Effect(EffectKind.ERASED, NINA, 6, data=(CONTACT,), kept=(KEPT,)),
    EffectKind.RECTIFIED: Effect(EffectKind.RECTIFIED, NINA, 7, changes=(
        ValueChange("customer", "contact", "phone", "+32 9 123 45 67", "+32 9 765 43 21"),
        ValueChange("visitor", "contact", "name", None, "Nina"))),
    EffectKind.RESTRICTED: Effect(EffectKind.RESTRICTED, NINA, 8, data=(CONTACT,)),
    EffectKind.RETENTION_ERASED: Effect(EffectKind.RETENTION_ERASED, NINA, data=(CONTACT,), kept=(KEPT,)),
    EffectKind.ADDRESS_CHANGED: Effect(EffectKind.ADDRESS_CHANGED, NINA, new_email="nina@new.example"),
    EffectKind.ADDRESS_CHANGE_UNDONE: Effect(EffectKind.ADDRESS_CHANGE_UNDONE, "nina@new.example", new_email=NINA),
}


def schema(event_type: str) -> dict:
    return json.loads((SCHEMAS / f"{event_type}.v1.json").read_text(encoding="utf-8"))


def test_every_event_type_has_one_schema_and_no_schema_is_left_over():
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(f"{t}.v1.json" for t in EVENT_TYPES.values())
    for event_type in EVENT_TYPES.values():
        jsonschema.Draft202012Validator.check_schema(schema(event_type))
        assert schema(event_type)["properties"]["type"] == {"const": event_type}


@pytest.mark.parametrize("kind", list(EffectKind), ids=str)
def test_every_payload_carry_out_writes_matches_its_schema(session, register, kind):
    nina(session)
    effect = EFFECTS[kind]
    if effect.request_id is not None:  # a request that exists: the instruction refers to it
        made = requests.submit_request(session, context(register), email=NINA, right="erasure", idempotency_key="e",
                                       scope="all")
        effect = replace(effect, request_id=made.id)
    context(register, listeners=(instructions.carry_out,)).took_effect(session, effect)
    written = session.scalars(select(Instruction)).all()
    assert written, f"no system hears of {kind}: pick data a system holds"
    validator = jsonschema.Draft202012Validator(schema(EVENT_TYPES[kind]),
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for instruction in written:
        body = json.loads(instruction.payload)
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert problems == [], f"{instruction.party_kind}:{instruction.party}"
        assert body["data"]["event_id"] == instruction.event_id and body["type"] == instruction.event_type


def test_a_payload_that_drifts_from_its_schema_is_caught():
    body = {"type": "data.erased", "timestamp": "2026-01-31T10:00:00Z",
            "data": {"event_id": "msg_" + "0" * 24, "system": "crm", "subject": {"email": NINA}, "request": 1,
                     "erase": [{"relation": "visitor", "category": "contact", "count": 1}], "keep": []}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema("data.erased"))
