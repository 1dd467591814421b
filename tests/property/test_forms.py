"""Every form a person or a staff member can post, fed oversized, malformed, mixed-script and control input.

What must hold for any input: the answer is never a server error and never shows a trace; input that is
refused gets a 400 page that says what is wrong, and leaves every table as it was; input that is taken is
stored as typed, or in the documented normal form (an address trimmed and in lower case, a text trimmed
where the form says so).

One app per module (see conftest.py), with three browsers: a person signed in as An (fresh enough for the
downloads and the erasure form), the data protection manager signed in to the back office, and a browser
that is not signed in. The pages are in English so that the messages can be read back. NUL and lone
surrogates stay out of the generated text; the tests at the end of the file pin down what happens to them.

The product bugs these tests found (NUL reaching PostgreSQL, control characters in addresses, codes in
other scripts' digits, a key with a trailing newline, a signalling NaN fee, exotic digits in approvals)
are fixed; their tests, named after what should happen, stay as guards.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import assume, currently_in_test_context, given, reject, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal import i18n
from portal.clock import utcnow
from portal.models import DataItem, Download, RequestedChange, RequestEvent, RightsRequest, SignInToken
from portal.policy import requests as lifecycle
from portal.services import signin
from portal.services.requests import change_status, submit_request
from portal.services.tokens import link_code
from tests.conftest import SmtpServer, csrf_token_from, sign_in
from tests.support.contexts import context
from tests.support.database import changed_tables, snapshot
from tests.support.people import AN, BRAM, CHLOE, DPO, FRANK, HANNE
from tests.support.strategies import (
    ANY_CHARACTER,
    HARD_CONTROLS,
    INTERNATIONAL_EMAILS,
    WHITESPACE_ONLY,
    free_text,
    malformed_emails,
    mixed_script,
    oversized,
    oversized_emails,
    plausible_emails,
    with_controls,
)

PEOPLE = (AN, BRAM, CHLOE, FRANK, HANNE)
CODE_ADDRESS = "fuzz.code@example.com"
DETAILS_MAX = 4000
NEW_VALUE_MAX = 1000
STAFF_RIGHTS = ("access", "restriction", "objection", "portability", "erasure")  # rectification has its own form
GROUNDS = ("manifestly_unfounded", "excessive")
# What only a trace or an unhandled error of the database layer would put on a page. Patterns, not words:
# hypothesis also draws strings it finds in the loaded code (it typed "sqlalchemy.url" once), and a person's
# own text shown back to them is no leak.
LEAKS = (re.compile(r"Traceback \(most recent call last\):"), re.compile(r'File "/[^"\n]+", line \d+'),
         re.compile(r"\b(?:sqlalchemy|psycopg|jinja2|werkzeug)(?:\.\w+)*\.(?:exc|errors|exceptions)\.[A-Z]\w*"))

# The messages a refused input is answered with (English pages).
EMAIL_MESSAGES = ("Enter your e-mail address.", "An e-mail address has at most 254 characters.",
                  "Enter exactly one e-mail address, such as name@example.com.")
CODE_FORMAT_MESSAGES = ("Enter the code from the mail.", "The code has 6 digits.")
WRONG_CODE = "This code is not right."
TOO_LONG = f"Please keep it under {DETAILS_MAX} characters."
NOT_A_CHOICE = "Not a valid choice"
FEE_MESSAGES = ("A reasonable fee is between", "Enter the fee in euro", "Not a valid decimal value")
REASONS_REQUIRED = "Write the reasons: the person is told them."
GROUND_MESSAGES = (NOT_A_CHOICE, "Choose the ground of the refusal.")
MALFORMED_PAGE = "Something in the request was missing or malformed."
EXPIRED_FORM = "This form has expired"


# --- the module's world ------------------------------------------------------------------------------------


@dataclass
class World:
    app: Flask
    smtp: SmtpServer
    person: FlaskClient  # An, signed in and freshly confirmed
    staff: FlaskClient  # the data protection manager, in the back office
    person_token: str
    staff_token: str

    def anonymous(self) -> FlaskClient:
        return english(self.app.test_client())

    def reset_limits(self) -> None:
        """Forget the sign-in abuse counters: each example is a first attempt, never a 429."""
        self.app.extensions["portal.limits"].reset()

    def session(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["portal.db"].session()

    @property
    def register(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["portal.register"]


# C0 controls other than tab, line feed and carriage return: the portal refuses them at the door for
# every field but a return path (portal/operations.py).
CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_PAGE = "What you sent contains invisible control characters."


def _has_control(values) -> bool:  # type: ignore[no-untyped-def]
    if not isinstance(values, dict):
        return False
    def text(value) -> bool:  # type: ignore[no-untyped-def]
        if isinstance(value, (list, tuple)):
            return any(text(item) for item in value)
        return isinstance(value, str) and bool(CONTROLS.search(value))

    return any(key != "next" and text(value) for key, value in values.items())


class DoorCheckingClient(FlaskClient):
    """A client that checks the door: a generated example carrying control characters must be refused (400,
    the control-character page or an earlier refusal) and change nothing; the property then sets the
    example aside, since what it describes (how a field treats text) is not reached."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        data, query = kwargs.get("data"), kwargs.get("query_string")
        if currently_in_test_context() and (_has_control(data) or _has_control(query)):
            before = snapshot(self.application)
            response = super().open(*args, **kwargs)
            # The control-character page, or an earlier refusal of the same post (an expired form's token).
            assert response.status_code == 400, response.status_code
            assert "Traceback" not in response.get_data(as_text=True)
            assert snapshot(self.application) == before
            reject()
        return super().open(*args, **kwargs)


