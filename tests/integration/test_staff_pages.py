"""The back office through the app: staff signed in by the real mail flow, CSRF on, a real database and SMTP server.

What the data protection manager notices: a queue with the earliest answer date first and what is late or
nearly late standing out, filters and a CSV of the same selection; a request's page with the person's
data, the history, the statement's clauses and the decisions; each decision changes the data, the
history and the person's mail as it says. What a colleague with the viewer role notices: they read
everything and decide nothing. What a person notices: a staff session and their own session never open
each other's pages, and /me names who at the company looked at or changed their data. What an auditor
notices: only staff addresses get a sign-in mail, staff sessions end after 10 idle minutes, extensions
stop at the end of the first month, refusals and fees name the supervisory authority.

Dutch wording is asserted through the compiled catalogue (`in_language`), like the other page tests;
`<html lang>` and Babel's dates show the language independently of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import html
import io
import json
import re
import warnings
from collections import Counter
from email.utils import make_msgid
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from flask_babel import force_locale, ngettext
from sqlalchemy import func, select

from portal import i18n
from portal.clock import local_today, utcnow
from portal.models import (
    AuditEntry,
    AuditHead,
    AuthSession,
    DataItem,
    OutboxMail,
    Relation,
    RequestedChange,
    RightsRequest,
    Staff,
    Subject,
)
from portal.policy.deadlines import answer_due, is_working_day
from portal.services.requests import change_status, withdraw_consent
from tests.conftest import csrf_token_from
from tests.support.contexts import context
from tests.support.database import set_columns
from tests.support.mails import eventually, mails_to, plain, wait_for_mail
from tests.support.pages import (
    form_to,
    forms_on,
    html_lang,
    in_language,
    in_language_plural,
    long_date,
    rectifiable,
    signed_in,
    without_tokens,
)
from tests.support.people import AN, BRAM, CHLOE, DPO, EVA, FRANK, HANNE
from tests.support.staff import (
    STAFF_LINK,
    VIEWER,
    decide,
    file_request,
    queue_lines,
    request_row,
    squash,
    staff_browser,
    staff_sign_in,
    text,
)
from tests.support.systems import carry_out_everywhere

SESSION_COOKIE = "portal_session"
CLAUSES = ("2.4.verification", "2.4.response_time", "2.4.fee")  # besides the right's own clause
QUEUE_HEADER = ["request_id", "email", "right", "scope", "status", "received_on", "due_on", "extended_due_on",
                "closed_at", "statement_version"]


# --- signing in ------------------------------------------------------------------------------------------------


@pytest.fixture
def staff(runner) -> None:
    """A data protection manager and a colleague who only reads, added with the CLI as the README says."""
    for email, role in ((DPO, "dpo"), (VIEWER, "viewer")):
        result = runner.invoke(args=["create-staff", email, "--role", role])
        assert result.exit_code == 0, result.output


# --- requests, pages and mails ---------------------------------------------------------------------------------


def close_request(session, register, request_id: int, status: str, at: dt.datetime) -> None:
    change_status(session, context(register, actor=f"staff:{DPO}", today=at.date(), now=at, notifier=None), request_id,
                  to=status, note="Closed for the test.")


def history(session, request_id: int) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.status, e.note) for e in request_row(session, request_id).events]


def section(response, heading_id: str) -> str:
    """The text of the card whose heading has `heading_id`."""
    raw = response.get_data(as_text=True)
    match = re.search(rf'aria-labelledby="{heading_id}">(.*?)</section>', raw, re.DOTALL)
    assert match, f"no section {heading_id} on the page"
    return squash(match.group(1))


def queue_ids(client, query: str = "") -> list[int]:
    return [line["id"] for line in queue_lines(client.get("/staff/requests" + query))]


def history_lines(response) -> list[str]:
    match = re.search(r'<ol class="history">(.*?)</ol>', response.get_data(as_text=True), re.DOTALL)
    assert match, "no history on the page"
    return [squash(item) for item in re.findall(r"<li>(.*?)</li>", match.group(1), re.DOTALL)]


def decision_forms(response, request_id: int) -> set[str]:
    prefix = f"/staff/requests/{request_id}/"
    return {f.action.removeprefix(prefix) for f in forms_on(response) if f.action.startswith(prefix)}


def download_csv(client, url: str):
    """Download a CSV of the back office (a streamed response, closed): status, media type, headers, parsed rows."""
    with client.get(url) as answer:
        body = answer.get_data(as_text=True)
        return answer.status_code, answer.mimetype, dict(answer.headers), list(csv.reader(io.StringIO(body)))


def plural_in_language(app, language: str, singular: str, plural: str, num: int, **variables: object) -> str:
    """`ngettext` as the app's compiled catalogue renders it in `language`, with further variables."""
    with app.test_request_context(), force_locale(i18n.BABEL_LOCALES[language]):
        return ngettext(singular, plural, num, **variables)


def status_line(app, language: str, status: str) -> str:
    return in_language(app, language, "Status: %(status)s", status=in_language(app, language, status))


CARRYING_OUT = "being carried out in our systems"  # the label of the state carrying_out
DECIDED_NOW = ("This is our decision on your request. We are now carrying it out in our systems; when all of them "
               "have done so, you will get another mail. Your requests page shows how far each system is.")
CARRIED_OUT = "All our systems concerned have now carried out our decision on your request."


def completed_by_the_systems(app, session, inbox, request_id: int, address: str, language: str = "nl") -> None:
    """A decision told now, carried out in the systems: the request completes with the last confirmation."""
    # The manager's decision, told now; the systems have not confirmed yet.
    steps = [(actor, status) for actor, status, _note in history(session, request_id)]
    assert (f"staff:{DPO}", "carrying_out") in steps
    assert request_row(session, request_id).status == "carrying_out"
    carry_out_everywhere(app, session, request_id)
    session.expire_all()
    assert request_row(session, request_id).status == "completed"
    assert in_language(app, language, CARRIED_OUT) in plain(
        mail_with(inbox, address, status_line(app, language, "completed")))


def mail_with(inbox, address: str, *needles: str):
    """The first mail to `address` whose text holds every needle (waits for it at the SMTP server)."""
    def found():
        return next((m for m in mails_to(inbox, address) if all(n in plain(m) for n in needles)), None)

    eventually(lambda: found() is not None, timeout=10, message=f"no mail to {address} with {needles!r}; got "
               f"{[plain(m)[:80] for m in mails_to(inbox, address)]}")
    return found()


def mails_queued_for(session, address: str) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.recipient == address))


def values_of(session, email: str) -> set[str]:
    session.expire_all()
    return set(session.scalars(select(DataItem.value).join(Relation).join(Subject).where(Subject.email == email)))


def live_sessions(session, email: str, audience: str = "person") -> list[AuthSession]:
    session.expire_all()
    return list(session.scalars(select(AuthSession).where(AuthSession.email == email, AuthSession.audience == audience,
                                                          AuthSession.ended_at.is_(None))))


def authority_sentence(app, register, language: str) -> str:
    authority = register.authority
    return in_language(
        app, language, "You can lodge a complaint with the supervisory authority: %(name)s, %(street)s, "
        "%(postcode)s %(city)s, %(phone)s, %(email)s.", name=authority.name.in_language(language),
        street=authority.street, postcode=authority.postcode, city=authority.city.in_language(language),
        phone=authority.phone, email=authority.email)


def snapshot(session) -> dict[str, object]:
    """Everything a decision, ending sessions or a retry could change: to show that nothing did."""
    session.expire_all()
    return {
        "requests": sorted((r.id, r.status, r.extended_due_on, r.fee_cents, r.closed_at, len(r.events))
                           for r in session.scalars(select(RightsRequest))),
        "changes": sorted((c.id, c.decision) for c in session.scalars(select(RequestedChange))),
        "items": sorted((i.id, i.value) for i in session.scalars(select(DataItem))),
        "relations": sorted((r.id, r.restricted_since) for r in session.scalars(select(Relation))),
        "sessions": sorted((a.id, a.ended_at) for a in session.scalars(select(AuthSession))),
        "mails": session.scalar(select(func.count()).select_from(OutboxMail)),
        "failed": sorted((m.id, m.status, m.attempts) for m in session.scalars(
            select(OutboxMail).where(OutboxMail.last_error == "550 mailbox unavailable"))),
        "audit": session.scalar(select(AuditHead.seq)),
    }


def failed_mail(session, recipient: str = AN, subject: str = "Uw verzoek: een mail die niet vertrok") -> int:
    """A mail the outbox gave up on, as it is left after its last failed attempt."""
    now = utcnow()
    mail = OutboxMail(recipient=recipient, subject=subject, body_text="Deze mail bleef hangen.",
                      body_html="<p>Deze mail bleef hangen.</p>", message_id=make_msgid(domain="we-are.be"),
                      status="failed", attempts=8, created_at=now - dt.timedelta(hours=3),
                      next_attempt_at=now - dt.timedelta(hours=1), last_error="550 mailbox unavailable")
    session.add(mail)
    session.commit()
    return mail.id


