"""The sign-in service with explicit times: links, codes, sessions and their edges, without HTTP.

The link and code a person receives are derived by the sender from the secret key and the attempt's
nonce (`services/tokens.py`); these tests derive them the same way, as the mail would carry them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.models import AuthSession, OutboxMail, SignInToken, Subject
from portal.policy.register import default_register
from portal.services import signin
from portal.services.email_address import InvalidEmail
from portal.services.limits import AbuseLimits, TooManyAttempts
from portal.services.mail import MailContent
from portal.services.signin import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    LINK_LIFETIME,
    MAX_CODE_TRIES,
    InvalidLink,
    IssuedLink,
    SignInSettings,
    WrongCode,
)
from portal.services.tokens import CODE_MARK, LINK_MARK, link_code, link_token
from tests.support.contexts import LinkNotifier, context
from tests.support.races import all_reach_then_go, run_together

NOW = dt.datetime(2026, 11, 25, 9, 30, 0)
REGISTER = default_register()
SETTINGS = SignInSettings(secret="unit-test-secret-" + "k" * 32, sender_domain="we-are.be")
ADDRESS = "jo.peeters@example.org"


def compose(issued: IssuedLink) -> MailContent:
    return MailContent(subject=f"[{issued.language}] {issued.purpose}",
                       text=f"https://portal.example/sign-in/{LINK_MARK}\ncode: {CODE_MARK}\n",
                       html=f'<a href="https://portal.example/sign-in/{LINK_MARK}">{CODE_MARK}</a>')


@pytest.fixture
def limits() -> AbuseLimits:
    return AbuseLimits("memory://")


def ask(session, limits, *, raw_email: str = ADDRESS, now: dt.datetime = NOW, purpose: str = "sign_in",
        page_language: str = "en", next_path: str | None = None, client: str = "192.0.2.1") -> IssuedLink:
    return signin.request_link(session, context(REGISTER, now=now, notifier=LinkNotifier(compose)),
                               raw_email=raw_email, purpose=purpose, page_language=page_language, next_path=next_path,
                               client=client, limits=limits, settings=SETTINGS)


def link_and_code(session, issued: IssuedLink) -> tuple[str, str]:
    """What the mail of this attempt carries: the link's token and the 6-digit code."""
    row = session.get(SignInToken, issued.attempt_id)
    return link_token(SETTINGS.secret, row.id, row.nonce), link_code(SETTINGS.secret, row.id, row.nonce)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def signed_in(session, limits, *, now: dt.datetime = NOW, address: str = ADDRESS) -> signin.StartedSession:
    """A session opened through a link at `now` (the abuse limits, on the real clock, are not the point)."""
    limits.reset()
    issued = ask(session, limits, raw_email=address, now=now)
    token, _code = link_and_code(session, issued)
    return signin.redeem_link(session, token, settings=SETTINGS, now=now)


# --- asking for a link --------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.verification")
def test_asking_writes_the_attempt_and_its_mail_and_keeps_no_secret_in_the_clear(session, limits):
    issued = ask(session, limits, raw_email="  Jo.Peeters@Example.ORG ", next_path="/me/sessions")
    assert issued.email == ADDRESS and issued.purpose == "sign_in"
    row = session.get(SignInToken, issued.attempt_id)
    assert row.created_at == NOW and row.expires_at == NOW + LINK_LIFETIME == NOW + dt.timedelta(minutes=10)
    assert row.spent_at is None and row.failed_codes == 0 and row.next_path == "/me/sessions"

    token, code = link_and_code(session, issued)
    assert len(token) >= 43 and len(code) == 6 and code.isdigit()
    stored = " ".join(str(value) for value in (row.token_hash, row.code_hash, row.nonce))
    assert token not in stored and code not in stored

    mail = session.scalar(select(OutboxMail))
    assert mail.recipient == ADDRESS and mail.status == "pending" and mail.next_attempt_at == NOW
    assert mail.sign_in_token_id == row.id
    assert token not in mail.body_text + mail.body_html and code not in mail.body_text + mail.body_html


@pytest.mark.parametrize(("stored", "page", "expected"), [("nl", "en", "nl"), ("en", "nl", "en"), (None, "en", "en"),
                                                          (None, "nl", "nl")])
def test_the_mail_is_in_the_stored_language_else_the_pages(session, limits, stored, page, expected):
    if stored:
        session.add(Subject(email=ADDRESS, name="Jo", language=stored))
        session.commit()
    issued = ask(session, limits, page_language=page)
    assert issued.language == expected
    assert session.scalar(select(OutboxMail.subject)) == f"[{expected}] sign_in"