def english(client: FlaskClient) -> FlaskClient:
    client.set_cookie(i18n.COOKIE, "en")
    return client


def staff_sign_in(client: FlaskClient, smtp: SmtpServer, email: str) -> None:
    """The back office's sign-in through the real mail, as conftest's `sign_in` does for a person."""
    before = len(smtp.inbox.messages)
    token = csrf_token_from(client.get("/staff/sign-in").get_data(as_text=True))
    assert client.post("/staff/sign-in", data={"email": email, "csrf_token": token}).status_code == 303
    mail = None
    wanted = before + 1
    while mail is None:
        arrived = smtp.inbox.wait_for(wanted)
        mail = next((m for m in reversed(arrived[before:]) if m["To"] == email), None)
        wanted = len(arrived) + 1
    code = re.search(r"\b(\d{3} \d{3})\b", mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    page = client.get("/sign-in/check-mail").get_data(as_text=True)
    signed = client.post("/sign-in/code", data={"code": code, "csrf_token": csrf_token_from(page)})
    assert signed.status_code == 303, signed.get_data(as_text=True)[:500]


class QuietOutbox:
    """Stands in for the mail sender: queued mails wait in the outbox table."""

    def wake(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.fixture(scope="module")
def long_sessions() -> Iterator[None]:
    """The browsers sign in once per module, and an exploring run (make fuzz) lasts longer than a session's
    idle time or the ten minutes a confirmation is fresh: these tests are about forms, not about time."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("IDLE_TIMEOUT", "STAFF_IDLE_TIMEOUT", "FRESH_FOR"):
            patch.setattr(signin, name, dt.timedelta(days=1))
        yield


@pytest.fixture(scope="module")
def world(portal: Flask, smtp_server: SmtpServer, long_sessions: None) -> World:
    portal.test_client_class = DoorCheckingClient
    runner = portal.test_cli_runner()
    for args in (["seed-demo"], ["create-staff", DPO, "--role", "dpo"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    person = english(portal.test_client())
    sign_in(person, smtp_server.inbox, AN)
    staff = english(portal.test_client())
    staff_sign_in(staff, smtp_server, DPO)
    # From here on mails stay in the outbox: the examples never read them (a code is derived from its
    # attempt), and the sender's thread would draw on the global `random` (MIME boundaries) while
    # hypothesis generates an example, which hypothesis reports as a strategy using `random`.
    portal.extensions["portal.mail"].stop()
    portal.extensions["portal.mail"] = QuietOutbox()
    return World(app=portal, smtp=smtp_server, person=person, staff=staff,
                 person_token=csrf_token_from(person.get("/me/rights").get_data(as_text=True)),
                 staff_token=csrf_token_from(staff.get("/staff/requests").get_data(as_text=True)))


# --- what every answer must be -----------------------------------------------------------------------------


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def answered(response) -> str:  # type: ignore[no-untyped-def]
    """A page, not a failure: no 5xx, and nothing of a trace or of the database layer in it."""
    text = page_text(response)
    assert response.status_code < 500, f"{response.status_code}: {text[:400]}"
    for leak in LEAKS:
        assert not leak.search(text), f"{leak.pattern!r} in the page"
    return text


def refused(response, before: dict[str, object], world: World, *messages: str) -> None:  # type: ignore[no-untyped-def]
    """A 400 page naming what is wrong (one of `messages`, or the control-character page), and not one row changed."""
    text = answered(response)
    assert response.status_code == 400, f"expected 400, got {response.status_code}"
    if messages:
        messages = (*messages, CONTROL_PAGE)
        assert any(message in text for message in messages), f"none of {messages} on the page"
    after = snapshot(world.app)
    assert after == before, f"a refused input changed {changed_tables(before, after)}"


def new_key() -> str:
    return secrets.token_hex(16)


def newest(world: World, model, *where):  # type: ignore[no-untyped-def]
    with world.session() as session:
        return session.scalars(select(model).where(*where).order_by(model.id.desc()).limit(1)).first()


def latest_events(world: World, request_id: int) -> list[RequestEvent]:
    with world.session() as session:
        return list(session.scalars(select(RequestEvent).where(RequestEvent.request_id == request_id)
                                    .order_by(RequestEvent.id)))


def file_request(world: World, email: str = AN, right: str = "access", *, waiting: bool = False, **extra) -> int:
    """A request as the person's pages file it (without mail); with `waiting`, one that waits on a question."""
    with world.session() as session:
        made = submit_request(session, context(world.register, today=dt.date.today(), now=utcnow(), notifier=None),
                              email=email, right=right, idempotency_key=new_key(), **extra)
        if waiting:
            staff = context(world.register, actor=f"staff:{DPO}", today=dt.date.today(), now=utcnow(), notifier=None)
            change_status(session, staff, made.id, to=lifecycle.WAITING, note="Which account?")
            session.commit()
        return made.id


# --- sign-in: the address ----------------------------------------------------------------------------------

SIGN_IN_PAGES = ("/sign-in", "/staff/sign-in")
ANY_ADDRESS = st.one_of(plausible_emails(), INTERNATIONAL_EMAILS, malformed_emails(), oversized_emails(),
                        mixed_script(), with_controls(), WHITESPACE_ONLY, st.text(alphabet=ANY_CHARACTER, max_size=300))
NEXT_FIELD = st.one_of(st.none(), st.just("/me/requests"), free_text(500).map(lambda t: "/" + t),
                       st.sampled_from(["//evil.example", "/\\evil.example", "https://evil.example/", "/\x01x"]))


def post_address(world: World, page: str, typed: str, next_path: str | None):  # type: ignore[no-untyped-def]
    client = world.anonymous()
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    world.reset_limits()
    data = {"email": typed, "csrf_token": token}
    if next_path is not None:
        data["next"] = next_path
    before = snapshot(world.app)
    return client.post(page, data=data), before


def assert_link_issued(world: World, page: str, address: str, next_path: str | None, before: dict[str, object],
                       response) -> None:  # type: ignore[no-untyped-def]
    answered(response)
    assert response.status_code == 303 and response.headers["Location"] == "/sign-in/check-mail"
    if page == "/staff/sign-in":  # not a staff address: the same answer, and no mail with a link
        assert snapshot(world.app)["outbox_mail"] == before["outbox_mail"]
        return
    made = newest(world, SignInToken, SignInToken.email == address)
    assert made is not None and made.id not in {row[0] for row in before["sign_in_token"]}
    stored = made.next_path
    if stored is not None:  # only ever a path of this site, exactly as asked
        assert stored == next_path and stored.startswith("/") and not stored.startswith(("//", "/\\"))
        assert len(stored) <= 500 and not any(ord(c) < 32 for c in stored)


@given(page=st.sampled_from(SIGN_IN_PAGES), typed=st.one_of(plausible_emails(), INTERNATIONAL_EMAILS),
       next_path=NEXT_FIELD)
def test_an_ordinary_address_gets_a_link_trimmed_and_in_lower_case(world, page, typed, next_path):
    response, before = post_address(world, page, typed, next_path)
    assert_link_issued(world, page, typed.strip().lower(), next_path, before, response)


@given(page=st.sampled_from(SIGN_IN_PAGES), typed=st.one_of(malformed_emails(), oversized_emails(), WHITESPACE_ONLY))
def test_a_malformed_or_oversized_address_is_refused_with_a_reason(world, page, typed):
    response, before = post_address(world, page, typed, None)
    refused(response, before, world, *EMAIL_MESSAGES)


@given(page=st.sampled_from(SIGN_IN_PAGES), typed=ANY_ADDRESS, next_path=NEXT_FIELD)
def test_any_address_is_refused_with_a_reason_or_gets_a_link(world, page, typed, next_path):
    response, before = post_address(world, page, typed, next_path)
    if response.status_code == 400:
        refused(response, before, world, *EMAIL_MESSAGES)
    else:
        assert_link_issued(world, page, typed.strip().lower(), next_path, before, response)


# --- sign-in: the code -------------------------------------------------------------------------------------

OTHER_DIGITS = st.characters(categories=("Nd",), exclude_characters=string.digits)
CODES = st.one_of(
    st.text(alphabet=st.sampled_from(string.digits), max_size=12),
    st.lists(st.sampled_from(string.digits), min_size=6, max_size=6).flatmap(
        lambda digits: st.lists(st.sampled_from(["", " ", "  ", "\t", "\u00a0"]), min_size=7, max_size=7).map(
            lambda gaps: "".join(g + d for g, d in zip(gaps, [*digits, ""], strict=True)))),
    st.text(alphabet=OTHER_DIGITS, min_size=6, max_size=6),  # Arabic-Indic, Devanagari, full-width digits
    mixed_script(), with_controls(), oversized(100, alphabet=st.sampled_from(string.digits)), WHITESPACE_ONLY,
)


def new_attempt(world: World) -> tuple[FlaskClient, SignInToken]:
    """A browser that asked for a link (for an address nobody holds) and now stands on the code page."""
    client = world.anonymous()
    world.reset_limits()
    token = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    assert client.post("/sign-in", data={"email": CODE_ADDRESS, "csrf_token": token}).status_code == 303
    return client, newest(world, SignInToken, SignInToken.email == CODE_ADDRESS)


@given(typed=CODES)
def test_a_typed_code_is_refused_with_a_reason_and_costs_a_try_only_when_it_has_six_digits(world, typed):
    client, attempt = new_attempt(world)
    real = link_code(world.app.extensions["portal.settings"].secret_key, attempt.id, attempt.nonce)
    assume("".join(typed.split()) != real)
    token = csrf_token_from(client.get("/sign-in/check-mail").get_data(as_text=True))
    world.reset_limits()
    before = snapshot(world.app)
    response = client.post("/sign-in/code", data={"code": typed, "csrf_token": token})
    text = answered(response)
    assert response.status_code == 400
    digits = "".join(typed.split())
    if WRONG_CODE in text:  # a code of six digits: one of the five tries is spent, nothing else changes
        assert len(digits) == 6 and all(c.isdigit() for c in digits)
        after = snapshot(world.app)
        assert changed_tables(before, after) == ["sign_in_token"]
        assert newest(world, SignInToken, SignInToken.id == attempt.id).failed_codes == 1
    else:
        refused(response, before, world, *CODE_FORMAT_MESSAGES)


# --- the rights' request forms -----------------------------------------------------------------------------

SCOPE_OPTIONS = re.compile(r'<option[^>]*value="([^"]*)"')


def scope_choices(world: World, right: str) -> list[str]:
    page = world.person.get(f"/me/rights/{right}")
    assert page.status_code == 200, (right, page.status_code)
    select_block = re.search(r'<select[^>]*name="scope".*?</select>', page.get_data(as_text=True), re.DOTALL)
    return [html.unescape(v) for v in SCOPE_OPTIONS.findall(select_block.group(0))] if select_block else []


@given(right=st.sampled_from(STAFF_RIGHTS), details=st.one_of(st.none(), free_text(DETAILS_MAX)), data=st.data())
def test_a_rights_request_is_refused_with_a_reason_or_filed_as_typed(world, right, details, data):
    choices = scope_choices(world, right)
    options = [st.none(), free_text(100)] + ([st.sampled_from(choices)] if choices else [])
    scope = data.draw(st.one_of(*options), label="scope")
    form = {"csrf_token": world.person_token, "key": new_key()}
    if details is not None:
        form["details"] = details
    if scope is not None:
        form["scope"] = scope
    before = snapshot(world.app)
    response = world.person.post(f"/me/rights/{right}", data=form)
    if details is not None and len(details) > DETAILS_MAX:
        return refused(response, before, world, TOO_LONG)
    # A scope outside the choices is refused; a blank one counts as not chosen (the field is optional).
    if choices and scope is not None and scope.strip() and scope not in choices:
        return refused(response, before, world, NOT_A_CHOICE)
    answered(response)
    assert response.status_code == 303, page_text(response)[:400]
    filed = newest(world, RightsRequest, RightsRequest.email == AN)
    assert (filed.right, filed.details) == (right, details or None)
    if choices and scope is not None and scope.strip():
        assert filed.scope == scope


@pytest.fixture(scope="module")
def an_items(world: World) -> dict[int, str]:
    """An's data items that the rectification form offers, with the values we hold."""
    page = world.person.get("/me/rights/rectification").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'name="new-(\d+)"', page)]
    assert ids, "the rectification form offers no field"
    with world.session() as session:
        return dict(session.execute(select(DataItem.id, DataItem.value).where(DataItem.id.in_(ids))).all())