def company_entries(response) -> list[tuple[str, str]]:
    """The rows of /me's "who at We Are looked at or changed your data": (who, what)."""
    raw = response.get_data(as_text=True)
    match = re.search(r'aria-labelledby="looked-title">(.*?)</section>', raw, re.DOTALL)
    assert match, "no audit section on /me"
    rows = [[squash(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.DOTALL)]
    return [(who, what) for _when, who, what in (row for row in rows if row)]


def relation_card(response, relation_id: int) -> str:
    raw = response.get_data(as_text=True)
    match = re.search(rf'<section class="card relation" id="relation-{relation_id}"(.*?)</section>', raw, re.DOTALL)
    assert match, f"relation {relation_id} is not on /me"
    return squash(match.group(1))


def relation_id(session, email: str, kind: str) -> int:
    session.expire_all()
    return session.scalar(select(Relation.id).join(Subject).where(Subject.email == email, Relation.kind == kind))


def file_through_pages(client, session, email: str, right: str, **typed: str) -> int:
    """The person files a request on /me/rights/<right> and it is received."""
    before = {r.id for r in session.scalars(select(RightsRequest))}
    page = client.get(f"/me/rights/{right}")
    assert page.status_code == 200, page.status_code
    form = form_to(page, "")
    sent = client.post(f"/me/rights/{right}", data={**form.values, **typed})
    assert sent.status_code == 303, text(sent)[:500]
    session.expire_all()
    [new] = [r.id for r in session.scalars(select(RightsRequest).where(RightsRequest.email == email))
             if r.id not in before]
    return new


# --- who may open what: every staff route, four callers ----------------------------------------------------------


GETS = ["/staff", "/staff/requests", "/staff/requests?state=all&q=peeters&page=1", "/staff/requests.csv",
        "/staff/requests/{request}", "/staff/reports", "/staff/outbox"]
POSTS = {
    "/staff/requests/{request}/start": {},
    "/staff/requests/{request}/ask": {"note": "Which project do you mean?"},
    "/staff/requests/{request}/extend": {"note": "Your request covers eight years of projects."},
    "/staff/requests/{request}/complete": {"note": "Your copy is attached."},
    "/staff/requests/{request}/refuse": {"ground": "excessive", "note": "The fourth identical request this week."},
    "/staff/requests/{request}/fee": {"amount": "25.00", "note": "The fourth identical request this week."},
    "/staff/people/sessions": {"email": AN},
    "/staff/outbox/{mail}/retry": {},
}
# What the data protection manager's POST did: the request's state, fee and extension, An's sessions, the mail.
DONE = {
    "start": lambda r, s, m: r.status == "in_progress",
    "ask": lambda r, s, m: r.status == "waiting" and r.events[-1].note == "Which project do you mean?",
    "extend": lambda r, s, m: r.status == "extended" and r.extended_due_on is not None,
    "complete": lambda r, s, m: r.status == "completed" and r.closed_at is not None,
    "refuse": lambda r, s, m: r.status == "refused" and r.closed_at is not None,
    "fee": lambda r, s, m: r.status == "waiting" and r.fee_cents == 2500,
    "sessions": lambda r, s, m: s == [] and r.status == "received",
    "retry": lambda r, s, m: m.status in ("pending", "sent") and r.status == "received",
}
CALLERS = ["anonymous", "person", "viewer", "dpo"]


@pytest.fixture
def world(app, session, inbox, demo, staff, register):
    """An's access request, a failed mail, and An signed in (a live person session to end)."""
    an = signed_in(app, inbox, AN, "en")
    return {"request": file_request(session, register, AN, "access"), "mail": failed_mail(session), "an": an}


def caller_browser(app, inbox, world, caller: str):
    """A browser of `caller` and the CSRF token its own pages carry (a valid form post of that browser)."""
    if caller == "anonymous":
        client = app.test_client()
        client.set_cookie(i18n.COOKIE, "nl")
        return client, csrf_token_from(client.get("/staff/sign-in").get_data(as_text=True))
    if caller == "person":
        client = world["an"]
        return client, csrf_token_from(client.get("/me").get_data(as_text=True))
    client = staff_browser(app, inbox, VIEWER if caller == "viewer" else DPO, "nl")
    return client, csrf_token_from(client.get("/staff/requests").get_data(as_text=True))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", GETS)
def test_every_staff_page_opens_for_staff_only(app, session, inbox, world, caller, route):
    client, _token = caller_browser(app, inbox, world, caller)
    url = route.format(**world)
    before = snapshot(session)
    if route.endswith(".csv") and caller in ("viewer", "dpo"):
        status, content_type, headers, rows = download_csv(client, url)
        assert status == 200 and content_type == "text/csv" and rows[0] == QUEUE_HEADER
        assert [int(row[0]) for row in rows[1:]] == [world["request"]]
        return
    answer = client.get(url)
    status, location, content_type = answer.status_code, answer.headers.get("Location"), answer.content_type
    body = answer.get_data(as_text=True)
    if caller in ("anonymous", "person"):
        assert status == 302, (caller, url, status)
        target = urlsplit(location)
        assert target.path == "/staff/sign-in"
        assert parse_qs(target.query)["next"] == [url]  # back to this page after signing in
        assert "an.peeters" not in body
        assert snapshot(session) == before  # nothing recorded, nothing viewed
        if caller == "person":  # ... and the person's own session is neither used nor harmed
            assert client.get("/me").status_code == 200
        return
    if route == "/staff":
        assert (status, location) == (302, "/staff/requests")
    else:
        assert status == 200, (caller, url, status)
        assert content_type.startswith("text/html") and 'lang="nl"' in body


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(POSTS))
def test_every_decision_is_the_data_protection_managers_alone(app, session, inbox, world, register, caller, route):
    client, token = caller_browser(app, inbox, world, caller)
    url = route.format(**world)
    before = snapshot(session)
    answer = client.post(url, data={"csrf_token": token, **POSTS[route]})
    if caller in ("anonymous", "person"):
        assert (answer.status_code, answer.headers.get("Location")) == (302, "/staff/sign-in")
        assert snapshot(session) == before
        return
    if caller == "viewer":
        assert answer.status_code == 403
        assert html_lang(answer) == "nl"  # a page in the viewer's language, not a bare status
        assert in_language(app, "nl", "Only the data protection manager") in text(answer)
        assert in_language(app, "nl", "Your role lets you read the back office, not decide on requests. Ask the "
                                      "data protection manager.") in text(answer)
        assert snapshot(session) == before
        return
    assert answer.status_code == 303, text(answer)[:800]
    action = url.rsplit("/", 1)[-1]
    request = request_row(session, world["request"])
    mail = session.get(OutboxMail, world["mail"])
    assert DONE[action](request, live_sessions(session, AN), mail), action
    assert snapshot(session) != before