@pytest.mark.parametrize("raw", ["a@example.com,b@example.com", "a@example.com; b@example.com",
                                 "A <a@example.com>", "", "no-at-sign.example.com"])
def test_anything_but_one_address_is_refused_and_writes_nothing(session, limits, raw):
    with pytest.raises(InvalidEmail):
        ask(session, limits, raw_email=raw)
    assert count(session, SignInToken) == 0 and count(session, OutboxMail) == 0


def test_a_request_over_the_limit_writes_nothing(session, limits):
    for _ in range(3):
        ask(session, limits)
    with pytest.raises(TooManyAttempts) as refused:
        ask(session, limits)
    assert refused.value.retry_at > dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert count(session, SignInToken) == 3 and count(session, OutboxMail) == 3


def test_an_unknown_purpose_is_a_programming_error(session, limits):
    with pytest.raises(ValueError, match="purpose"):
        ask(session, limits, purpose="reset_password")


# --- the link -----------------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.verification")
def test_a_link_is_valid_until_exactly_10_minutes(session, limits):
    issued = ask(session, limits)
    token, _code = link_and_code(session, issued)
    last_moment = NOW + LINK_LIFETIME - dt.timedelta(microseconds=1)
    assert signin.find_link(session, token, settings=SETTINGS, now=last_moment).id == issued.attempt_id
    with pytest.raises(InvalidLink):
        signin.find_link(session, token, settings=SETTINGS, now=NOW + LINK_LIFETIME)
    with pytest.raises(InvalidLink):
        signin.redeem_link(session, token, settings=SETTINGS, now=NOW + LINK_LIFETIME)
    started = signin.redeem_link(session, token, settings=SETTINGS, now=last_moment)
    assert started.email == ADDRESS


def test_looking_at_a_link_does_not_spend_it_but_using_it_does(session, limits):
    issued = ask(session, limits, next_path="/me/sessions")
    token, _code = link_and_code(session, issued)
    for minute in range(3):
        signin.find_link(session, token, settings=SETTINGS, now=NOW + dt.timedelta(minutes=minute))
    started = signin.redeem_link(session, token, settings=SETTINGS, now=NOW + dt.timedelta(minutes=3))
    assert started.email == ADDRESS and started.next_path == "/me/sessions" and len(started.key) >= 43
    assert session.get(SignInToken, issued.attempt_id).spent_at == NOW + dt.timedelta(minutes=3)
    for use in (signin.find_link, signin.redeem_link):
        with pytest.raises(InvalidLink):
            use(session, token, settings=SETTINGS, now=NOW + dt.timedelta(minutes=4))
    assert count(session, AuthSession) == 1


@pytest.mark.clause("2.4.verification")
def test_a_tampered_link_or_one_made_with_another_key_is_invalid(session, limits):
    issued = ask(session, limits)
    token, _code = link_and_code(session, issued)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    row = session.get(SignInToken, issued.attempt_id)
    forged = link_token("another-secret-" + "z" * 32, row.id, row.nonce)
    for bad in (tampered, forged, "", "x" * 43):
        with pytest.raises(InvalidLink):
            signin.redeem_link(session, bad, settings=SETTINGS, now=NOW)
    assert signin.redeem_link(session, token, settings=SETTINGS, now=NOW).email == ADDRESS


def test_two_simultaneous_uses_of_one_link_open_one_session(app, session, limits):
    token, _code = link_and_code(session, ask(session, limits))
    database = app.extensions["portal.db"]

    def use(_index: int) -> object:
        with database.sessions() as own:
            return signin.redeem_link(own, token, settings=SETTINGS, now=NOW + dt.timedelta(seconds=5))

    with all_reach_then_go(database.engine, 2, lambda sql: sql.startswith("UPDATE sign_in_token")):
        results = run_together(2, use)
    assert sorted(type(result).__name__ for result in results) == ["InvalidLink", "StartedSession"]
    assert count(session, AuthSession) == 1


# --- the code -----------------------------------------------------------------------------------------------


def test_the_right_code_signs_in_once_and_spends_the_link_too(session, limits):
    issued = ask(session, limits)
    token, code = link_and_code(session, issued)
    started = signin.redeem_code(session, issued.attempt_id, f" {code[:3]} {code[3:]} ", settings=SETTINGS,
                                 now=NOW + dt.timedelta(minutes=9))
    assert started.email == ADDRESS
    with pytest.raises(InvalidLink):
        signin.redeem_code(session, issued.attempt_id, code, settings=SETTINGS, now=NOW + dt.timedelta(minutes=9))
    with pytest.raises(InvalidLink):
        signin.find_link(session, token, settings=SETTINGS, now=NOW + dt.timedelta(minutes=9))