@given(details=st.one_of(st.none(), free_text(DETAILS_MAX)), data=st.data())
def test_a_rectification_is_refused_with_a_reason_or_filed_with_the_trimmed_values(world, an_items, details, data):
    proposals = data.draw(st.dictionaries(st.sampled_from(sorted(an_items)), free_text(NEW_VALUE_MAX), max_size=3),
                          label="proposals")
    form = {"csrf_token": world.person_token, "key": new_key(), **{f"new-{i}": v for i, v in proposals.items()}}
    if details is not None:
        form["details"] = details
    before = snapshot(world.app)
    response = world.person.post("/me/rights/rectification", data=form)
    changes = {i: v.strip() for i, v in proposals.items() if v.strip() and v.strip() != an_items[i]}
    if details is not None and len(details) > DETAILS_MAX:
        return refused(response, before, world, TOO_LONG)
    if any(len(v.strip()) > NEW_VALUE_MAX for v in proposals.values()):
        return refused(response, before, world, f"A new value can have at most {NEW_VALUE_MAX} characters.")
    if not changes and not (details or "").strip():
        return refused(response, before, world, "Propose at least one new value, or describe what is wrong.")
    answered(response)
    assert response.status_code == 303, page_text(response)[:400]
    filed = newest(world, RightsRequest, RightsRequest.email == AN, RightsRequest.right == "rectification")
    with world.session() as session:
        stored = {(c.data_item_id, c.new_value) for c in session.scalars(
            select(RequestedChange).where(RequestedChange.request_id == filed.id))}
    assert stored == (set(changes.items()) if changes else {(None, (details or "").strip())})