def test_an_unknown_request_or_decision_is_not_found_for_staff(app, session, inbox, world):
    client = staff_browser(app, inbox, DPO)
    token = csrf_token_from(client.get("/staff/requests").get_data(as_text=True))
    missing = world["request"] + 1000
    assert client.get(f"/staff/requests/{missing}").status_code == 404
    before = snapshot(session)
    assert client.post(f"/staff/requests/{missing}/start", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/staff/requests/{world['request']}/approve", data={"csrf_token": token}).status_code == 404
    assert snapshot(session) == before


def test_a_decision_without_the_forms_token_is_refused(app, session, inbox, world):
    client = staff_browser(app, inbox, DPO)
    before = snapshot(session)
    answer = client.post(f"/staff/requests/{world['request']}/start", data={})
    assert answer.status_code == 400
    assert snapshot(session) == before


def test_a_demoted_manager_decides_nothing_from_the_next_request_on(app, session, inbox, world, runner):
    client = staff_browser(app, inbox, DPO)
    page = client.get(f"/staff/requests/{world['request']}")
    assert "start" in decision_forms(page, world["request"])
    assert runner.invoke(args=["create-staff", DPO, "--role", "viewer"]).exit_code == 0
    before = snapshot(session)
    form = form_to(page, f"/staff/requests/{world['request']}/start")  # a form opened while still dpo
    assert client.post(form.action, data=form.values).status_code == 403
    assert snapshot(session) == before
    assert decision_forms(client.get(f"/staff/requests/{world['request']}"), world["request"]) == set()


def test_a_disabled_staff_member_is_signed_out_at_the_next_request(app, session, inbox, world):
    client = staff_browser(app, inbox, VIEWER)
    set_columns(session, Staff, Staff.email == VIEWER, disabled_at=utcnow())
    answer = client.get("/staff/requests")
    assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/staff/sign-in"
    set_columns(session, Staff, Staff.email == VIEWER, disabled_at=None)
    assert client.get("/staff/requests").status_code == 302  # the session is gone, not only paused


def test_a_viewer_reads_the_request_and_the_failed_mails_without_any_decision_on_them(app, session, inbox, world):
    client = staff_browser(app, inbox, VIEWER)
    page = client.get(f"/staff/requests/{world['request']}")
    assert page.status_code == 200
    assert in_language(app, "en", "Your role lets you read this request, not decide on it.") in text(page)
    assert decision_forms(page, world["request"]) == set()
    assert not [f for f in forms_on(page) if f.action == "/staff/people/sessions"]
    assert "Korenlei 7, 9000 Gent" in text(page)  # the data are there to read
    outbox = client.get("/staff/outbox")
    assert "550 mailbox unavailable" in text(outbox)
    assert not [f for f in forms_on(outbox) if f.action.endswith("/retry")]
    # The dpo sees the same pages with their buttons.
    dpo = staff_browser(app, inbox, DPO)
    page = dpo.get(f"/staff/requests/{world['request']}")
    assert decision_forms(page, world["request"]) == {"start", "ask", "extend", "complete", "refuse", "fee"}
    assert len([f for f in forms_on(page) if f.action == "/staff/people/sessions"]) == 1
    assert [f.action for f in forms_on(dpo.get("/staff/outbox")) if f.action.endswith("/retry")] == [
        f"/staff/outbox/{world['mail']}/retry"]


ME_GETS = ["/me", "/me/requests", "/me/rights", "/me/rights/access", "/me/rights/erasure", "/me/downloads",
           "/me/sessions"]


@pytest.mark.parametrize("url", ME_GETS)
@pytest.mark.parametrize("who", [DPO, AN])
def test_a_staff_session_never_opens_a_persons_pages(app, session, inbox, demo, staff, runner, url, who):
    """Also not when the staff member's address is a data subject's: the audiences stay apart."""
    if who == AN:
        assert runner.invoke(args=["create-staff", AN, "--role", "viewer"]).exit_code == 0
    client = staff_browser(app, inbox, who)
    answer = client.get(url)
    assert answer.status_code == 302, (url, answer.status_code)
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/sign-in" and parse_qs(target.query)["next"] == [url]
    assert "Korenlei" not in text(answer)
    assert client.get("/staff/requests").status_code == 200  # still signed in to the back office


def test_a_staff_session_cannot_file_or_change_anything_as_a_person(app, session, inbox, demo, staff, runner):
    assert runner.invoke(args=["create-staff", AN, "--role", "dpo"]).exit_code == 0
    client = staff_browser(app, inbox, AN)
    token = csrf_token_from(client.get("/staff/requests").get_data(as_text=True))
    before = snapshot(session)
    for url, data in (("/me/rights/access", {"key": "k" * 32}), ("/me/consents/visitor.2/withdraw", {"key": "w" * 32}),
                      ("/sign-out/everywhere", {})):
        answer = client.post(url, data={"csrf_token": token, **data})
        assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/sign-in", url
    assert snapshot(session) == before


def test_a_staff_address_signed_in_as_a_person_opens_no_staff_page(app, session, inbox, demo, staff):
    """The data protection manager using the people's sign-in gets a person's session, not a staff one."""
    client = signed_in(app, inbox, DPO, "en")
    assert client.get("/me").status_code == 200
    for url in ("/staff/requests", "/staff/reports"):
        answer = client.get(url)
        assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/staff/sign-in"


# --- signing in to the back office ------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["code", "link"])
def test_a_staff_address_gets_a_back_office_link_that_signs_in(app, session, inbox, demo, staff, by):
    client = app.test_client()
    client.set_cookie(i18n.COOKIE, "en")
    assert staff_sign_in(client, inbox, DPO, by=by) == "/staff/requests"
    mail = wait_for_mail(inbox, DPO)
    assert mail["Subject"] == in_language(app, "en", "Your sign-in link for the privacy portal's back office")
    assert STAFF_LINK.search(plain(mail))
    page = client.get("/staff/requests")
    assert page.status_code == 200
    assert in_language(app, "en", "Sign out of the back office") in text(page)
    [auth] = live_sessions(session, DPO, "staff")
    assert live_sessions(session, DPO, "person") == []


def test_after_signing_in_staff_return_to_the_page_they_asked_for(app, session, inbox, demo, staff, register):
    request_id = file_request(session, register, AN, "access")
    client = app.test_client()
    asked = client.get(f"/staff/requests/{request_id}")
    assert parse_qs(urlsplit(asked.headers["Location"]).query)["next"] == [f"/staff/requests/{request_id}"]
    assert staff_sign_in(client, inbox, DPO, next_path=f"/staff/requests/{request_id}") == \
        f"/staff/requests/{request_id}"
    # A person's page is never where a staff sign-in lands.
    other = app.test_client()
    assert staff_sign_in(other, inbox, VIEWER, next_path="/me") == "/staff/requests"


@pytest.mark.parametrize("address", [AN, "nobody.at.all@example.org"])
def test_a_non_staff_address_sees_the_same_answer_and_gets_no_mail(app, session, inbox, demo, staff, address):
    staff_client, other = app.test_client(), app.test_client()

    def ask(client, email):
        form = client.get("/staff/sign-in")
        answer = client.post("/staff/sign-in", data={"email": email,
                                                     "csrf_token": csrf_token_from(form.get_data(as_text=True))})
        assert answer.status_code == 303 and answer.headers["Location"] == "/sign-in/check-mail"
        page = client.get("/sign-in/check-mail")
        assert page.status_code == 200
        return without_tokens(page).replace(email, "ADDRESS")

    def wrong_code(client, email):
        check = client.get("/sign-in/check-mail").get_data(as_text=True)
        typed = client.post("/sign-in/code", data={"code": "000 000", "csrf_token": csrf_token_from(check)})
        return typed.status_code, without_tokens(typed).replace(email, "ADDRESS")

    assert ask(other, address) == ask(staff_client, VIEWER)
    # A code typed for it opens nothing, and is answered exactly as a wrong code for a staff address is.
    assert wrong_code(other, address) == wrong_code(staff_client, VIEWER)
    assert other.get("/staff/requests").status_code == 302
    # The outbox sends in order: once the staff member's mail (asked for afterwards) is in, any other would be too.
    barrier = app.test_client()
    ask(barrier, DPO)
    wait_for_mail(inbox, DPO)
    wait_for_mail(inbox, VIEWER)
    assert mails_to(inbox, address) == []
    assert mails_queued_for(session, address) == 0
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuthSession).where(AuthSession.email == address)) == 0


def test_the_staff_session_ends_after_10_idle_minutes_with_a_message(app, session, inbox, demo, staff):
    client = staff_browser(app, inbox, DPO, "en")
    person = signed_in(app, inbox, AN, "en")
    staff_only = (AuthSession.email == DPO) & (AuthSession.audience == "staff")
    set_columns(session, AuthSession, staff_only, last_seen_at=utcnow() - dt.timedelta(minutes=9))
    assert client.get("/staff/requests").status_code == 200  # 9 minutes: still signed in
    set_columns(session, AuthSession, staff_only, last_seen_at=utcnow() - dt.timedelta(minutes=11))
    ended = client.get("/staff/requests?state=all")
    assert ended.status_code == 302
    target = urlsplit(ended.headers["Location"])
    assert target.path == "/staff/sign-in" and parse_qs(target.query)["next"] == ["/staff/requests?state=all"]
    page = client.get(ended.headers["Location"])
    assert in_language(app, "en", "Your back-office session has ended: after 10 minutes without activity we sign "
                                  "you out. Sign in again to continue.") in text(page)
    session.expire_all()
    [auth] = session.scalars(select(AuthSession).where(staff_only)).all()
    assert auth.ended_at is not None and auth.end_reason == "idle"
    assert client.get("/staff/requests").status_code == 302
    # A person's session is not held to the back office's 10 minutes (people: 20).
    set_columns(session, AuthSession, (AuthSession.email == AN) & (AuthSession.audience == "person"),
                last_seen_at=utcnow() - dt.timedelta(minutes=11))
    assert person.get("/me").status_code == 200


def test_signing_out_ends_the_staff_session_on_the_server(app, session, inbox, demo, staff):
    client = staff_browser(app, inbox, DPO, "en")
    stolen = client.get_cookie(SESSION_COOKIE).value
    page = client.get("/staff/requests")
    form = form_to(page, "/staff/sign-out")
    out = client.post("/staff/sign-out", data=form.values)
    assert (out.status_code, out.headers["Location"]) == (303, "/staff/sign-in")
    assert in_language(app, "en", "You are signed out of the back office.") in text(client.get("/staff/sign-in"))
    assert client.get("/staff/requests").status_code == 302
    session.expire_all()
    [auth] = session.scalars(select(AuthSession).where(AuthSession.email == DPO)).all()
    assert auth.ended_at is not None and auth.end_reason == "signed_out"
    # A copy of the cookie taken before signing out opens nothing either.
    copy = app.test_client()
    copy.set_cookie(SESSION_COOKIE, stolen)
    assert copy.get("/staff/requests").status_code == 302


# --- the queue --------------------------------------------------------------------------------------------------


