"""The systems' side of the webhooks through the app: a commit wakes the delivery like the mail, `deliver-events`
posts what is due, and a system that answered 202 confirms by a signed call-back that completes the request; a
forged, unknown or misdirected call-back changes nothing. Settings: a webhook system needs its secret in
production, and plain http only to a loopback address."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from portal import state
from portal.config import ConfigError, load_webhooks
from portal.models import Instruction, RightsRequest
from portal.policy.register import default_register
from portal.services import decisions, requests
from tests.conftest import close_app, make_app
from tests.support.nina import DPO, NINA, nina
from tests.support.receiver import Receiver, new_secret, signed

SECRET = new_secret()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(SECRET)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def app(migrated_database, smtp_server, inbox, receiver) -> Iterator[Flask]:
    """The app, with the newsletter tool at the receiver; the other webhook systems print on the console."""
    app = make_app(migrated_database, SMTP_URL=smtp_server.url, SYSTEM_NEWSLETTER_SECRET=SECRET,
                   SYSTEM_NEWSLETTER_URL=receiver.url)
    yield app
    close_app(app)


def erase_nina(app: Flask) -> tuple[int, Instruction]:
    """Nina's erasure decided by the data protection manager, as the back office does; the newsletter's instruction."""
    with app.app_context(), state.database().session() as session:
        nina(session)
        made = requests.submit_request(session, state.context(), email=NINA, right="erasure",
                                       idempotency_key="e", scope="all")
        decisions.complete(session, state.context(DPO), made.id, "Done")
        instruction = session.scalar(select(Instruction).where(Instruction.party == "newsletter"))
        session.expunge(instruction)
        return made.id, instruction


def status_of(app: Flask, request_id: int) -> tuple[str, str, str | None]:
    with app.app_context(), state.database().session() as session:
        instruction = session.scalar(select(Instruction).where(Instruction.party == "newsletter"))
        return (session.scalar(select(RightsRequest.status).where(RightsRequest.id == request_id)),
                instruction.status, instruction.done_by)


def test_the_commit_that_wrote_an_instruction_wakes_its_delivery_like_the_mail(app, receiver):
    request_id, instruction = erase_nina(app)
    with app.app_context():
        state.mail().wake()  # what every route does after its commit
    (arrived,) = receiver.wait_for(1)
    assert arrived.webhook_id == instruction.event_id
    for _ in range(100):  # the answer is recorded by the sender's thread just after
        if status_of(app, request_id)[0] == "completed":
            break
        time.sleep(0.05)
    assert status_of(app, request_id) == ("completed", "done", "system:newsletter")


def test_a_202_then_a_signed_call_back_completes_the_request_once(app, client, runner, receiver):
    receiver.answer = lambda _id, _attempt: 202
    request_id, instruction = erase_nina(app)
    result = runner.invoke(args=["deliver-events"])
    assert "1 accepted" in result.output, result.output
    assert status_of(app, request_id) == ("carrying_out", "accepted", None)
    url = f"/api/v1/events/{instruction.event_id}/confirmation"
    body, headers = signed(SECRET, "msg_callback_1", {"type": "event.confirmed", "timestamp": "2026-01-31T10:00:00Z",
                                                      "data": {"event_id": instruction.event_id}})
    answer = client.post(url, data=body, headers=headers)
    assert answer.status_code == 204, answer.get_data(as_text=True)
    assert status_of(app, request_id) == ("completed", "done", "system:newsletter")
    # A repeated call-back (the system retried it) is answered the same and changes nothing.
    assert client.post(url, data=body, headers=headers).status_code == 204
    assert status_of(app, request_id) == ("completed", "done", "system:newsletter")


def test_a_forged_unknown_or_misdirected_call_back_confirms_nothing(app, client, receiver):
    receiver.answer = lambda _id, _attempt: 202
    request_id, instruction = erase_nina(app)
    confirming = {"type": "event.confirmed", "data": {"event_id": instruction.event_id}}
    url = f"/api/v1/events/{instruction.event_id}/confirmation"
    body, headers = signed(new_secret(), "msg_forged", confirming)  # not the newsletter's secret
    assert client.post(url, data=body, headers=headers).status_code == 401
    body, headers = signed(SECRET, "msg_tampered", confirming)
    assert client.post(url, data=body.replace(b"confirmed", b"confirmeD"), headers=headers).status_code == 401
    assert client.post(url, data=body, headers={"content-type": "application/json"}).status_code == 401  # unsigned
    unknown = "/api/v1/events/msg_000000000000000000000000/confirmation"
    assert client.post(unknown, data=body, headers=headers).status_code == 404
    # A valid call-back for another event, replayed at this event's address: the signature does not cover the URL.
    body, headers = signed(SECRET, "msg_other", {"type": "event.confirmed", "data": {"event_id": "msg_other"}})
    assert client.post(url, data=body, headers=headers).status_code == 400
    assert status_of(app, request_id)[0] == "carrying_out"


def test_production_refuses_to_start_without_a_webhook_systems_secret():
    register = default_register()
    with pytest.raises(ConfigError, match="PORTAL_SYSTEM_CRM_SECRET is not set"):
        load_webhooks({}, register, env="production")
    secrets = {f"SYSTEM_{s.id.upper()}_SECRET": new_secret() for s in register.systems.values()}
    endpoints = load_webhooks(secrets, register, env="production")
    assert endpoints["system:crm"].url == "https://crm.we-are.be/hooks/privacy-portal"
    assert "system:accounting" not in endpoints  # a manual system hears through the back office
    with pytest.raises(ConfigError, match="PORTAL_SYSTEM_CRM_SECRET must be a Standard Webhooks secret"):
        load_webhooks({**secrets, "SYSTEM_CRM_SECRET": "hunter2"}, register, env="production")
    with pytest.raises(ConfigError, match="PORTAL_WEBHOOK_DELIVERY=console"):
        load_webhooks({**secrets, "WEBHOOK_DELIVERY": "console"}, register, env="production")


@pytest.mark.parametrize(("url", "env", "allowed"), [
    ("http://127.0.0.1:8080/hooks", "development", True),
    ("http://localhost:8080/hooks", "test", True),
    ("http://[::1]:8080/hooks", "test", True),
    ("http://127.0.0.1:8080/hooks", "production", False),
    ("http://crm.internal/hooks", "development", False),
    ("https://crm.staging.we-are.be/hooks", "production", True),
    ("ftp://127.0.0.1/hooks", "test", False),
])
def test_a_url_override_is_https_or_plain_http_to_loopback_outside_production(url, env, allowed):
    register = default_register()
    raw = {f"SYSTEM_{s.id.upper()}_SECRET": new_secret() for s in register.systems.values()}
    raw["SYSTEM_CRM_URL"] = url
    if allowed:
        assert load_webhooks(raw, register, env=env)["system:crm"].url == url
    else:
        with pytest.raises(ConfigError, match="PORTAL_SYSTEM_CRM_URL must be an https address"):
            load_webhooks(raw, register, env=env)


def test_in_development_a_system_without_a_secret_or_with_the_console_setting_is_printed():
    register = default_register()
    assert load_webhooks({}, register, env="development")["system:crm"].secret is None
    endpoints = load_webhooks({"SYSTEM_CRM_SECRET": new_secret(), "WEBHOOK_DELIVERY": "console"}, register,
                              env="development")
    assert endpoints["system:crm"].secret is None