# --- the person's answer to our question -------------------------------------------------------------------


@given(answer=st.one_of(st.none(), free_text(DETAILS_MAX)), whose=st.sampled_from(["own", "someone else's", "none"]))
def test_an_answer_is_refused_with_a_reason_or_recorded_trimmed(world, answer, whose):
    own = whose == "own"
    if own:
        request_id = file_request(world, waiting=True)
    else:  # someone else's request, or none: the same 404, nothing revealed
        request_id = file_request(world, email="bram.declercq@example.com", waiting=True) + (
            0 if whose == "someone else's" else 10**6)
    form = {"csrf_token": world.person_token}
    if answer is not None:
        form["answer"] = answer
    before = snapshot(world.app)
    response = world.person.post(f"/me/requests/{request_id}/answer", data=form)
    valid = bool((answer or "").strip()) and len(answer or "") <= DETAILS_MAX
    if not own:  # the form is checked first; the page then lists only An's requests, without this one
        answered(response)
        assert response.status_code == (404 if valid else 400)
        assert snapshot(world.app) == before
        return
    if not (answer or "").strip():
        return refused(response, before, world, "Type your answer.")
    if len(answer) > DETAILS_MAX:
        return refused(response, before, world, TOO_LONG)
    answered(response)
    assert response.status_code == 303, page_text(response)[:400]
    events = latest_events(world, request_id)
    assert (events[-1].status, events[-1].actor, events[-1].note) == (lifecycle.IN_PROGRESS, "person", answer.strip())