@pytest.fixture
def queue(session, demo, staff, register) -> dict[str, int]:
    """Requests with known answer dates, filed in an order that is not the order of their dates."""
    today = local_today()
    made = {
        "later": file_request(session, register, EVA, "objection", due_on=today + dt.timedelta(days=8)),
        "extended": file_request(session, register, CHLOE, "portability", due_on=today - dt.timedelta(days=5),
                                 extended_due_on=today + dt.timedelta(days=30)),
        "week": file_request(session, register, HANNE, "restriction", due_on=today + dt.timedelta(days=7)),
        "overdue": file_request(session, register, AN, "access", due_on=today - dt.timedelta(days=2)),
        "today": file_request(session, register, BRAM, "erasure", due_on=today),
        "closed": file_request(session, register, FRANK, "access", due_on=today - dt.timedelta(days=10)),
    }
    close_request(session, register, made["closed"], "completed", utcnow())
    withdraw_consent(session, context(register, today=today, now=utcnow(), notifier=None), email=AN,
                     purpose_id="visitor.2", idempotency_key="w" * 32)  # taken at once: not queued
    return made


def test_the_queue_shows_the_earliest_answer_date_first_and_marks_what_is_late_or_nearly(app, inbox, queue):
    client = staff_browser(app, inbox, DPO, "en")
    lines = queue_lines(client.get("/staff/requests"))
    assert [line["id"] for line in lines] == [queue[k] for k in ("overdue", "today", "week", "later", "extended")]
    assert [line["class"] for line in lines] == ["urgency-overdue", "urgency-soon", "urgency-soon", "", ""]
    overdue, today, week, later, extended = lines
    assert in_language(app, "en", "overdue") in overdue["due"]
    assert in_language(app, "en", "within 7 days") in today["due"] and in_language(app, "en", "within 7 days") in \
        week["due"]
    assert in_language(app, "en", "within 7 days") not in later["due"]
    # The extended date counts, not the first one: five days past it, yet not overdue.
    assert in_language(app, "en", "extended") in extended["due"] and "overdue" not in extended["due"]
    assert overdue["person"] == AN and overdue["relations"] == "Customer and Website visitor or newsletter subscriber"
    assert overdue["request"] == f"#{queue['overdue']} Right of access"
    assert overdue["state"] == in_language(app, "en", "received")
    assert in_language_plural(app, "en", "%(num)d request selected, the earliest answer date first.",
                              "%(num)d requests selected, the earliest answer date first.", 5) in text(
        client.get("/staff/requests"))


def test_the_request_page_says_overdue_too(app, inbox, queue):
    client = staff_browser(app, inbox, DPO, "en")
    heading = re.search(r"<h1>(.*?)</h1>", client.get(f"/staff/requests/{queue['overdue']}").get_data(as_text=True),
                        re.DOTALL).group(1)
    assert 'class="badge badge-overdue"' in heading
    heading = re.search(r"<h1>(.*?)</h1>", client.get(f"/staff/requests/{queue['later']}").get_data(as_text=True),
                        re.DOTALL).group(1)
    assert "badge-overdue" not in heading and "badge-soon" not in heading


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["overdue", "today", "week", "later", "extended"]),
    ("?state=closed", ["closed"]),
    ("?state=completed", ["closed"]),
    ("?state=received", ["overdue", "today", "week", "later", "extended"]),
    ("?state=all", ["closed", "overdue", "today", "week", "later", "extended"]),
    ("?state=nonsense", ["overdue", "today", "week", "later", "extended"]),  # unknown: the default, open
    ("?right=erasure", ["today"]),
    ("?right=access&state=all", ["closed", "overdue"]),
    ("?right=withdrawal&state=all", ["closed", "overdue", "today", "week", "later", "extended"]),  # not staff's
    ("?relation=supplier", ["today"]),
    ("?relation=customer", ["overdue", "week"]),  # An and Hanne are customers
    ("?relation=applicant&state=all", ["extended"]),
    ("?q=PEETERS", ["overdue"]),  # part of the address, whatever the case
    ("?q=%40example.com&state=all", ["closed", "overdue", "today", "week", "later", "extended"]),
    ("?q=%25", []),  # LIKE's wildcards are searched for literally
    ("?q=_", []),
    ("?q=claes&right=restriction&relation=participant", ["week"]),
    ("?q=claes&right=access", []),
])
def test_the_queue_filters_by_state_right_relation_and_address(app, inbox, queue, query, expected):
    client = staff_browser(app, inbox, VIEWER, "en")
    page = client.get("/staff/requests" + query)
    assert queue_ids(client, query) == [queue[k] for k in expected]
    if not expected:
        assert in_language(app, "en", "No request matches this selection.") in text(page)


def test_the_queue_keeps_the_chosen_filters_in_its_form(app, inbox, queue):
    client = staff_browser(app, inbox, VIEWER, "en")
    page = client.get("/staff/requests?state=all&right=access&relation=customer&q=peeters")
    form = form_to(page, "/staff/requests")
    assert (form.values["state"], form.values["right"], form.values["relation"], form.values["q"]) == (
        "all", "access", "customer", "peeters")


def test_the_queue_pages_by_50_and_keeps_the_filters_across_pages(app, session, inbox, demo, staff, register):
    today = local_today()
    made = [file_request(session, register, AN, "access", due_on=today + dt.timedelta(days=(i * 7) % 11))
            for i in range(53)]
    file_request(session, register, BRAM, "access")  # filtered out by the address
    session.expire_all()
    expected = [r.id for r in sorted((request_row(session, i) for i in made), key=lambda r: (r.due_on, r.id))]
    client = staff_browser(app, inbox, DPO, "en")
    first = client.get("/staff/requests?q=peeters")
    assert [line["id"] for line in queue_lines(first)] == expected[:50]
    assert in_language(app, "en", "Page %(page)s of %(pages)s", page=1, pages=2) in text(first)
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first.get_data(as_text=True))
    assert next_link and 'rel="prev"' not in first.get_data(as_text=True)
    second = client.get(html.unescape(next_link.group(1)))
    assert parse_qs(urlsplit(html.unescape(next_link.group(1))).query) == {"q": ["peeters"], "page": ["2"]}
    assert [line["id"] for line in queue_lines(second)] == expected[50:]
    assert in_language(app, "en", "Page %(page)s of %(pages)s", page=2, pages=2) in text(second)
    assert 'rel="prev"' in second.get_data(as_text=True) and 'rel="next"' not in second.get_data(as_text=True)
    assert queue_ids(client, "?q=peeters&page=99") == expected[50:]  # past the end: the last page
    for odd in ("0", "-3", "abc"):
        assert queue_ids(client, f"?q=peeters&page={odd}") == expected[:50], odd


def test_the_csv_holds_the_selected_requests_with_a_header_and_inert_cells(app, session, inbox, queue, register):
    formula = file_request(session, register, "=1+2@example.com", "access")
    dash = file_request(session, register, "-cmd@example.com", "access", due_on=local_today())
    client = staff_browser(app, inbox, VIEWER, "en")
    page = client.get("/staff/requests?state=all&right=access")
    link = re.search(r'<a href="(/staff/requests\.csv[^"]*)">', page.get_data(as_text=True))
    assert link, "no CSV link on the queue"
    status, media_type, headers, rows = download_csv(client, html.unescape(link.group(1)))
    assert (status, media_type) == (200, "text/csv")
    assert headers["Content-Disposition"] == f'attachment; filename="requests-{local_today():%Y-%m-%d}.csv"'
    assert rows[0] == QUEUE_HEADER
    by_id = {int(row[0]): dict(zip(QUEUE_HEADER, row, strict=True)) for row in rows[1:]}
    assert [int(row[0]) for row in rows[1:]] == [line["id"] for line in queue_lines(page)]  # the same selection
    assert set(by_id) == {queue["closed"], queue["overdue"], formula, dash}
    assert by_id[formula]["email"] == "'=1+2@example.com"  # a spreadsheet shows it, never runs it
    assert by_id[dash]["email"] == "'-cmd@example.com"
    closed = request_row(session, queue["closed"])
    assert by_id[queue["closed"]]["status"] == "completed"
    assert by_id[queue["closed"]]["closed_at"] == closed.closed_at.isoformat(timespec="seconds")
    assert by_id[queue["overdue"]]["due_on"] == (local_today() - dt.timedelta(days=2)).isoformat()
    assert by_id[queue["overdue"]]["statement_version"] == register.statement.version
    # Another selection, another file.
    rows = download_csv(client, "/staff/requests.csv?right=erasure")[3]
    assert rows[0] == QUEUE_HEADER and [int(r[0]) for r in rows[1:]] == [queue["today"]]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "queue_exported", AuditEntry.actor == f"staff:{VIEWER}")) == 2


def test_the_csv_names_its_charset_once(app, session, inbox, queue):
    client = staff_browser(app, inbox, VIEWER, "en")
    assert download_csv(client, "/staff/requests.csv")[2]["Content-Type"] == "text/csv; charset=utf-8"