def test_five_wrong_codes_end_the_attempt_for_the_code_and_the_link(session, limits):
    issued = ask(session, limits)
    token, code = link_and_code(session, issued)
    for tries_left in (4, 3, 2, 1):
        with pytest.raises(WrongCode) as wrong:
            signin.redeem_code(session, issued.attempt_id, other_code(code), settings=SETTINGS, now=NOW)
        assert wrong.value.tries_left == tries_left
    with pytest.raises(InvalidLink):
        signin.redeem_code(session, issued.attempt_id, other_code(code), settings=SETTINGS, now=NOW)
    assert session.get(SignInToken, issued.attempt_id).failed_codes == MAX_CODE_TRIES == 5
    with pytest.raises(InvalidLink):
        signin.redeem_code(session, issued.attempt_id, code, settings=SETTINGS, now=NOW)
    with pytest.raises(InvalidLink):
        signin.redeem_link(session, token, settings=SETTINGS, now=NOW)
    assert count(session, AuthSession) == 0


def test_a_code_expires_with_its_link_and_belongs_to_its_own_attempt(session, limits):
    first = ask(session, limits)
    second = ask(session, limits)
    _token, first_code = link_and_code(session, first)
    _token, second_code = link_and_code(session, second)
    if first_code != second_code:  # one in a million they are equal
        with pytest.raises(WrongCode):
            signin.redeem_code(session, second.attempt_id, first_code, settings=SETTINGS, now=NOW)
    with pytest.raises(InvalidLink):
        signin.redeem_code(session, first.attempt_id, first_code, settings=SETTINGS, now=NOW + LINK_LIFETIME)
    assert session.get(SignInToken, first.attempt_id).failed_codes == 0  # an expired attempt counts nothing
    with pytest.raises(InvalidLink):
        signin.redeem_code(session, 10**9, first_code, settings=SETTINGS, now=NOW)


def test_simultaneous_wrong_codes_get_no_more_than_five_tries(app, session, limits):
    """Ten wrong guesses sent at once for one attempt: only five may be judged, the rest find it dead.

    A read-compare-write in Python let guesses that read the row before any of them wrote all be judged
    (and all write 1); the try is now spent by one guarded UPDATE before the code is compared.
    """
    issued = ask(session, limits)
    _token, code = link_and_code(session, issued)
    database = app.extensions["portal.db"]

    def guess(_index: int) -> object:
        with database.sessions() as own:
            return signin.redeem_code(own, issued.attempt_id, other_code(code), settings=SETTINGS, now=NOW)

    with all_reach_then_go(database.engine, 10,
                           lambda sql: sql.startswith("UPDATE sign_in_token") and "failed_codes" in sql):
        results = run_together(10, guess)
    assert all(isinstance(result, (WrongCode, InvalidLink)) for result in results), results
    session.expire_all()
    judged = session.get(SignInToken, issued.attempt_id).failed_codes
    told_wrong = sum(isinstance(result, WrongCode) for result in results)
    assert (judged, told_wrong) == (MAX_CODE_TRIES, MAX_CODE_TRIES - 1)
    with pytest.raises(InvalidLink):
        signin.redeem_code(session, issued.attempt_id, code, settings=SETTINGS, now=NOW)


# --- sessions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quiet", "alive"), [
    (dt.timedelta(minutes=19, seconds=59), True),
    (dt.timedelta(minutes=20), True),
    (dt.timedelta(minutes=20, seconds=1), False),
    (dt.timedelta(minutes=21), False),
])
def test_a_session_ends_after_20_quiet_minutes(session, limits, quiet, alive):
    started = signed_in(session, limits)
    auth = signin.current_session(session, started.key, settings=SETTINGS, now=NOW + quiet)
    assert (auth is not None) is alive
    row = session.scalar(select(AuthSession))
    if alive:
        assert row.last_seen_at == NOW + quiet and row.ended_at is None
    else:
        assert row.ended_at == NOW + quiet and row.end_reason == "idle"
        # Ended for good: coming back "in time" afterwards does not revive it.
        assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW) is None


def test_activity_keeps_a_session_alive_but_never_beyond_8_hours(session, limits):
    started = signed_in(session, limits)
    moment = NOW
    while moment + IDLE_TIMEOUT - dt.timedelta(minutes=1) < NOW + ABSOLUTE_TIMEOUT:
        moment += IDLE_TIMEOUT - dt.timedelta(minutes=1)
        assert signin.current_session(session, started.key, settings=SETTINGS, now=moment) is not None
    assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW + ABSOLUTE_TIMEOUT) is not None
    assert signin.current_session(
        session, started.key, settings=SETTINGS, now=NOW + ABSOLUTE_TIMEOUT + dt.timedelta(minutes=1)) is None
    row = session.scalar(select(AuthSession))
    assert row.end_reason == "absolute" and row.ended_at == NOW + ABSOLUTE_TIMEOUT + dt.timedelta(minutes=1)


