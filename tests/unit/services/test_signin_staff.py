"""Signing in to the back office: links only for active staff, sessions of their own audience, a shorter leash.

The staff sign-in page must not reveal who works the back office, so an address that is not staff gets
the same kind of answer and no mail; a staff session never opens a person's pages and the reverse.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

import pytest
from sqlalchemy import func, select

from portal.models import AuthSession, OutboxMail, SignInToken, Staff, Subject
from portal.policy.register import default_register
from portal.services import signin
from portal.services.limits import AbuseLimits
from portal.services.mail import MailContent
from portal.services.signin import (
    IDLE_TIMEOUT,
    STAFF_IDLE_TIMEOUT,
    InvalidLink,
    IssuedLink,
    SignInSettings,
)
from portal.services.tokens import CODE_MARK, LINK_MARK, link_code, link_token
from tests.conftest import CSRF_FIELD, csrf_token_from
from tests.support.contexts import LinkNotifier, context
from tests.support.people import DPO

NOW = dt.datetime(2026, 11, 25, 9, 30, 0)
REGISTER = default_register()
SETTINGS = SignInSettings(secret="unit-test-secret-" + "k" * 32, sender_domain="we-are.be")


def compose(issued: IssuedLink) -> MailContent:
    return MailContent(subject=f"[{issued.language}] {issued.purpose}",
                       text=f"https://portal.example/staff/sign-in/{LINK_MARK}\ncode: {CODE_MARK}\n",
                       html=f'<a href="https://portal.example/staff/sign-in/{LINK_MARK}">{CODE_MARK}</a>')


@pytest.fixture
def limits() -> AbuseLimits:
    return AbuseLimits("memory://")


def add_staff(session, email: str = DPO, *, role: str = "dpo", disabled: bool = False) -> Staff:
    staff = Staff(email=email, role=role, created_at=NOW - dt.timedelta(days=30),
                  disabled_at=NOW - dt.timedelta(days=1) if disabled else None)
    session.add(staff)
    session.commit()
    return staff


def ask(session, limits, raw_email: str = DPO, *, purpose: str = "staff_sign_in", now: dt.datetime = NOW,
        page_language: str = "en") -> IssuedLink:
    limits.reset()
    return signin.request_link(session, context(REGISTER, now=now, notifier=LinkNotifier(compose)),
                               raw_email=raw_email, purpose=purpose, page_language=page_language,
                               next_path="/staff/requests", client="192.0.2.1", limits=limits, settings=SETTINGS)


def link_and_code(session, issued: IssuedLink) -> tuple[str, str]:
    row = session.get(SignInToken, issued.attempt_id)
    return link_token(SETTINGS.secret, row.id, row.nonce), link_code(SETTINGS.secret, row.id, row.nonce)


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def staff_signed_in(session, limits, *, now: dt.datetime = NOW) -> signin.StartedSession:
    token, _code = link_and_code(session, ask(session, limits, now=now))
    return signin.redeem_link(session, token, settings=SETTINGS, now=now)


def person_signed_in(session, limits, email: str = "an.peeters@example.com", *, now: dt.datetime = NOW):
    token, _code = link_and_code(session, ask(session, limits, email, purpose="sign_in", now=now))
    return signin.redeem_link(session, token, settings=SETTINGS, now=now)


# --- the link ------------------------------------------------------------------------------------------


def test_an_active_staff_member_gets_a_link_and_its_mail(session, limits):
    add_staff(session)
    issued = ask(session, limits, "  DPO@We-Are.BE ")
    assert (issued.email, issued.purpose, issued.language) == (DPO, "staff_sign_in", "en")
    row = session.get(SignInToken, issued.attempt_id)
    assert (row.email, row.purpose, row.expires_at) == (DPO, "staff_sign_in", NOW + dt.timedelta(minutes=10))
    mail = session.scalar(select(OutboxMail))
    assert (mail.recipient, mail.sign_in_token_id, mail.status) == (DPO, row.id, "pending")


@pytest.mark.parametrize("who", ["stranger", "person", "disabled", "other-staff"])
def test_anyone_else_gets_the_same_answer_and_no_mail(session, limits, who):
    address = {"stranger": "nobody@example.com", "person": "an.peeters@example.com", "disabled": "gone@we-are.be",
               "other-staff": "dpo@we-are.be.evil.example"}[who]
    add_staff(session)
    add_staff(session, "gone@we-are.be", disabled=True)
    session.add(Subject(email="an.peeters@example.com", name="An", language="nl"))
    session.commit()
    issued = ask(session, limits, address.upper(), page_language="nl")
    assert isinstance(issued, IssuedLink)
    assert (issued.email, issued.purpose, issued.language) == (address, "staff_sign_in", "nl")
    # A decoy attempt like a staff member's (its number is in the browser's cookie), with no mail and
    # with hashes that no link or code can match.
    decoy = session.get(SignInToken, issued.attempt_id)
    assert (decoy.email, decoy.purpose, decoy.spent_at) == (address, "staff_sign_in", None)
    assert count(session, SignInToken) == 1 and count(session, OutboxMail) == 0
    token, code = signin.link_token(SETTINGS.secret, decoy.id, decoy.nonce), signin.link_code(
        SETTINGS.secret, decoy.id, decoy.nonce)
    with pytest.raises(signin.InvalidLink):
        signin.redeem_link(session, token, settings=SETTINGS, now=NOW)
    with pytest.raises(signin.WrongCode):
        signin.redeem_code(session, decoy.id, code, settings=SETTINGS, now=NOW)


def test_a_person_sign_in_link_for_a_staff_address_opens_a_person_session(session, limits):
    add_staff(session)
    token, _code = link_and_code(session, ask(session, limits, purpose="sign_in"))
    started = signin.redeem_link(session, token, settings=SETTINGS, now=NOW)
    assert started.audience == signin.PERSON
    assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW, audience=signin.STAFF) is None


# --- the session ---------------------------------------------------------------------------------------


def test_a_staff_link_opens_a_staff_session(session, limits):
    add_staff(session)
    started = staff_signed_in(session, limits)
    assert (started.email, started.audience, started.next_path) == (DPO, "staff", "/staff/requests")
    row = session.scalar(select(AuthSession))
    assert (row.email, row.audience) == (DPO, "staff")
    auth = signin.current_session(session, started.key, settings=SETTINGS, now=NOW, audience=signin.STAFF)
    assert auth is not None and auth.id == row.id


def test_a_staff_code_opens_a_staff_session_too(session, limits):
    add_staff(session)
    issued = ask(session, limits)
    _token, code = link_and_code(session, issued)
    started = signin.redeem_code(session, issued.attempt_id, code, settings=SETTINGS, now=NOW)
    assert started.audience == signin.STAFF
    assert session.scalar(select(AuthSession.audience)) == "staff"


def test_a_session_opens_only_the_pages_of_its_own_audience(session, limits):
    add_staff(session)
    staff = staff_signed_in(session, limits)
    person = person_signed_in(session, limits)
    later = NOW + dt.timedelta(minutes=2)
    assert signin.current_session(session, staff.key, settings=SETTINGS, now=later) is None  # person is the default
    assert signin.current_session(session, staff.key, settings=SETTINGS, now=later, audience=signin.PERSON) is None
    assert signin.current_session(session, person.key, settings=SETTINGS, now=later, audience=signin.STAFF) is None
    assert signin.current_session(session, staff.key, settings=SETTINGS, now=later, audience=signin.STAFF)
    assert signin.current_session(session, person.key, settings=SETTINGS, now=later, audience=signin.PERSON)
    # Being refused by the other audience does not end either session.
    assert session.scalars(select(AuthSession.ended_at)).all() == [None, None]


@pytest.mark.parametrize(("quiet", "alive"), [
    (dt.timedelta(minutes=9, seconds=59), True),
    (dt.timedelta(minutes=10), True),
    (dt.timedelta(minutes=10, seconds=1), False),
    (dt.timedelta(minutes=19, seconds=59), False),
])
def test_a_staff_session_ends_after_10_quiet_minutes(session, limits, quiet, alive):
    assert STAFF_IDLE_TIMEOUT.total_seconds() == 10 * 60
    add_staff(session)
    started = staff_signed_in(session, limits)
    auth = signin.current_session(session, started.key, settings=SETTINGS, now=NOW + quiet, audience=signin.STAFF)
    assert (auth is not None) is alive
    row = session.scalar(select(AuthSession))
    if alive:
        assert row.ended_at is None and row.last_seen_at == NOW + quiet
    else:
        assert (row.ended_at, row.end_reason) == (NOW + quiet, "idle")
        assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW, audience=signin.STAFF) is None


@pytest.mark.parametrize(("quiet", "alive"), [
    (dt.timedelta(minutes=10, seconds=1), True),
    (dt.timedelta(minutes=19, seconds=59), True),
    (dt.timedelta(minutes=20, seconds=1), False),
])
def test_a_persons_session_still_has_20_quiet_minutes(session, limits, quiet, alive):
    assert IDLE_TIMEOUT.total_seconds() == 20 * 60
    started = person_signed_in(session, limits)
    assert (signin.current_session(session, started.key, settings=SETTINGS, now=NOW + quiet) is not None) is alive


def test_activity_keeps_a_staff_session_alive(session, limits):
    add_staff(session)
    started = staff_signed_in(session, limits)
    for minutes in (9, 18, 27):
        assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW + dt.timedelta(minutes=minutes),
                                      audience=signin.STAFF) is not None
    assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW + dt.timedelta(minutes=38),
                                  audience=signin.STAFF) is None


# --- disabled between the mail and the click -----------------------------------------------------------


@pytest.mark.parametrize("use", ["link", "code"])
def test_staff_disabled_after_the_mail_cannot_use_the_link(session, limits, use):
    staff = add_staff(session)
    issued = ask(session, limits)
    token, code = link_and_code(session, issued)
    staff.disabled_at = NOW + dt.timedelta(minutes=1)
    session.commit()
    later = NOW + dt.timedelta(minutes=2)
    with pytest.raises(InvalidLink):
        if use == "link":
            signin.redeem_link(session, token, settings=SETTINGS, now=later)
        else:
            signin.redeem_code(session, issued.attempt_id, code, settings=SETTINGS, now=later)
    assert count(session, AuthSession) == 0


def test_a_staff_member_removed_after_the_mail_cannot_use_the_link(session, limits):
    staff = add_staff(session)
    token, _code = link_and_code(session, ask(session, limits))
    session.delete(staff)
    session.commit()
    with pytest.raises(InvalidLink):
        signin.redeem_link(session, token, settings=SETTINGS, now=NOW + dt.timedelta(minutes=1))
    assert count(session, AuthSession) == 0


def test_ending_a_persons_sessions_everywhere_leaves_their_staff_session(session, limits):
    add_staff(session)
    staff = staff_signed_in(session, limits)
    person = person_signed_in(session, limits, DPO)
    assert signin.end_all_sessions(session, DPO, now=NOW + dt.timedelta(minutes=1)) == 1
    later = NOW + dt.timedelta(minutes=2)
    assert signin.current_session(session, person.key, settings=SETTINGS, now=later) is None
    assert signin.current_session(session, staff.key, settings=SETTINGS, now=later, audience=signin.STAFF)
    assert [s.audience for s in signin.live_sessions(session, DPO, now=later)] == []


# --- what the browser can read -------------------------------------------------------------------------


def readable_session(app, client) -> dict:
    """Flask's session cookie is signed, not encrypted: anyone holding it can read it."""
    value = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    payload = value.lstrip(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(data) if value.startswith(".") else data)


def test_the_browser_cannot_tell_a_staff_address_from_another(app, session):
    add_staff(session)
    seen = {}
    for address in (DPO, "nobody@example.com"):
        client = app.test_client()
        token = csrf_token_from(client.get("/staff/sign-in").get_data(as_text=True))
        answer = client.post("/staff/sign-in", data={"email": address, CSRF_FIELD: token})
        assert answer.status_code == 303
        seen[address] = readable_session(app, client).get("signin_attempt")
    assert (seen[DPO] == 0) == (seen["nobody@example.com"] == 0)