def test_the_csv_download_gives_its_database_connection_back(app, session, inbox, queue):
    client = staff_browser(app, inbox, VIEWER, "en")
    pool = app.extensions["portal.db"].engine.pool
    session.close()
    gc.disable()  # a stray connection must stay visible, not be closed by a collection at a random moment
    try:
        for _ in range(3):
            with client.get("/staff/requests.csv?state=all") as answer:
                assert len(answer.get_data(as_text=True).splitlines()) == 7  # the header and the six requests
        # Every export is complete and closed: each connection is back (the mail thread may hold one a moment).
        eventually(lambda: pool.checkedout() == 0, timeout=5,
                   message=f"{pool.checkedout()} connection(s) still checked out after three exports")
    finally:
        gc.enable()
        with warnings.catch_warnings():  # should it fail, close the stray connections here, not in a later test
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


# --- a request's page --------------------------------------------------------------------------------------------


def test_the_request_page_shows_the_persons_relations_data_history_clauses_and_actions(
    app, session, inbox, demo, staff, register,
):
    an = signed_in(app, inbox, AN, "en")
    request_id = file_through_pages(an, session, AN, "access", details="Alles wat u over mij bijhoudt, graag.")
    client = staff_browser(app, inbox, DPO, "en")
    assert decide(client, request_id, "start").status_code == 303
    page = client.get(f"/staff/requests/{request_id}")
    assert page.status_code == 200
    found = request_row(session, request_id)
    facts = section(page, "req-title")
    assert AN in facts and long_date(found.received_on, "en") in facts and long_date(found.due_on, "en") in facts
    assert "Alles wat u over mij bijhoudt, graag." in facts
    steps = history_lines(page)
    assert len(steps) == 2
    assert steps[0].endswith(f" · {in_language(app, 'en', 'received')}") and DPO not in steps[0]
    assert steps[1].endswith(f"{DPO} · {in_language(app, 'en', 'in progress')}")
    # The person's relations and data, as the person sees them on /me.
    person = section(page, "person-title")
    for kind in ("customer", "visitor"):
        assert register.relations[kind].name.en in person
    for value in ("Korenlei 7, 9000 Gent", "BE68 5390 0754 7034", "Head of Digital, Brouwerij De Kaai"):
        assert value in person
    assert "BE71 0961 2345 6769" not in text(page)  # Bram's, not An's
    # The statement's clauses: the right's own, verification, the answer period and the fee.
    raw = page.get_data(as_text=True)
    law = section(page, "law-title")
    for clause in ("2.4.access", *CLAUSES):
        assert f'href="/statement#{clause}"' in raw, clause
        assert squash(register.clauses[clause].text.en) in law, clause
    assert decision_forms(page, request_id) == {"ask", "extend", "complete", "refuse", "fee"}  # started already
    # Who looked: this very view is in the audit trail about An.
    assert DPO in section(page, "audit-title")
    assert in_language(app, "en", "looked at a request and the data it concerns") in section(page, "audit-title")


def test_each_label_on_the_request_page_names_one_field(app, session, inbox, demo, staff, register):
    """Six decision forms on one page: a label must lead to its own field, not to the first "note" of the page."""
    request_id = file_request(session, register, AN, "rectification", changes=[(None, "name", None, "An Peters")])
    client = staff_browser(app, inbox, DPO, "en")
    raw = client.get(f"/staff/requests/{request_id}").get_data(as_text=True)
    ids = Counter(re.findall(r'\sid="([^"]+)"', raw))
    targets = re.findall(r'<label for="([^"]+)"', raw)
    assert len(targets) >= 6  # the question, extension, message, refusal reasons, fee and its reasons
    assert {target: ids[target] for target in targets} == dict.fromkeys(targets, 1)
    assert len(set(targets)) == len(targets)


def test_an_erasure_request_page_shows_what_would_be_erased_and_what_kept(app, session, inbox, demo, staff, register):
    request_id = file_request(session, register, BRAM, "erasure", scope="all")
    client = staff_browser(app, inbox, DPO, "en")
    page = client.get(f"/staff/requests/{request_id}")
    plan = section(page, "plan-title")
    assert in_language_plural(app, "en", "%(num)d item will be erased.", "%(num)d items will be erased.", 4) in plan
    kept = (f"{register.relations['supplier'].name.en}, {register.categories['delivery'].name.en} (2): "
            + in_language(app, "en", "the law obliges us to keep these records, until %(date)s",
                          date=long_date(dt.date(2034, 6, 30), "en")))
    assert kept in plan
    assert f'href="/statement#{register.rights["erasure"].clause}"' in page.get_data(as_text=True)
    # An access request has no such plan.
    other = file_request(session, register, BRAM, "access")
    assert 'id="plan-title"' not in client.get(f"/staff/requests/{other}").get_data(as_text=True)


# --- decisions and their effect ------------------------------------------------------------------------------


def test_starting_tells_the_person_the_request_is_handled(app, session, inbox, demo, staff, register):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    done = decide(client, request_id, "start")
    assert (done.status_code, done.headers["Location"]) == (303, f"/staff/requests/{request_id}")
    told = text(client.get(done.headers["Location"]))
    assert in_language(app, "en", "Done. The person has been told by mail.") in told
    assert history(session, request_id)[-1] == (f"staff:{DPO}", "in_progress", None)
    mail = mail_with(inbox, AN, status_line(app, "nl", "in progress"))  # in An's language
    assert mail["Subject"] == in_language(app, "nl", "Your request: %(right)s",
                                          right=register.rights["access"].name.nl)
    assert in_language(app, "nl", "We answer at the latest on %(date)s.",
                       date=long_date(request_row(session, request_id).due_on, "nl")) in plain(mail)