def test_an_unknown_key_has_no_session(session, limits):
    signed_in(session, limits)
    assert signin.current_session(session, "not-a-key", settings=SETTINGS, now=NOW) is None


@pytest.mark.clause("2.4.verification")
@pytest.mark.parametrize(("since", "fresh"), [
    (dt.timedelta(0), True),
    (dt.timedelta(minutes=9, seconds=59), True),
    (dt.timedelta(minutes=10), True),
    (dt.timedelta(minutes=10, microseconds=1), False),
    (dt.timedelta(minutes=11), False),
])
def test_a_proof_of_control_is_fresh_for_10_minutes(session, limits, since, fresh):
    started = signed_in(session, limits)
    auth = signin.current_session(session, started.key, settings=SETTINGS, now=NOW)
    assert signin.is_fresh(auth, NOW + since) is fresh


def test_a_new_proof_replaces_the_browsers_previous_session(session, limits):
    old = signed_in(session, limits)
    issued = ask(session, limits, purpose="confirm", now=NOW + dt.timedelta(minutes=30),
                 next_path="/me/sessions")
    token, _code = link_and_code(session, issued)
    later = NOW + dt.timedelta(minutes=31)
    new = signin.redeem_link(session, token, settings=SETTINGS, now=later, replaces=old.key)
    assert new.key != old.key and new.next_path == "/me/sessions"
    assert signin.current_session(session, old.key, settings=SETTINGS, now=later) is None
    auth = signin.current_session(session, new.key, settings=SETTINGS, now=later)
    assert auth.confirmed_at == later and signin.is_fresh(auth, later)
    reasons = session.scalars(select(AuthSession.end_reason).order_by(AuthSession.id)).all()
    assert reasons == ["replaced", None]


def test_signing_out_ends_the_session_on_the_server(session, limits):
    started = signed_in(session, limits)
    signin.end_session(session, started.key, settings=SETTINGS, now=NOW + dt.timedelta(minutes=1))
    assert signin.current_session(session, started.key, settings=SETTINGS, now=NOW + dt.timedelta(minutes=2)) is None
    row = session.scalar(select(AuthSession))
    assert row.end_reason == "signed_out" and row.ended_at == NOW + dt.timedelta(minutes=1)


def test_sign_out_everywhere_ends_every_session_of_that_address_only(session, limits):
    laptop, phone = signed_in(session, limits), signed_in(session, limits)
    stranger = signed_in(session, limits, address="someone.else@example.org")
    assert signin.end_all_sessions(session, ADDRESS, now=NOW + dt.timedelta(minutes=1)) == 2
    for key in (laptop.key, phone.key):
        assert signin.current_session(session, key, settings=SETTINGS, now=NOW + dt.timedelta(minutes=2)) is None
    assert signin.current_session(session, stranger.key, settings=SETTINGS, now=NOW + dt.timedelta(minutes=2))
    assert signin.end_all_sessions(session, ADDRESS, now=NOW + dt.timedelta(minutes=3)) == 0


def test_live_sessions_lists_only_usable_ones_newest_first(session, limits):
    old = signed_in(session, limits, now=NOW - dt.timedelta(hours=8, minutes=30))
    quiet = signed_in(session, limits, now=NOW - dt.timedelta(minutes=25))
    ended = signed_in(session, limits, now=NOW - dt.timedelta(minutes=5))
    newest = signed_in(session, limits, now=NOW - dt.timedelta(minutes=1))
    signin.end_session(session, ended.key, settings=SETTINGS, now=NOW - dt.timedelta(minutes=2))
    # Keep the old one active, so that only its age ends it.
    session.execute(AuthSession.__table__.update().values(last_seen_at=NOW - dt.timedelta(minutes=1))
                    .where(AuthSession.created_at == NOW - dt.timedelta(hours=8, minutes=30)))
    session.commit()
    live = signin.live_sessions(session, ADDRESS, now=NOW)
    assert [row.created_at for row in live] == [NOW - dt.timedelta(minutes=1)]
    assert signin.current_session(session, newest.key, settings=SETTINGS, now=NOW) is not None
    for key in (old.key, quiet.key):
        assert signin.current_session(session, key, settings=SETTINGS, now=NOW) is None