# --- the back office's decisions ---------------------------------------------------------------------------

GOOD_FEES = st.integers(min_value=1, max_value=100_000).map(lambda cents: f"{cents // 100}.{cents % 100:02d}")
BAD_FEE_TEXTS = ("", "0", "0.00", "-1", "-0.01", "1000.01", "1e9", "NaN", "-NaN", "Infinity", "-Infinity", "inf",
                 "1,50", "€ 25", "25 EUR", "twenty", "0x10", "1/2", "٠", "1e-9", "0.004")
TOO_HIGH_FEES = st.integers(min_value=100_001, max_value=10**30).map(lambda c: f"{c // 100}.{c % 100:02d}")
BAD_FEES = st.one_of(st.sampled_from(BAD_FEE_TEXTS), TOO_HIGH_FEES)


def fee_cents(amount: str) -> int | None:
    """The fee an amount stands for when it is one the form must take (0.01 to 1,000 euro), else None."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or not Decimal("0.01") <= value <= Decimal(1000):
        return None
    return int((value * 100).to_integral_value())


NOTES = st.one_of(st.none(), free_text(DETAILS_MAX))


@given(action=st.sampled_from(["start", "ask", "extend", "complete", "refuse", "fee"]), note=NOTES,
       ground=st.one_of(st.none(), st.sampled_from(GROUNDS), free_text(40)),
       amount=st.one_of(st.none(), GOOD_FEES, BAD_FEES, free_text(30)), person=st.sampled_from(PEOPLE))
def test_a_decision_is_refused_with_a_reason_or_made_with_the_trimmed_note(world, action, note, ground, amount, person):
    request_id = file_request(world, email=person)
    form = {"csrf_token": world.staff_token}
    for name, value in (("note", note), ("ground", ground), ("amount", amount)):
        if value is not None:
            form[name] = value
    before = snapshot(world.app)
    response = world.staff.post(f"/staff/requests/{request_id}/{action}", data=form)
    text = answered(response)

    note_given = bool((note or "").strip())
    reasons_needed = action in ("ask", "extend", "refuse", "fee")
    problems: list[tuple[str, ...]] = []
    if note is not None and len(note) > DETAILS_MAX:
        problems.append((TOO_LONG,))
    elif reasons_needed and not note_given:
        problems.append((REASONS_REQUIRED,))
    if action == "refuse" and ground not in GROUNDS:
        problems.append(GROUND_MESSAGES)
    if action == "fee":
        cents = fee_cents(amount) if amount is not None else None
        if cents is None and amount is not None and amount.strip() and amount not in BAD_FEE_TEXTS:
            # Free text that Python's Decimal reads as a number (e.g. in other digits): either way is fine,
            # as long as a refusal says why and a fee taken is the amount typed.
            if response.status_code == 400:
                return refused(response, before, world, *FEE_MESSAGES, TOO_LONG, REASONS_REQUIRED)
            cents = newest(world, RightsRequest, RightsRequest.id == request_id).fee_cents
            assert cents is not None and 0 < cents <= 100_000
        elif cents is None:
            problems.append(FEE_MESSAGES)
    if problems:
        refused(response, before, world)
        if action != "start":  # "start" shows no note field: only a forged post carries one, and gets a bare 400
            for messages in problems:
                assert any(m in text for m in messages), f"none of {messages} on the page"
        return
    assert response.status_code == 303, text[:600]
    decided = newest(world, RightsRequest, RightsRequest.id == request_id)
    moved_to = {"start": lifecycle.IN_PROGRESS, "ask": lifecycle.WAITING, "extend": lifecycle.EXTENDED,
                "complete": lifecycle.COMPLETED, "refuse": lifecycle.REFUSED, "fee": lifecycle.WAITING}[action]
    assert decided.status == moved_to
    last = latest_events(world, request_id)[-1]
    assert last.actor == f"staff:{DPO}"
    if action != "start":
        assert last.note == ((note or "").strip() or None)
    if action == "fee" and re.fullmatch(r"\d+\.\d\d", amount or ""):
        assert decided.fee_cents == fee_cents(amount)


def int_reads(value: str) -> bool:
    """Whether int() reads a value that str.isdigit() lets through (see the approve bug below)."""
    return not value.isdigit() or (value.isascii() and len(value) <= 4300)


@given(approve=st.lists(st.one_of(st.integers(min_value=0, max_value=10**12).map(str),
                                  st.text(alphabet=st.sampled_from(string.digits), max_size=40),
                                  mixed_script(1, 8), with_controls(1, 8)).filter(int_reads), max_size=4),
       with_the_change=st.booleans())
def test_approving_proposed_values_takes_any_list_of_ids(world, an_items, approve, with_the_change):
    item_id = sorted(an_items)[0]
    held = newest(world, DataItem, DataItem.id == item_id).value
    proposed = f"new {secrets.token_hex(4)}"
    request_id = file_request(world, right="rectification", changes=[(item_id, "f", held, proposed)])
    with world.session() as session:
        change_id = session.scalar(select(RequestedChange.id).where(RequestedChange.request_id == request_id))
    form = {"csrf_token": world.staff_token, "approve": [*approve, *([str(change_id)] if with_the_change else [])]}
    response = world.staff.post(f"/staff/requests/{request_id}/complete", data=form)
    answered(response)
    assert response.status_code == 303, page_text(response)[:400]
    approved = with_the_change or change_id in {int(v) for v in approve if v.isdigit()}
    with world.session() as session:
        assert session.get(RequestedChange, change_id).decision == ("approved" if approved else "rejected")
        assert session.get(DataItem, item_id).value == (proposed if approved else held)


@given(typed=st.one_of(plausible_emails(), malformed_emails(), oversized_emails(), mixed_script(), with_controls(),
                       WHITESPACE_ONLY))
def test_ending_a_persons_sessions_is_refused_or_recorded(world, typed):
    before = snapshot(world.app)
    response = world.staff.post("/staff/people/sessions", data={"csrf_token": world.staff_token, "email": typed})
    if not typed.strip() or len(typed) > 254:
        return refused(response, before, world, MALFORMED_PAGE)
    answered(response)
    assert response.status_code == 303
    after = snapshot(world.app)
    assert after["audit_entry"] == before["audit_entry"] + 1  # who ended whose sessions, in the audit trail


@given(q=st.one_of(st.none(), free_text(254)), state=st.one_of(st.none(), free_text(20), st.sampled_from(
    lifecycle.STATES)), right=st.one_of(st.none(), free_text(20)), relation=st.one_of(st.none(), free_text(20)),
       page=st.one_of(st.none(), st.integers(min_value=-10**30, max_value=10**30).map(str), free_text(20)))
def test_the_queue_filters_take_any_text(world, q, state, right, relation, page):
    query = {k: v for k, v in (("q", q), ("state", state), ("right", right), ("relation", relation),
                                ("page", page)) if v is not None}
    response = world.staff.get("/staff/requests", query_string=query)
    answered(response)
    assert response.status_code == 200


# --- the person's other posts: the key of one-click actions, the downloads, a new address ------------------

KEYED_POSTS = ("/me/rights/access", "/me/rights/portability", "/me/rights/rectification",
               "/me/consents/visitor.2/withdraw", "/me/consents/visitor.2/give", "/me/consents/visitor.2/renew",
               "/me/direct-marketing/object", "/me/direct-marketing/lift")
BAD_KEYS = st.one_of(
    st.none(), free_text(64),
    st.text(alphabet=st.sampled_from("0123456789abcdef"), max_size=64).filter(lambda k: len(k) != 32),
    st.text(alphabet=st.sampled_from("0123456789ABCDEF"), min_size=32, max_size=32),
    st.text(alphabet=st.sampled_from("0123456789abcdef"), min_size=32, max_size=32).map(lambda k: k + " "),
)


@given(path=st.sampled_from(KEYED_POSTS), key=BAD_KEYS)
def test_a_malformed_action_key_changes_nothing(world, path, key):
    # A valid key followed by one newline passes: see test_a_key_with_a_trailing_newline_is_refused.
    assume(key is None or not re.fullmatch(r"[0-9a-f]{32}\n?", key))
    form = {"csrf_token": world.person_token, "details": "About my data", "new-1": "x"}
    if key is not None:
        form["key"] = key
    before = snapshot(world.app)
    refused(world.person.post(path, data=form), before, world)


@given(purpose=st.one_of(free_text(40), st.sampled_from(["visitor.99", "customer.2", "..", "visitor.2/../x"])),
       action=st.sampled_from(["withdraw", "give", "renew"]))
def test_an_unknown_purpose_is_not_found_and_changes_nothing(world, purpose, action):
    assume(purpose.strip() and purpose not in {p.id for p in world.register.consent_purposes()})
    before = snapshot(world.app)
    response = world.person.post(f"/me/consents/{quote(purpose, safe='')}/{action}",
                                 data={"csrf_token": world.person_token, "key": new_key()})
    answered(response)
    # 308: a purpose with a slash in it makes a double slash in the path, which Werkzeug merges by
    # redirecting; the merged path is not found either.
    assert response.status_code in (404, 405, 308)
    assert snapshot(world.app) == before


DOWNLOADS = ("/me/downloads/copy.json", "/me/downloads/copy.csv", "/me/downloads/portable.json",
             "/me/downloads/portable.csv", "/me/downloads/copy.html")


@given(path=st.sampled_from(DOWNLOADS), token=st.one_of(st.none(), free_text(200), st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + ".-_"), min_size=80, max_size=100)))
def test_a_download_with_a_bad_form_token_is_refused_and_records_nothing(world, path, token):
    form = {} if token is None else {"csrf_token": token}
    before = snapshot(world.app)
    refused(world.person.post(path, data=form), before, world, EXPIRED_FORM)


@given(kind=free_text(20), fmt=free_text(10))
def test_a_download_of_an_unknown_kind_or_format_is_not_found(world, kind, fmt):
    assume(f"{kind}.{fmt}" not in {p.rsplit("/", 1)[1] for p in DOWNLOADS})
    before = snapshot(world.app)
    response = world.person.post(f"/me/downloads/{quote(kind, safe='')}.{quote(fmt, safe='')}",
                                 data={"csrf_token": world.person_token})
    answered(response)
    assert response.status_code in (404, 405)
    assert snapshot(world.app) == before


# Every example streams a whole file: a third of the profile's examples (conftest.py), its other settings kept.
@settings(max_examples=settings.default.max_examples // 3)
@given(path=st.sampled_from(DOWNLOADS), next_path=free_text(500))
def test_a_download_ignores_what_its_button_form_carries_besides_the_token(world, path, next_path):
    with world.session() as session:
        before = session.scalar(select(func.count()).select_from(Download))
    response = world.person.post(path, data={"csrf_token": world.person_token, "next": next_path})
    try:
        assert response.status_code == 200, response.status_code
        assert path.endswith(".html") or response.headers["Content-Disposition"].startswith("attachment")
        assert response.get_data()  # the whole file streams out
    finally:
        response.close()  # ends the streamed body inside its request context
    with world.session() as session:
        assert session.scalar(select(func.count()).select_from(Download)) == before + 1


@given(typed=st.one_of(plausible_emails(), malformed_emails(), oversized_emails(), mixed_script(), with_controls(),
                       WHITESPACE_ONLY, st.sampled_from([AN, AN.upper(), "bram.declercq@example.com"])))
def test_a_new_address_is_refused_with_a_reason_or_gets_a_link(world, typed):
    page = world.person.get("/me/address")
    assert page.status_code == 200, page.status_code
    world.reset_limits()
    before = snapshot(world.app)
    response = world.person.post("/me/address", data={"csrf_token": world.person_token, "email": typed})
    if response.status_code == 400:
        return refused(response, before, world, "Enter your new e-mail address.", *EMAIL_MESSAGES[1:],
                       "This is already the address you sign in with.", "This address is already in use here.")
    answered(response)
    assert response.status_code == 303
    assert newest(world, SignInToken, SignInToken.email == typed.strip().lower()) is not None


# --- any bytes at all, in any field of any form ------------------------------------------------------------

# Raw bytes sent percent-encoded: invalid UTF-8, overlong forms, lone continuation bytes. Without 0x00.
RAW = st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b""))


def raw_forms(world: World) -> list[tuple[FlaskClient, str, str, tuple[str, ...]]]:
    request_id = file_request(world, waiting=True)
    staff_request = file_request(world, email="frank.wouters@example.com")
    return [
        (world.anonymous(), "/sign-in", "", ("email", "next")),
        (world.anonymous(), "/staff/sign-in", "", ("email", "next")),
        (world.person, "/me/rights/access", world.person_token, ("details", "key")),
        (world.person, "/me/rights/objection", world.person_token, ("details", "scope", "key")),
        (world.person, "/me/rights/rectification", world.person_token, ("details", "new-1", "key")),
        (world.person, f"/me/requests/{request_id}/answer", world.person_token, ("answer",)),
        (world.person, "/me/address", world.person_token, ("email",)),
        (world.staff, f"/staff/requests/{staff_request}/fee", world.staff_token, ("note", "amount")),
        (world.staff, f"/staff/requests/{staff_request}/refuse", world.staff_token, ("note", "ground")),
        (world.staff, "/staff/people/sessions", world.staff_token, ("email",)),
    ]


@given(data=st.data())
def test_any_bytes_in_any_field_get_a_page_never_an_error(world, data):
    client, path, token, fields = data.draw(st.sampled_from(raw_forms(world)), label="form")
    if not token:
        token = csrf_token_from(client.get(path).get_data(as_text=True))
    values = {name: data.draw(RAW, label=name) for name in fields}
    body = "&".join([f"csrf_token={quote(token)}", *(f"{quote(n)}={quote_from_bytes(v)}" for n, v in values.items())])
    world.reset_limits()
    before = snapshot(world.app)
    response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    answered(response)
    if response.status_code == 400:
        assert snapshot(world.app) == before


# --- NUL, control characters in addresses, and the other bugs found ----------------------------------------



def nul_posts(world: World) -> dict[str, tuple[FlaskClient, str, dict[str, str]]]:
    waiting = file_request(world, waiting=True)
    open_request = file_request(world, email="hanne.claes@example.com")
    return {
        "sign-in address": (world.anonymous(), "/sign-in", {"email": "a\x00b@example.com"}),
        "request details": (world.person, "/me/rights/access", {"details": "one\x00two", "key": new_key()}),
        "rectification": (world.person, "/me/rights/rectification", {"details": "x\x00y", "key": new_key()}),
        "answer": (world.person, f"/me/requests/{waiting}/answer", {"answer": "yes\x00no"}),
        "staff reasons": (world.staff, f"/staff/requests/{open_request}/ask", {"note": "why\x00not"}),
        "staff person address": (world.staff, "/staff/people/sessions", {"email": "\x00"}),
    }


@pytest.mark.parametrize("form", ["sign-in address", "request details", "rectification", "answer",
                                  "staff reasons", "staff person address"])
def test_nul_in_a_field_of_valid_length_is_refused_or_kept(world, form):
    client, path, fields = nul_posts(world)[form]
    if client is not world.person and client is not world.staff:
        fields["csrf_token"] = csrf_token_from(client.get(path).get_data(as_text=True))
    else:
        fields["csrf_token"] = world.person_token if client is world.person else world.staff_token
    world.reset_limits()
    before = snapshot(world.app)
    response = client.post(path, data=fields)
    answered(response)
    if response.status_code == 400:
        assert snapshot(world.app) == before


def test_nul_in_the_queue_search_is_a_search_like_any_other(world):
    answered(world.staff.get("/staff/requests", query_string={"q": "\x00"}))


def test_nul_in_a_typed_code_or_a_return_path_is_refused_or_dropped(world):
    client, _attempt = new_attempt(world)
    token = csrf_token_from(client.get("/sign-in/check-mail").get_data(as_text=True))
    before = snapshot(world.app)
    refused(client.post("/sign-in/code", data={"code": "123\x00456", "csrf_token": token}), before, world,
            *CODE_FORMAT_MESSAGES)
    response, before = post_address(world, "/sign-in", "nul.next@example.com", "/me\x00/requests")
    assert_link_issued(world, "/sign-in", "nul.next@example.com", "/me\x00/requests", before, response)
    assert newest(world, SignInToken, SignInToken.email == "nul.next@example.com").next_path is None


@pytest.mark.parametrize("control", HARD_CONTROLS[:3] + ["\x7f", "\x9b", "\u202e", "\u200b", "\u2066", "\ufeff"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_an_address_with_a_control_or_bidi_character_is_refused(world, control):
    response, before = post_address(world, "/sign-in", f"an{control}.peeters@example.com", None)
    refused(response, before, world, *EMAIL_MESSAGES)


@pytest.mark.parametrize("path", ["/me/rights/access", "/me/direct-marketing/object"])
def test_a_key_with_a_trailing_newline_is_refused(world, path):
    before = snapshot(world.app)
    response = world.person.post(path, data={"csrf_token": world.person_token, "key": new_key() + "\n"})
    refused(response, before, world)


@pytest.mark.parametrize("digits", ["٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９"], ids=["arabic-indic", "full-width"])
def test_the_right_code_in_another_scripts_digits_signs_in_or_is_refused_without_costing_a_try(world, digits):
    client, attempt = new_attempt(world)
    real = link_code(world.app.extensions["portal.settings"].secret_key, attempt.id, attempt.nonce)
    token = csrf_token_from(client.get("/sign-in/check-mail").get_data(as_text=True))
    response = client.post("/sign-in/code", data={"code": "".join(digits[int(d)] for d in real),
                                                  "csrf_token": token})
    answered(response)
    if response.status_code != 303:
        assert response.status_code == 400 and "The code has 6 digits." in page_text(response)
        assert newest(world, SignInToken, SignInToken.id == attempt.id).failed_codes == 0


@pytest.mark.parametrize("amount", ["sNaN", "-sNaN", "sNaN1"])
def test_a_signalling_nan_fee_is_refused_with_a_reason(world, amount):
    request_id = file_request(world, email="chloe.martin@example.com")
    before = snapshot(world.app)
    response = world.staff.post(f"/staff/requests/{request_id}/fee",
                                data={"csrf_token": world.staff_token, "note": "Repetitive.", "amount": amount})
    refused(response, before, world, *FEE_MESSAGES)


@pytest.mark.parametrize("value", ["²", "①", "9" * 5000], ids=["superscript", "circled", "5000-digits"])
def test_approving_with_a_digit_int_refuses_is_ignored(world, an_items, value):
    item_id = sorted(an_items)[0]
    request_id = file_request(world, right="rectification", changes=[(item_id, "f", an_items[item_id], "new")])
    response = world.staff.post(f"/staff/requests/{request_id}/complete",
                                data={"csrf_token": world.staff_token, "approve": value})
    answered(response)