def test_a_question_makes_the_request_wait_until_the_person_answers_it(app, session, inbox, demo, staff, register):
    an = signed_in(app, inbox, AN, "en")
    request_id = file_through_pages(an, session, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    assert decide(client, request_id, "ask", note="Which project of 2023 do you mean?").status_code == 303
    assert request_row(session, request_id).status == "waiting"
    mail = mail_with(inbox, AN, status_line(app, "nl", "waiting for you"))
    assert "Which project of 2023 do you mean?" in plain(mail)
    assert "ask" not in decision_forms(client.get(f"/staff/requests/{request_id}"), request_id)  # already asked
    waiting = queue_lines(client.get("/staff/requests?state=waiting"))[0]
    assert waiting["id"] == request_id
    # The person is told "waiting for you"; the manager reads who the request waits for.
    assert waiting["state"] == in_language(app, "en", "waiting for the person's answer")
    client.set_cookie("portal_lang", "nl")
    page = text(client.get(f"/staff/requests/{request_id}"))
    assert in_language(app, "nl", "waiting for the person's answer") in page
    client.set_cookie("portal_lang", "en")

    # The person answers on /me/requests; the request goes back to being handled.
    status = an.get("/me/requests")
    assert in_language(app, "en", "We asked you a question") in text(status)
    assert "Which project of 2023 do you mean?" in text(status)
    answered = an.post(f"/me/requests/{request_id}/answer", data={
        **form_to(status, f"/me/requests/{request_id}/answer").values, "answer": "The webshop of Brouwerij De Kaai"})
    assert answered.status_code == 303
    assert request_row(session, request_id).status == "in_progress"
    assert history(session, request_id)[-2:] == [
        (f"staff:{DPO}", "waiting", "Which project of 2023 do you mean?"),
        ("person", "in_progress", "The webshop of Brouwerij De Kaai")]
    page = client.get(f"/staff/requests/{request_id}")
    assert "The webshop of Brouwerij De Kaai" in history_lines(page)[-1]
    assert queue_lines(client.get("/staff/requests?state=in_progress"))[0]["id"] == request_id


def first_month_edges(register, today: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """Receipt dates whose first month ends today (its last day), and ended the day before; with those ends."""
    ends: dict[dt.date, dt.date] = {}
    for back in range(20, 50):
        received = today - dt.timedelta(days=back)
        ends.setdefault(answer_due(received, response_time=register.handling.response_time), received)
    last_day = min(end for end in ends if end >= today)
    day_after = max(end for end in ends if end < today)
    if is_working_day(today):
        assert last_day == today
    if is_working_day(today - dt.timedelta(days=1)):
        assert day_after == today - dt.timedelta(days=1)
    return ends[last_day], last_day, ends[day_after], day_after


def test_an_extension_on_the_last_day_of_the_first_month_gives_the_person_the_new_date_and_reasons(
    app, session, inbox, demo, staff, register,
):
    today = local_today()
    received, first_month_ends, _late, _ended = first_month_edges(register, today)
    request_id = file_request(session, register, AN, "access", received_on=received)
    client = staff_browser(app, inbox, DPO, "en")
    page = client.get(f"/staff/requests/{request_id}")
    assert long_date(first_month_ends, "en") in section(page, "req-title")
    assert "note" in form_to(page, f"/staff/requests/{request_id}/extend").typed  # the reasons to type
    done = decide(client, request_id, "extend", note="Your request covers eight years of projects.")
    assert done.status_code == 303
    new_date = answer_due(received, response_time=register.handling.response_time,
                          extension=register.handling.extension)
    found = request_row(session, request_id)
    assert (found.status, found.extended_due_on, found.due_on) == ("extended", new_date, first_month_ends)
    mail = mail_with(inbox, AN, status_line(app, "nl", "extended"))
    assert in_language(app, "nl", "We answer at the latest on %(date)s.", date=long_date(new_date, "nl")) in plain(mail)
    assert "Your request covers eight years of projects." in plain(mail)
    # The queue and the page show the new date; a second extension is not offered, nor accepted.
    [line] = queue_lines(client.get("/staff/requests"))
    assert in_language(app, "en", "extended") in line["due"]
    page = client.get(f"/staff/requests/{request_id}")
    assert in_language(app, "en", "extended; first due %(date)s", date=long_date(first_month_ends, "en")) in text(page)
    assert "note" not in form_to(page, f"/staff/requests/{request_id}/extend").typed
    # Once: also after the request moved on (here back to being handled), a second extension is refused.
    assert decide(client, request_id, "start").status_code == 303
    page = client.get(f"/staff/requests/{request_id}")
    assert "note" not in form_to(page, f"/staff/requests/{request_id}/extend").typed
    before = snapshot(session)
    again = client.post(f"/staff/requests/{request_id}/extend",
                        data={"csrf_token": csrf_token_from(page.get_data(as_text=True)), "note": "More time."})
    assert again.status_code == 409
    assert in_language(app, "en", "This request was already extended once; the law allows two months more, "
                                  "no further.") in text(again)
    assert snapshot(session) == before


@pytest.mark.parametrize("language", ["en", "nl"])
def test_an_extension_the_day_after_the_first_month_is_refused_with_an_explanation_and_nothing_changes(
    app, session, inbox, demo, staff, register, language,
):
    today = local_today()
    _in_time, _last, received, first_month_ended = first_month_edges(register, today)
    request_id = file_request(session, register, AN, "access", received_on=received)
    client = staff_browser(app, inbox, DPO, language)
    page = client.get(f"/staff/requests/{request_id}")
    extend = form_to(page, f"/staff/requests/{request_id}/extend")
    assert "note" not in extend.typed  # no reasons to type: the page says it is no longer possible
    assert in_language(app, language, "No longer possible: an extension must be announced within the first month "
                       "(until %(date)s), once.", date=long_date(first_month_ended, language)) in text(page)
    before = snapshot(session)
    refused = client.post(extend.action, data={"csrf_token": extend.values["csrf_token"],
                                               "note": "Your request covers eight years of projects."})
    assert refused.status_code == 409
    assert html_lang(refused) == language
    assert in_language(
        app, language, "The period can no longer be extended: an extension must be announced within the first month, "
        "which ended on %(date)s (statement 2.4, Article 12(3) GDPR). Answer the request now, or refuse it with "
        "reasons.", date=long_date(first_month_ended, language)) in text(refused)
    assert snapshot(session) == before
    found = request_row(session, request_id)
    assert (found.status, found.extended_due_on) == ("received", None)


def test_completing_an_erasure_erases_the_data_and_tells_what_is_kept_and_why(
    app, session, inbox, demo, staff, register,
):
    bram = signed_in(app, inbox, BRAM, "en")
    request_id = file_through_pages(bram, session, BRAM, "erasure", scope="all")
    assert "+32 470 12 34 56" in text(bram.get("/me"))
    client = staff_browser(app, inbox, DPO, "en")
    done = decide(client, request_id, "complete", note="Wij hebben uw gegevens gewist.")
    assert done.status_code == 303
    me = text(bram.get("/me"))
    for erased in ("+32 470 12 34 56", "Agreement on the UX sprint for the webshop project",
                   "De Clercq Design (sole trader)"):
        assert erased not in me, erased
    for kept in ("BE71 0961 2345 6769", "UX design, 40 days, project Brouwerij De Kaai"):
        assert kept in me, kept  # delivery records: kept by law
    assert values_of(session, BRAM) == {"BE71 0961 2345 6769", "UX design, 40 days, project Brouwerij De Kaai"}
    mail = plain(mail_with(inbox, BRAM, status_line(app, "nl", CARRYING_OUT)))
    assert in_language(app, "nl", DECIDED_NOW) in mail
    assert "Wij hebben uw gegevens gewist." in mail
    assert in_language_plural(app, "nl", "We erased %(num)d data item.", "We erased %(num)d data items.", 4) in mail
    assert in_language(app, "nl", "We keep, because we must:") in mail
    assert (f"- {register.relations['supplier'].name.nl}, {register.categories['delivery'].name.nl} (2): "
            + in_language(app, "nl", "the law obliges us to keep these records, until %(date)s",
                          date=long_date(dt.date(2034, 6, 30), "nl"))) in mail
    completed_by_the_systems(app, session, inbox, request_id, BRAM)


def test_an_erasure_that_keeps_nothing_says_so_and_leaves_no_data(app, session, inbox, demo, staff, register):
    request_id = file_request(session, register, EVA, "erasure", scope="all")
    client = staff_browser(app, inbox, DPO, "en")
    assert in_language(app, "en", "Nothing is kept.") in section(client.get(f"/staff/requests/{request_id}"),
                                                                   "plan-title")
    assert decide(client, request_id, "complete").status_code == 303
    assert values_of(session, EVA) == set()
    assert relation_id(session, EVA, "participant") is None
    mail = plain(mail_with(inbox, EVA, status_line(app, "nl", CARRYING_OUT)))
    assert in_language_plural(app, "nl", "We erased %(num)d data item.", "We erased %(num)d data items.", 6) in mail
    assert in_language(app, "nl", "We keep nothing else about you under the relations concerned.") in mail
    completed_by_the_systems(app, session, inbox, request_id, EVA)
    eva = signed_in(app, inbox, EVA, "en")
    assert "Group photo" not in text(eva.get("/me"))


def test_completing_a_rectification_applies_only_the_approved_change(app, session, inbox, demo, staff, register):
    an = signed_in(app, inbox, AN, "en")
    page = an.get("/me/rights/rectification")
    names = {field_name: name for name, (field_name, _value) in rectifiable(page).items()}
    request_id = file_through_pages(an, session, AN, "rectification", **{
        names["phone"]: "+32 9 765 43 21", names["office address"]: "Veldstraat 1, 9000 Gent"})
    changes = {c.field: c.id for c in request_row(session, request_id).changes}
    client = staff_browser(app, inbox, DPO, "en")
    staff_page = client.get(f"/staff/requests/{request_id}")
    proposed = section(staff_page, "changes-title")
    assert "+32 9 123 45 67" in proposed and "+32 9 765 43 21" in proposed and "Veldstraat 1, 9000 Gent" in proposed
    assert set(re.findall(r'name="approve" value="(\d+)"', staff_page.get_data(as_text=True))) == {
        str(i) for i in changes.values()}
    done = decide(client, request_id, "complete", approve=[str(changes["phone"])],
                  note="Uw telefoonnummer is aangepast.")
    assert done.status_code == 303
    me = text(an.get("/me"))
    assert "+32 9 765 43 21" in me and "+32 9 123 45 67" not in me
    assert "Korenlei 7, 9000 Gent" in me and "Veldstraat 1, 9000 Gent" not in me
    session.expire_all()
    assert {c.field: c.decision for c in request_row(session, request_id).changes} == {
        "phone": "approved", "office address": "rejected"}
    decided = section(client.get(f"/staff/requests/{request_id}"), "changes-title")
    assert in_language(app, "en", "approved") in decided and in_language(app, "en", "not applied") in decided
    assert "Uw telefoonnummer is aangepast." in plain(mail_with(inbox, AN, status_line(app, "nl", CARRYING_OUT)))
    completed_by_the_systems(app, session, inbox, request_id, AN)


def test_completing_a_restriction_marks_the_relation_on_the_overview_and_in_the_copy(
    app, session, inbox, demo, staff, register,
):
    an = signed_in(app, inbox, AN, "en")
    customer, visitor = relation_id(session, AN, "customer"), relation_id(session, AN, "visitor")
    request_id = file_through_pages(an, session, AN, "restriction", scope=f"relation:{customer}")
    note = in_language(app, "en", "Restricted since %(date)s at your request: we only store these data and use them "
                       "for nothing else, except with your consent, for legal claims, to protect someone else's rights "
                       "or for an important public interest (Article 18 GDPR).",
                       date=long_date(local_today(), "en"))
    assert note not in relation_card(an.get("/me"), customer)
    client = staff_browser(app, inbox, DPO, "en")
    assert decide(client, request_id, "complete").status_code == 303
    me = an.get("/me")
    assert note in relation_card(me, customer)
    assert note not in relation_card(me, visitor)  # only the relation the request was about
    assert in_language(app, "nl", DECIDED_NOW) in plain(mail_with(inbox, AN, status_line(app, "nl", CARRYING_OUT)))
    completed_by_the_systems(app, session, inbox, request_id, AN)

    downloads = an.get("/me/downloads")
    with an.post("/me/downloads/copy.json",
                 data={"csrf_token": csrf_token_from(downloads.get_data(as_text=True))}) as answer:
        assert answer.status_code == 200
        document = json.loads(answer.get_data())
    relations = {r["relation_id"]: r for r in document["tables"]["relations"]}
    assert relations[customer]["restricted_since"] == local_today().isoformat()
    assert relations[visitor]["restricted_since"] is None
    restricted = {(i["relation_id"], i["restricted"]) for i in document["tables"]["data_items"]}
    assert restricted == {(customer, True), (visitor, False)}
    assert in_language(app, "en", "restricted since %(date)s", date=format_date(local_today(), "d MMM y",
                                                                                 locale="en_GB")) in section(
        client.get(f"/staff/requests/{request_id}"), "person-title")


def test_a_refusal_gives_the_reasons_and_the_supervisory_authoritys_details(
    app, session, inbox, demo, staff, register,
):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    reasons = "Kennelijk ongegrond: u stelde gisteren dezelfde vraag en kreeg al een antwoord."
    done = decide(client, request_id, "refuse", ground="manifestly_unfounded", note=reasons)
    assert done.status_code == 303
    found = request_row(session, request_id)
    assert found.status == "refused" and found.closed_at is not None
    assert history(session, request_id)[-1] == (f"staff:{DPO}", "refused", reasons)
    mail = plain(mail_with(inbox, AN, status_line(app, "nl", "refused")))
    assert reasons in mail
    assert authority_sentence(app, register, "nl") in mail
    for detail in ("Gegevensbeschermingsautoriteit", "Drukpersstraat 35", "1000 Brussel", "contact@apd-gba.be"):
        assert detail in mail, detail
    # Closed: no decision is offered any more.
    assert decision_forms(client.get(f"/staff/requests/{request_id}"), request_id) == set()


def test_the_ground_of_a_refusal_is_on_record(app, session, inbox, demo, staff, register):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    assert decide(client, request_id, "refuse", ground="excessive", note="The fourth request this week.").status_code \
        == 303
    session.expire_all()
    details = session.scalars(select(AuditEntry.details).where(AuditEntry.target == f"request:{request_id}")).all()
    page = text(client.get(f"/staff/requests/{request_id}"))
    assert "excessive" in " ".join(details) or in_language(app, "en", "Excessive, in particular repetitive") in page


def test_a_fee_is_asked_with_its_amount_reasons_and_the_right_to_complain(app, session, inbox, demo, staff, register):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    reasons = "Dit is uw vierde identieke verzoek deze maand."
    done = decide(client, request_id, "fee", amount="25.00", note=reasons)
    assert done.status_code == 303
    found = request_row(session, request_id)
    assert (found.status, found.fee_cents) == ("waiting", 2500)
    mail = plain(mail_with(inbox, AN, status_line(app, "nl", "waiting for you")))
    assert reasons in mail
    assert in_language(app, "nl", "We ask a reasonable fee of %(amount)s before we handle this request (statement "
                       "2.4). Our reasons are above. Reply to this mail if you want to pay it, or to tell us why you "
                       "think it is not due.", amount=format_currency(25, "EUR", locale="nl_BE")) in mail
    assert authority_sentence(app, register, "nl") in mail
    assert format_currency(25, "EUR", locale="en_GB") in section(client.get(f"/staff/requests/{request_id}"),
                                                                 "req-title")


@pytest.mark.parametrize("amount", ["0.01", "1000.00"])  # 0.01 against a float 0.01 was once refused
def test_the_fee_limits_of_the_documentation_are_accepted(app, session, inbox, demo, staff, register, amount):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    done = decide(client, request_id, "fee", amount=amount, note="Reasons.")
    assert done.status_code == 303, text(done)[:300]
    assert request_row(session, request_id).fee_cents == int(round(float(amount) * 100))


MISSING = [
    ("ask", {"note": ""}, "Write the reasons: the person is told them."),
    ("ask", {"note": "   "}, "Write the reasons: the person is told them."),
    ("extend", {"note": ""}, "Write the reasons: the person is told them."),
    ("refuse", {"ground": "excessive", "note": ""}, "Write the reasons: the person is told them."),
    ("refuse", {"note": "The fourth request this week."}, "Choose the ground of the refusal."),
    ("fee", {"amount": "25.00", "note": ""}, "Write the reasons: the person is told them."),
    ("fee", {"note": "The fourth request this week."}, "Enter the fee in euro, for example 25.00."),
    ("fee", {"amount": "0", "note": "The fourth request this week."}, "Enter the fee in euro, for example 25.00."),
    ("fee", {"amount": "1000.01", "note": "The fourth request this week."},
     "A reasonable fee is between %(min)s and %(max)s euro."),
]


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize(("action", "fields", "message"), MISSING)
def test_a_decision_without_its_reasons_is_refused_with_a_message_and_changes_nothing(
    app, session, inbox, demo, staff, register, action, fields, message, language,
):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, language)
    page = client.get(f"/staff/requests/{request_id}")
    before, mails = snapshot(session), mails_queued_for(session, AN)
    refused = decide(client, request_id, action, page, **fields)
    assert refused.status_code == 400
    assert html_lang(refused) == language
    assert in_language(app, language, message).split("%(")[0] in text(refused)
    marked = 'aria-invalid="true"' if "ground" not in message else 'class="field has-error"'
    assert marked in refused.get_data(as_text=True)  # the field in error is marked, not only the message shown
    assert snapshot(session) == before and mails_queued_for(session, AN) == mails
    for name, value in fields.items():  # what was typed is still in the form
        if name in ("note", "amount") and value.strip():
            assert value in form_to(refused, f"/staff/requests/{request_id}/{action}").values[name]


@pytest.mark.parametrize("action", ["start", "ask", "extend", "complete", "refuse", "fee"])
def test_no_decision_reopens_a_closed_request(app, session, inbox, demo, staff, register, action):
    request_id = file_request(session, register, AN, "access")
    close_request(session, register, request_id, "completed", utcnow())
    client = staff_browser(app, inbox, DPO, "en")
    token = csrf_token_from(client.get("/staff/requests").get_data(as_text=True))
    before = snapshot(session)
    refused = client.post(f"/staff/requests/{request_id}/{action}", data={
        "csrf_token": token, **POSTS[f"/staff/requests/{{request}}/{action}"]})
    assert refused.status_code == 409
    assert in_language(app, "en", "This step is not possible for a request that is %(status)s.",
                       status="completed") in text(refused)
    assert snapshot(session) == before


@pytest.mark.parametrize("language", ["en", "nl"])
def test_a_refused_move_names_the_state_in_the_pages_language(app, session, inbox, demo, staff, register, language):
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, language)
    assert decide(client, request_id, "start").status_code == 303
    token = csrf_token_from(client.get("/staff/requests").get_data(as_text=True))
    again = client.post(f"/staff/requests/{request_id}/start", data={"csrf_token": token})  # a colleague's tab
    assert again.status_code == 409
    assert in_language(app, language, "This step is not possible for a request that is %(status)s.",
                       status=in_language(app, language, "in progress")) in text(again)


# --- what the person sees of the staff's work -----------------------------------------------------------------


def test_the_person_sees_who_at_the_company_looked_at_and_changed_their_data(
    app, session, inbox, demo, staff, register,
):
    an = signed_in(app, inbox, AN, "en")
    request_id = file_through_pages(an, session, AN, "access")
    nobody_yet = in_language(app, "en", "Nobody at %(company)s has looked at or changed your data through this portal.",
                             company=register.controller.short_name)
    assert nobody_yet in text(an.get("/me")) and company_entries(an.get("/me")) == []
    viewer = staff_browser(app, inbox, VIEWER, "en")
    assert viewer.get(f"/staff/requests/{request_id}").status_code == 200
    dpo = staff_browser(app, inbox, DPO, "en")
    assert decide(dpo, request_id, "complete", note="Here is your copy.").status_code == 303

    rows = company_entries(an.get("/me"))
    dpo_name = in_language(app, "en", "%(email)s (our staff)", email=DPO)
    viewer_name = in_language(app, "en", "%(email)s (our staff)", email=VIEWER)
    looked = in_language(app, "en", "looked at a request and the data it concerns")
    completed = in_language(app, "en", "request #%(number)s (%(right)s): %(status)s", number=request_id,
                            right=register.rights["access"].name.en, status=in_language(app, "en", "completed"))
    assert (dpo_name, looked) in rows and (dpo_name, completed) in rows and (viewer_name, looked) in rows, rows
    assert {who for who, _what in rows} == {dpo_name, viewer_name}  # her own steps (filing, signing in) are not here
    assert nobody_yet not in text(an.get("/me"))

    bram = signed_in(app, inbox, BRAM, "en")
    page = bram.get("/me")
    assert company_entries(page) == []
    assert DPO not in text(page) and VIEWER not in text(page)


def test_the_manager_ends_a_persons_sessions_and_their_next_request_is_signed_out(
    app, session, inbox, demo, staff, register,
):
    phone, laptop = signed_in(app, inbox, AN, "en"), signed_in(app, inbox, AN, "en")
    bram = signed_in(app, inbox, BRAM, "en")
    request_id = file_request(session, register, AN, "access")
    client = staff_browser(app, inbox, DPO, "en")
    page = client.get(f"/staff/requests/{request_id}")
    form = form_to(page, "/staff/people/sessions")
    assert form.values["email"] == AN
    done = client.post("/staff/people/sessions", data=form.values)
    assert done.status_code == 303
    assert plural_in_language(app, "en", "%(num)d session of %(email)s ended.", "%(num)d sessions of %(email)s ended.",
                              2, email=AN) in text(client.get(done.headers["Location"]))
    assert live_sessions(session, AN) == []
    for device in (phone, laptop):
        answer = device.get("/me")
        assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/sign-in"
        assert in_language(app, "en", "Your session has ended: our data protection manager ended every session of "
                           "your address. Sign in again to continue, and write to us if you have questions.") in text(
            device.get(answer.headers["Location"]))
    assert bram.get("/me").status_code == 200  # someone else's session is untouched
    assert client.get("/staff/requests").status_code == 200  # and so is the manager's
    session.expire_all()
    ended = session.scalars(select(AuthSession).where(AuthSession.email == AN)).all()
    assert {a.end_reason for a in ended} == {"staff"}
    again = signed_in(app, inbox, AN, "en")
    assert (in_language(app, "en", "%(email)s (our staff)", email=DPO),
            in_language(app, "en", "ended every session of this address")) in company_entries(again.get("/me"))


# --- reports and failed mails ----------------------------------------------------------------------------------


def test_the_reports_give_counts_per_month_the_median_and_what_is_overdue(app, session, inbox, demo, staff, register):
    today = local_today()
    noon = dt.datetime.combine(today, dt.time(12))
    answered = [  # right, received days ago, answered days after receipt, how
        ("access", 40, 5, "completed"), ("erasure", 30, 10, "refused"), ("portability", 60, 30, "completed")]
    received = {}
    for right, ago, took, how in answered:
        request_id = file_request(session, register, AN, right)
        close_request(session, register, request_id, how, noon - dt.timedelta(days=ago - took))
        set_columns(session, RightsRequest, RightsRequest.id == request_id,
                    received_on=today - dt.timedelta(days=ago))
        received[request_id] = (right, today - dt.timedelta(days=ago))
    late = today - dt.timedelta(days=45)
    received[file_request(session, register, BRAM, "access", received_on=late)] = ("access", late)  # overdue
    received[file_request(session, register, HANNE, "objection")] = ("objection", today)
    withdraw_consent(session, context(register, today=today, now=utcnow(), notifier=None), email=AN,
                     purpose_id="visitor.2", idempotency_key="w" * 32)  # not a staff request

    client = staff_browser(app, inbox, VIEWER, "en")
    page = client.get("/staff/reports")
    assert page.status_code == 200
    facts = dict(zip(*[[squash(x) for x in re.findall(rf"<{tag}>(.*?)</{tag}>", page.get_data(as_text=True),
                                                      re.DOTALL)] for tag in ("dt", "dd")], strict=True))
    days = lambda n: in_language(app, "en", "%(days)s days", days=str(n))  # noqa: E731
    assert facts[in_language(app, "en", "Open requests")] == "2"
    assert facts[in_language(app, "en", "Overdue")] == "1"
    assert facts[in_language(app, "en", "Answered requests")] == "3"
    assert facts[in_language(app, "en", "Median answer time")] == days(10)
    assert facts[in_language(app, "en", "95th percentile of the answer time")] == days(30)

    table = re.search(r'aria-labelledby="month-title">.*?<tbody>(.*?)</tbody>', page.get_data(as_text=True),
                      re.DOTALL).group(1)
    shown = {squash(month): [squash(c) for c in cells] for month, cells in
             ((m, re.findall(r"<td>(.*?)</td>", row)) for m, row in
              re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table, re.DOTALL))}
    rights = [r for r in ("access", "rectification", "erasure", "restriction", "objection", "portability")
              if r in {right for right, _day in received.values()}]
    expected: dict[str, Counter[str]] = {}
    for right, day in received.values():
        expected.setdefault(f"{day:%Y-%m}", Counter())[right] += 1
    assert shown == {month: [str(counts[r]) for r in rights] + [str(sum(counts.values()))]
                     for month, counts in expected.items()}
    columns = [squash(h) for h in re.findall(r'<th scope="col">(.*?)</th>', page.get_data(as_text=True))]
    assert columns == [in_language(app, "en", "Month received"), *(register.rights[r].name.en for r in rights),
                       in_language(app, "en", "Total")]  # the withdrawal, taken at once, is not a column


def test_the_reports_say_so_when_there_is_nothing_yet(app, session, inbox, demo, staff):
    client = staff_browser(app, inbox, DPO, "en")
    page = client.get("/staff/reports")
    assert in_language(app, "en", "No requests yet.") in text(page)
    assert in_language(app, "en", "Median answer time") in text(page)


def test_a_failed_mail_is_listed_and_sent_again_after_a_retry(app, session, inbox, demo, staff):
    mail_id = failed_mail(session, recipient=AN, subject="Uw verzoek: een mail die niet vertrok")
    failed_mail(session, recipient=BRAM, subject="Uw verzoek: nog een")
    client = staff_browser(app, inbox, DPO, "en")
    page = client.get("/staff/outbox")
    listed = text(page)
    for shown in (AN, "Uw verzoek: een mail die niet vertrok", "550 mailbox unavailable", BRAM):
        assert shown in listed, shown
    form = form_to(page, f"/staff/outbox/{mail_id}/retry")
    done = client.post(form.action, data=form.values)
    assert (done.status_code, done.headers["Location"]) == (303, "/staff/outbox")
    after = client.get("/staff/outbox")
    assert in_language(app, "en", "The mail is queued again.") in text(after)
    assert "een mail die niet vertrok" not in text(after) and "nog een" in text(after)
    sent = mail_with(inbox, AN, "Deze mail bleef hangen.")
    assert sent["Subject"] == "Uw verzoek: een mail die niet vertrok"
    eventually(lambda: session.expire_all() or session.get(OutboxMail, mail_id).status == "sent", timeout=10)
    assert mails_to(inbox, BRAM) == []  # the other one stays failed until it is retried too
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "mail_retried", AuditEntry.target == f"mail:{mail_id}")) == 1
    # A mail that is not (or no longer) failed is left alone.
    again = client.post(f"/staff/outbox/{mail_id}/retry", data=form.values)
    assert again.status_code == 303
    assert session.get(OutboxMail, mail_id).status == "sent"


def test_the_outbox_says_so_when_no_mail_failed(app, inbox, demo, staff):
    client = staff_browser(app, inbox, VIEWER, "en")
    assert in_language(app, "en", "No failed mails.") in text(client.get("/staff/outbox"))


# --- both languages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "then"), [("en", "nl"), ("nl", "en")])
def test_the_queue_and_a_request_follow_the_chosen_language(app, session, inbox, demo, staff, register, first, then):
    request_id = file_request(session, register, BRAM, "erasure", scope="all")
    client = staff_browser(app, inbox, DPO, first)
    for language in (first, then):
        chosen = client.get(f"/language/{language}?next=/staff/requests")
        assert (chosen.status_code, chosen.headers["Location"]) == (303, "/staff/requests")
        queue_page = client.get("/staff/requests")
        assert html_lang(queue_page) == language
        assert re.search(r"<h1>(.*?)</h1>", queue_page.get_data(as_text=True)).group(1) == in_language(
            app, language, "Requests")
        [line] = queue_lines(queue_page)
        found = request_row(session, request_id)
        assert line["request"] == f"#{request_id} {register.rights['erasure'].name.in_language(language)}"
        assert line["state"] == in_language(app, language, "received")
        assert line["relations"] == register.relations["supplier"].name.in_language(language)
        locale = i18n.BABEL_LOCALES[language]
        assert line["received"] == format_date(found.received_on, "d MMM y", locale=locale)
        headings = [squash(h) for h in re.findall(r'<th scope="col">(.*?)</th>', queue_page.get_data(as_text=True))]
        assert headings == [in_language(app, language, h) for h in
                            ("Answer due", "Request", "State", "Person", "Relations", "Received")]

        page = client.get(f"/staff/requests/{request_id}")
        assert html_lang(page) == language
        for heading in ("The request", "What the statement says", "What completing this erasure does", "Decide",
                        "The person's relations and data", "Audit trail about this person"):
            assert in_language(app, language, heading) in text(page), heading
        assert squash(register.clauses["2.4.erasure"].text.in_language(language)) in section(page, "law-title")
        assert long_date(found.due_on, language) in section(page, "req-title")
        assert in_language(app, language, "the law obliges us to keep these records, until %(date)s",
                           date=long_date(dt.date(2034, 6, 30), language)) in section(page, "plan-title")
        assert in_language(app, language, "Start handling") in text(page)
