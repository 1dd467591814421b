"""Exercising rights through the app: signed in by the real mail flow, CSRF on, a real database and SMTP server.

What a person notices: one click withdraws a consent or objects to direct marketing and /me shows the
purpose stopped at once; a mail confirms it; every request is on /me/requests with its state, what was
asked, the date of our answer and its history; a double click makes one request; what they typed
survives an error; nobody else's data or requests ever show. What an auditor notices: the consent's
withdrawal date, the answer date of Art. 12(3), the confirmation asked before an erasure request, and
rights that do not apply are never offered as if they did.

Dutch wording is asserted through the compiled catalogue (`in_language`), so that these tests hold while
the catalogue is being translated; `<html lang>` and Babel's Dutch dates show the language independently.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import func, select

from portal import i18n
from portal.clock import utcnow
from portal.models import AuthSession, Consent, DataItem, OutboxMail, Relation, RightsRequest, Subject
from portal.policy.deadlines import answer_due
from tests.conftest import csrf_token_from
from tests.support.contexts import context
from tests.support.database import set_columns
from tests.support.mails import plain, wait_for_mail
from tests.support.pages import (
    form_to,
    forms_on,
    get_ok,
    html_lang,
    in_language,
    long_date,
    rectifiable,
    request_cards,
    signed_in,
    submit,
)
from tests.support.pages import page_text as text
from tests.support.people import AN, BRAM, CHLOE, EVA, FRANK, HANNE
from tests.support.races import all_reach_then_go, run_together

NOBODY = "nobody.rights@example.org"  # an address we hold nothing under
MAIL_LANGUAGE = {AN: "nl", BRAM: "nl", CHLOE: "en", EVA: "nl", FRANK: "en", HANNE: "en", NOBODY: "nl"}
STAFF_RIGHTS = ("access", "rectification", "erasure", "restriction", "objection", "portability")
LANGUAGES = ["nl", "en"]
SESSION_COOKIE = "portal_session"
BRUSSELS = ZoneInfo("Europe/Brussels")  # the pages' time zone (BABEL_DEFAULT_TIMEZONE)


# --- the pages and their forms -----------------------------------------------------------------------------


def csrf_of(client) -> str:
    """The session's CSRF token, as any form of the signed-in person's pages carries it."""
    return csrf_token_from(client.get("/me").get_data(as_text=True))


def right_name(register, right: str, language: str) -> str:
    return register.rights[right].name.in_language(language)


def offer_line(response, name: str) -> str:
    """What /me/rights says after the name of a right answered by the data protection manager."""
    assert response.status_code == 200, response.status_code
    match = re.search(rf"<strong>{re.escape(html.escape(name, quote=False))}</strong>:(.*?)</li>",
                      response.get_data(as_text=True), re.DOTALL)
    assert match, f"{name} is not on the page"
    return html.unescape(re.sub(r"\s+", " ", match.group(1)))


def purpose_summary(response, purpose_id: str) -> str:
    """The visible line of a purpose on /me: numeral, description and, when stopped, its badge."""
    match = re.search(rf'<details class="purpose" id="purpose-\d+-{re.escape(purpose_id)}">\s*<summary>(.*?)</summary>',
                      response.get_data(as_text=True), re.DOTALL)
    assert match, f"purpose {purpose_id} is not on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def purpose_block(response, purpose_id: str) -> str:
    match = re.search(rf'<details class="purpose" id="purpose-\d+-{re.escape(purpose_id)}">(.*?)</details>',
                      response.get_data(as_text=True), re.DOTALL)
    assert match, f"purpose {purpose_id} is not on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def requests_of(session, email: str) -> list[RightsRequest]:
    session.expire_all()
    return list(session.scalars(select(RightsRequest).where(RightsRequest.email == email)
                                .order_by(RightsRequest.id)))


def consents_of(session, email: str, purpose: str) -> list[Consent]:
    session.expire_all()
    return list(session.scalars(select(Consent).join(Subject)
                                .where(Subject.email == email, Consent.purpose == purpose).order_by(Consent.id)))


def mails_queued_for(session, email: str) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.recipient == email))


def purposes_of_person(register, email: str):
    """The register's purposes of the relations a demo person has."""
    kinds = {AN: ("customer", "visitor"), HANNE: ("participant", "customer"), EVA: ("participant",)}[email]
    return [purpose for kind in kinds for purpose in register.purposes_of(kind)]


def request_mail(app, register, email: str, right: str) -> str:
    """The subject of the mail about a request, in the person's stored language."""
    language = MAIL_LANGUAGE[email]
    name = register.rights[right].name.in_language(language) if right in register.rights else right
    return in_language(app, language, "Your request: %(right)s", right=name)


# --- withdrawing a consent, and giving it again ---------------------------------------------------------------


WITHDRAWALS = [(AN, "visitor.2", "nl"), (FRANK, "visitor.3", "en"), (CHLOE, "applicant.2", "nl"),
               (HANNE, "participant.4", "en")]


@pytest.mark.clause("2.4.withdrawal")
@pytest.mark.parametrize(("email", "purpose", "language"), WITHDRAWALS)
def test_a_consent_is_withdrawn_in_one_click_and_stops_at_once(
    app, session, inbox, demo, register, email, purpose, language,
):
    client = signed_in(app, inbox, email, language)
    today = dt.date.today()
    stopped = in_language(app, language, "stopped: consent withdrawn")
    assert stopped not in purpose_summary(client.get("/me"), purpose)

    rights = get_ok(client, "/me/rights")
    assert rights.status_code == 200 and html_lang(rights) == language
    action = f"/me/consents/{purpose}/withdraw"
    button = form_to(rights, action)
    assert button.buttons == [in_language(app, language, "Withdraw this consent")]
    assert button.typed == set()  # one click: nothing to fill in, no reason asked
    done = submit(client, rights, action)
    assert done.status_code == 303 and done.headers["Location"].endswith("/me/requests")
    said = text(client.get(done.headers["Location"]))
    assert in_language(app, language, "Your consent is withdrawn. We stopped this purpose today.") in said

    # The consent carries its withdrawal date, and the purpose shows it stopped at once.
    assert [c.withdrawn for c in consents_of(session, email, purpose)] == [today]
    me = client.get("/me")
    assert stopped in purpose_summary(me, purpose)
    assert in_language(app, language, "withdrawn on %(date)s", date=long_date(today, language)) in purpose_block(
        me, purpose)
    # ... and it can no longer be withdrawn, only given again.
    rights = get_ok(client, "/me/rights")
    assert [f for f in forms_on(rights) if f.action == action] == []
    assert form_to(rights, f"/me/consents/{purpose}/give").buttons == [in_language(app, language, "Give my consent")]

    # A confirming mail, in the person's own language, over real SMTP.
    mail = wait_for_mail(inbox, email, 2)
    assert mail["Subject"] == request_mail(app, register, email, "withdrawal")
    assert in_language(app, MAIL_LANGUAGE[email], "Status: %(status)s",
                       status=in_language(app, MAIL_LANGUAGE[email], "completed")) in plain(mail)

    # In the history of requests, completed at once.
    status = client.get("/me/requests")
    [card] = request_cards(status)
    assert right_name(register, "withdrawal", language) in card
    assert in_language(app, language, "completed") in card
    [withdrawal] = requests_of(session, email)
    assert (withdrawal.right, withdrawal.scope, withdrawal.status) == ("withdrawal", f"purpose:{purpose}", "completed")
    assert [(e.status, e.actor) for e in withdrawal.events] == [("completed", "person")]


@pytest.mark.clause("2.4.withdrawal")
@pytest.mark.parametrize(("email", "purpose", "language"), WITHDRAWALS)
def test_a_withdrawn_consent_can_be_given_again_and_that_is_recorded(
    app, session, inbox, demo, register, email, purpose, language,
):
    client = signed_in(app, inbox, email, language)
    today = dt.date.today()
    assert submit(client, get_ok(client, "/me/rights"), f"/me/consents/{purpose}/withdraw").status_code == 303
    given = submit(client, get_ok(client, "/me/rights"), f"/me/consents/{purpose}/give")
    assert given.status_code == 303
    assert in_language(app, language, "Thank you: your consent is recorded. You can withdraw it again at any time.") \
        in text(client.get(given.headers["Location"]))

    consents = consents_of(session, email, purpose)
    assert consents[-1].given == today and consents[-1].withdrawn is None
    assert [c.withdrawn for c in consents[:-1]] == [today]  # the withdrawal stays on record
    assert in_language(app, language, "stopped: consent withdrawn") not in purpose_summary(client.get("/me"), purpose)
    cards = request_cards(client.get("/me/requests"))
    assert len(cards) == 2
    assert in_language(app, language, "Consent given") in cards[0]
    assert right_name(register, "withdrawal", language) in cards[1]
    assert [r.right for r in requests_of(session, email)] == ["withdrawal", "consent_given"]
    assert wait_for_mail(inbox, email, 3)["Subject"] == in_language(
        app, MAIL_LANGUAGE[email], "Your request: %(right)s", right=in_language(app, MAIL_LANGUAGE[email],
                                                                                 "Consent given"))


def test_a_consent_withdrawn_and_given_twice_on_one_day_is_recorded_each_time(app, session, inbox, demo):
    """A person who changes their mind twice in a day: the second "give" must really be recorded.

    The second Consent row would repeat (subject, purpose, given=today) of the first one given today,
    which the unique constraint refuses; the service must not answer "recorded" when nothing was.
    """
    client = signed_in(app, inbox, AN, "en")
    answers = [submit(client, get_ok(client, "/me/rights"), f"/me/consents/visitor.2/{action}").status_code
               for action in ("withdraw", "give", "withdraw", "give")]
    assert answers == [303, 303, 303, 303], "the second consent of the day was not recorded"
    standing = [c for c in consents_of(session, AN, "visitor.2") if c.withdrawn is None]
    history = [r.right for r in requests_of(session, AN)]
    assert (len(standing), history) == (1, ["withdrawal", "consent_given", "withdrawal", "consent_given"]), (
        "the last consent was announced as recorded, but the database holds: "
        f"{[(c.given, c.withdrawn) for c in consents_of(session, AN, 'visitor.2')]} and requests {history}")


@pytest.mark.clause("2.4.withdrawal")
@pytest.mark.parametrize(("email", "purpose"), [
    (AN, "visitor.3"),  # a consent purpose she never consented to
    (AN, "customer.2"),  # not on consent at all
    (AN, "nope"),  # no such purpose
    (EVA, "participant.4"),  # already withdrawn
    (BRAM, "visitor.2"),  # another person's consent
    (NOBODY, "visitor.2"),  # we hold nothing under this address
])
def test_withdrawing_a_consent_the_person_does_not_have_answers_404(app, session, inbox, demo, email, purpose):
    client = signed_in(app, inbox, email)
    token = csrf_of(client)
    before = {c.id: c.withdrawn for c in session.scalars(select(Consent))}
    answer = client.post(f"/me/consents/{purpose}/withdraw", data={"csrf_token": token, "key": "a" * 32})
    assert answer.status_code == 404
    session.expire_all()
    assert {c.id: c.withdrawn for c in session.scalars(select(Consent))} == before
    assert requests_of(session, email) == [] and mails_queued_for(session, email) == 1  # the sign-in mail only


def test_consent_cannot_be_given_for_a_relation_the_person_does_not_have(app, session, inbox, demo):
    client = signed_in(app, inbox, BRAM)
    rights = get_ok(client, "/me/rights")
    assert not any("/give" in f.action for f in forms_on(rights))
    token = csrf_of(client)
    assert client.post("/me/consents/visitor.2/give", data={"csrf_token": token, "key": "b" * 32}).status_code == 404
    assert consents_of(session, BRAM, "visitor.2") == [] and requests_of(session, BRAM) == []


# --- objecting to direct marketing ----------------------------------------------------------------------------


@pytest.mark.clause("2.4.direct_marketing")
@pytest.mark.parametrize(("email", "language", "direct_marketing"), [
    (AN, "nl", {"visitor.2", "customer.5"}),
    (HANNE, "en", {"participant.3", "customer.5"}),
    (EVA, "en", {"participant.3"}),
])
def test_objecting_to_direct_marketing_stops_every_such_purpose_at_once_and_can_be_lifted(
    app, session, inbox, demo, register, email, language, direct_marketing,
):
    client = signed_in(app, inbox, email, language)
    stopped = in_language(app, language, "stopped: you objected to direct marketing")
    rights = get_ok(client, "/me/rights")
    objection = form_to(rights, "/me/direct-marketing/object")
    assert objection.typed == set()  # absolute: no reasons asked, nothing to choose
    assert objection.buttons == [in_language(app, language, "Object to direct marketing")]
    done = submit(client, rights, "/me/direct-marketing/object")
    assert done.status_code == 303
    assert in_language(app, language, "Done: we no longer use your data for direct marketing, from today.") in text(
        client.get(done.headers["Location"]))

    me = client.get("/me")
    own = {purpose.id for purpose in purposes_of_person(register, email)}
    for purpose in own:
        assert (stopped in purpose_summary(me, purpose)) == (purpose in direct_marketing), purpose
    status = client.get("/me/requests")
    [card] = request_cards(status)
    assert right_name(register, "direct_marketing_objection", language) in card
    assert in_language(app, language, "completed") in card
    assert wait_for_mail(inbox, email, 2)["Subject"] == request_mail(app, register, email, "direct_marketing_objection")

    # Reversible: the page says since when, and one click lifts it.
    rights = get_ok(client, "/me/rights")
    objected_at = requests_of(session, email)[0].created_at  # naive UTC; pages show Brussels time
    since = long_date(objected_at.replace(tzinfo=dt.UTC).astimezone(BRUSSELS).date(), language)
    assert in_language(app, language, "You objected to direct marketing on %(date)s: we do not use your data for it.",
                       date=since) in text(rights)
    assert [f for f in forms_on(rights) if f.action == "/me/direct-marketing/object"] == []
    assert submit(client, rights, "/me/direct-marketing/lift").status_code == 303
    me = client.get("/me")
    assert not any(stopped in purpose_summary(me, purpose) for purpose in own)
    cards = request_cards(client.get("/me/requests"))
    assert len(cards) == 2 and in_language(app, language, "Objection to direct marketing lifted") in cards[0]
    assert [r.right for r in requests_of(session, email)] == [
        "direct_marketing_objection", "direct_marketing_objection_lifted"]
    wait_for_mail(inbox, email, 3)


# --- requests answered by the data protection manager --------------------------------------------------------


@pytest.mark.clause("2.4.response_time", "2.4.access", "2.4.restriction", "2.4.objection", "2.4.portability")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("right", ["access", "restriction", "objection", "portability"])
def test_a_request_is_listed_with_its_state_its_answer_date_and_its_history(
    app, session, inbox, demo, register, right, language,
):
    client = signed_in(app, inbox, AN, language)
    rights = get_ok(client, "/me/rights")
    assert f'href="/me/rights/{right}"' in rights.get_data(as_text=True)
    page = client.get(f"/me/rights/{right}")
    assert page.status_code == 200 and html_lang(page) == language
    assert right_name(register, right, language) in text(page)
    before = dt.date.today()
    sent = submit(client, page, "", url=f"/me/rights/{right}", details="Graag vóór het einde van de maand.")
    after = dt.date.today()
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/me/requests")

    [request] = requests_of(session, AN)
    assert request.received_on in {before, after}
    due = answer_due(request.received_on, response_time=register.handling.response_time)
    assert request.due_on == due and request.status == "received"
    status = client.get("/me/requests")
    assert html_lang(status) == language
    [card] = request_cards(status)
    assert right_name(register, right, language) in card
    assert in_language(app, language, "received") in card  # its state, and the history's first step
    assert in_language(app, language, "Our answer at the latest on %(date)s", date=long_date(due, language)) in card
    assert long_date(due, language) in card  # Babel's month name: the page's language whatever the catalogue
    assert "Graag vóór het einde van de maand." in card  # what was asked
    assert in_language(app, language, "History") in card
    history = re.search(r'<ol class="history">(.*?)</ol>', status.get_data(as_text=True), re.DOTALL).group(1)
    assert history.count("<li>") == 1 and in_language(app, language, "received") in html.unescape(history)

    mail = wait_for_mail(inbox, AN, 2)
    assert mail["Subject"] == request_mail(app, register, AN, right)
    assert in_language(app, "nl", "We answer at the latest on %(date)s.", date=long_date(due, "nl")) in plain(mail)


@pytest.mark.clause("2.4.response_time")
def test_the_answer_date_follows_article_12_3_for_a_request_received_today(app, session, inbox, demo, register):
    client = signed_in(app, inbox, EVA, "nl")
    before = dt.date.today()
    submit(client, client.get("/me/rights/access"), "", url="/me/rights/access")
    today = requests_of(session, EVA)[0].received_on
    assert today in {before, dt.date.today()}  # received today (a run may cross midnight)
    due = answer_due(today, response_time=register.handling.response_time)
    # One month, moved off weekends and Belgian public holidays (e.g. 25 Nov 2026 -> Christmas -> Mon 28 Dec).
    assert due >= today + dt.timedelta(days=28) and due.weekday() < 5
    dutch = client.get("/me/requests")
    assert f"{due.day} {format_date(due, 'MMMM', locale='nl_BE')} {due.year}" in text(dutch)
    client.set_cookie(i18n.COOKIE, "en")
    english = client.get("/me/requests")
    assert html_lang(english) == "en" and f"{due.day} {format_date(due, 'MMMM', locale='en_GB')} {due.year}" in text(
        english)


def test_the_status_page_says_what_each_request_is_about(app, session, inbox, demo, register):
    """An objection names the purpose objected to, a withdrawal the consent withdrawn: "what was asked"."""
    client = signed_in(app, inbox, HANNE, "en")
    objection = client.get("/me/rights/objection")
    assert submit(client, objection, "", url="/me/rights/objection", scope="purpose:participant.2").status_code == 303
    assert submit(client, get_ok(client, "/me/rights"), "/me/consents/participant.4/withdraw").status_code == 303
    cards = request_cards(client.get("/me/requests"))
    assert len(cards) == 2
    surveys = register.purposes["participant.2"].description.en
    photos = register.purposes["participant.4"].description.en
    assert surveys in cards[1], f"the objection does not say it is about {surveys!r}: {cards[1]!r}"
    assert photos in cards[0], f"the withdrawal does not say which consent: {cards[0]!r}"


# --- objection: only against purposes on legitimate interest -----------------------------------------------


@pytest.mark.clause("2.4.objection")
@pytest.mark.parametrize(("email", "purposes"), [
    (AN, ["customer.5"]),
    (EVA, ["participant.2", "participant.3"]),
    (HANNE, ["participant.2", "participant.3", "customer.5"]),
])
def test_an_objection_can_only_be_about_the_persons_purposes_on_legitimate_interest(
    app, session, inbox, demo, register, email, purposes,
):
    client = signed_in(app, inbox, email)
    page = client.get("/me/rights/objection")
    form = form_to(page, "")
    assert form.choices["scope"] == [f"purpose:{p}" for p in purposes]
    for purpose in purposes:
        assert register.purposes[purpose].basis == "legitimate_interest"
        assert register.purposes[purpose].description.en in text(page)
    # A purpose that is not theirs, or not on legitimate interest, is refused and nothing is filed.
    for other in ("purpose:supplier.1", "purpose:customer.2", "purpose:visitor.2"):
        refused = submit(client, page, "", url="/me/rights/objection", scope=other)
        assert refused.status_code == 400
    assert requests_of(session, email) == []
    assert submit(client, page, "", url="/me/rights/objection", scope=f"purpose:{purposes[0]}").status_code == 303
    [request] = requests_of(session, email)
    assert (request.right, request.scope) == ("objection", f"purpose:{purposes[0]}")


def test_after_objecting_to_direct_marketing_the_objection_no_longer_lists_those_purposes(app, inbox, demo):
    client = signed_in(app, inbox, HANNE)
    submit(client, get_ok(client, "/me/rights"), "/me/direct-marketing/object")
    assert form_to(client.get("/me/rights/objection"), "").choices["scope"] == ["purpose:participant.2"]


@pytest.mark.clause("2.4.objection", "2.4.channels")
@pytest.mark.parametrize("language", LANGUAGES)
def test_objection_is_not_offered_to_a_supplier_and_the_page_says_why_and_whom_to_write(
    app, inbox, demo, register, language,
):
    client = signed_in(app, inbox, BRAM, language)
    rights = get_ok(client, "/me/rights")
    assert 'href="/me/rights/objection"' not in rights.get_data(as_text=True)
    line = offer_line(rights, right_name(register, "objection", language))
    assert in_language(app, language, "this right does not apply to the data we hold about you "
                       "(statement %(section)s).", section="2.4") in line
    assert in_language(app, language, "You can still write to %(email)s.", email="privacy@we-are.be") in line
    assert 'href="/statement#2.4.objection"' in rights.get_data(as_text=True)
    for right in ("access", "rectification", "erasure", "restriction", "portability"):
        assert f'href="/me/rights/{right}"' in rights.get_data(as_text=True), right


@pytest.mark.clause("2.4.access", "2.4.channels", "2.5.contact")
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_address_we_hold_nothing_under_is_offered_only_what_applies(app, inbox, demo, register, language):
    client = signed_in(app, inbox, NOBODY, language)
    rights = get_ok(client, "/me/rights")
    raw, page = rights.get_data(as_text=True), text(rights)
    assert html_lang(rights) == language
    offered = set(re.findall(r'href="/me/rights/([a-z_]+)"', raw))
    assert offered == {"access", "rectification"}  # always: they may ask, and hear that we hold nothing
    for right in ("erasure", "restriction", "objection", "portability"):
        line = offer_line(rights, right_name(register, right, language))
        assert "privacy@we-are.be" in line, right
    assert in_language(app, language, "You have no consent with us that you could withdraw.") in page
    assert not any("/consents/" in f.action for f in forms_on(rights))


@pytest.mark.clause("2.4.direct_marketing")
@pytest.mark.parametrize("email", [BRAM, NOBODY])
def test_objecting_to_direct_marketing_is_not_offered_to_someone_without_direct_marketing(
    app, inbox, demo, register, email,
):
    """Bram (supplier, contract only) and an unknown address have no direct-marketing purpose."""
    client = signed_in(app, inbox, email, "en")
    rights = get_ok(client, "/me/rights")
    assert rights.status_code == 200
    assert not any(f.action == "/me/direct-marketing/object" for f in forms_on(rights)), (
        "/me/rights offers the one-click objection to direct marketing ('It stops every direct-marketing purpose "
        "at once') to a person none of whose purposes is direct marketing")


# --- rectification --------------------------------------------------------------------------------------------


@pytest.mark.clause("2.4.rectification")
@pytest.mark.parametrize(("email", "language"), [(AN, "nl"), (HANNE, "en")])
def test_rectification_proposes_new_values_item_by_item_and_shows_old_and_new_side_by_side(
    app, session, inbox, demo, register, email, language,
):
    client = signed_in(app, inbox, email, language)
    page = client.get("/me/rights/rectification")
    assert page.status_code == 200 and html_lang(page) == language
    items = rectifiable(page)
    session.expire_all()
    own = {f"new-{i}" for i in session.scalars(select(DataItem.id).join(Relation).join(Subject)
                                                 .where(Subject.email == email))}
    assert items and set(items) <= own
    name, (field_name, old) = next(iter(items.items()))
    sent = submit(client, page, "", url="/me/rights/rectification", **{name: "Nieuwe waarde 12, 9000 Gent"})
    assert sent.status_code == 303

    [request] = requests_of(session, email)
    assert request.right == "rectification"
    assert [(c.data_item_id, c.field, c.old_value, c.new_value) for c in request.changes] == [
        (int(name.removeprefix("new-")), field_name, old, "Nieuwe waarde 12, 9000 Gent")]
    status = client.get("/me/requests")
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", status.get_data(as_text=True))
    assert [tuple(html.unescape(cell) for cell in row) for row in rows] == [
        (field_name, old, "Nieuwe waarde 12, 9000 Gent")]
    headings = [html.unescape(h) for h in re.findall(r'<th scope="col">(.*?)</th>', status.get_data(as_text=True))]
    assert headings == [in_language(app, language, h) for h in ("What", "As we hold it", "As you propose")]
    due = answer_due(request.received_on, response_time=register.handling.response_time)
    assert in_language(app, language, "Our answer at the latest on %(date)s", date=long_date(due, language)) in text(
        status)
    assert wait_for_mail(inbox, email, 2)["Subject"] == request_mail(app, register, email, "rectification")


@pytest.mark.parametrize("proposal", ["", "   ", "same"])
def test_a_rectification_without_a_new_value_or_a_description_is_refused_with_a_message(
    app, session, inbox, demo, proposal,
):
    client = signed_in(app, inbox, AN, "nl")
    page = client.get("/me/rights/rectification")
    name, (_field, old) = next(iter(rectifiable(page).items()))
    refused = submit(client, page, "", url="/me/rights/rectification",
                     **{name: old if proposal == "same" else proposal, "details": ""})
    assert refused.status_code == 400
    assert in_language(app, "nl", "Propose at least one new value, or describe what is wrong.") in text(refused)
    assert html_lang(refused) == "nl"
    assert requests_of(session, AN) == [] and mails_queued_for(session, AN) == 1


@pytest.mark.clause("2.4.rectification")
def test_a_rectification_with_only_a_description_is_still_a_request(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "en")
    page = client.get("/me/rights/rectification")
    sent = submit(client, page, "", url="/me/rights/rectification", details="My company name is misspelt.")
    assert sent.status_code == 303
    [request] = requests_of(session, AN)
    assert [(c.old_value, c.new_value) for c in request.changes] == [(None, "My company name is misspelt.")]


def test_a_person_cannot_propose_changes_to_someone_elses_data(app, session, inbox, demo):
    session.expire_all()
    foreign = session.scalar(select(DataItem.id).join(Relation).join(Subject).where(Subject.email == BRAM))
    client = signed_in(app, inbox, AN, "en")
    page = client.get("/me/rights/rectification")
    assert f"new-{foreign}" not in rectifiable(page)
    refused = submit(client, page, "", url="/me/rights/rectification", **{f"new-{foreign}": "Hijacked"})
    assert refused.status_code == 400 and requests_of(session, AN) == []
    assert "BE71 0961 2345 6769" not in text(refused)


# --- erasure: a fresh confirmation first, and what would be kept ---------------------------------------------


@pytest.mark.clause("2.4.erasure")
@pytest.mark.parametrize("language", LANGUAGES)
def test_erasure_explains_what_would_be_kept_and_until_when(app, session, inbox, demo, register, language):
    client = signed_in(app, inbox, BRAM, language)
    erasure = client.get("/me/rights/erasure")
    assert erasure.status_code == 200  # just signed in: fresh
    page = text(erasure)
    assert in_language(app, language, "What we would erase, and what we must keep") in page
    kept_until = long_date(dt.date(2034, 6, 30), language)  # supplier: 10 years after 30 June 2024
    assert in_language(app, language, "we may have to keep some data until %(date)s under the statement's retention "
                       "rule; the rest we erase.", date=kept_until) in page
    assert 'href="/statement#section-3.2"' in erasure.get_data(as_text=True)
    choices = form_to(erasure, "").choices["scope"]
    session.expire_all()
    relation = session.scalar(select(Relation.id).join(Subject).where(Subject.email == BRAM))
    assert choices == ["all", f"relation:{relation}"]
    sent = submit(client, erasure, "", url="/me/rights/erasure", scope=f"relation:{relation}")
    assert sent.status_code == 303
    [request] = requests_of(session, BRAM)
    assert (request.right, request.scope, request.status) == ("erasure", f"relation:{relation}", "received")


@pytest.mark.clause("2.4.erasure", "2.4.verification")
def test_erasure_needs_a_fresh_confirmation(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "en")
    fresh = client.get("/me/rights/erasure")
    assert fresh.status_code == 200
    set_columns(session, AuthSession, AuthSession.email == AN, confirmed_at=utcnow() - dt.timedelta(minutes=11))
    needed = client.get("/me/rights/erasure")
    assert needed.status_code == 403
    assert in_language(app, "en", "Confirm it is you") in text(needed)
    assert 'action="/confirm"' in needed.get_data(as_text=True)
    # Also the form opened while it was fresh cannot be sent once it is not.
    refused = submit(client, fresh, "", url="/me/rights/erasure", scope="all")
    assert refused.status_code == 403 and requests_of(session, AN) == []
    # The other rights do not ask for it.
    assert client.get("/me/rights/access").status_code == 200


def test_someone_elses_relation_cannot_be_the_scope_of_an_erasure(app, session, inbox, demo):
    session.expire_all()
    foreign = session.scalar(select(Relation.id).join(Subject).where(Subject.email == BRAM))
    client = signed_in(app, inbox, AN, "en")
    page = client.get("/me/rights/erasure")
    assert f"relation:{foreign}" not in form_to(page, "").choices["scope"]
    assert submit(client, page, "", url="/me/rights/erasure", scope=f"relation:{foreign}").status_code == 400
    restriction = client.get("/me/rights/restriction")
    assert submit(client, restriction, "", url="/me/rights/restriction",
                  scope=f"relation:{foreign}").status_code == 400
    assert requests_of(session, AN) == []


# --- a double click makes one request ----------------------------------------------------------------------


@pytest.mark.parametrize(("where", "action"), [
    ("/me/rights/access", ""),
    ("/me/rights/objection", ""),
    ("/me/rights/rectification", ""),
    ("/me/rights", "/me/consents/visitor.2/withdraw"),
    ("/me/rights", "/me/direct-marketing/object"),
])
def test_a_double_click_or_a_resubmitted_form_makes_one_request_and_one_mail(
    app, session, inbox, demo, where, action,
):
    client = signed_in(app, inbox, AN, "en")
    page = client.get(where)
    typed = {}
    if where.endswith("rectification"):
        typed = {next(iter(rectifiable(page))): "A new value"}
    if where.endswith("objection"):
        typed = {"scope": "purpose:customer.5"}
    answers = [submit(client, page, action, url=action or where, **typed) for _ in range(3)]
    assert [a.status_code for a in answers] == [303, 303, 303]
    assert len(requests_of(session, AN)) == 1
    assert len(request_cards(client.get("/me/requests"))) == 1
    wait_for_mail(inbox, AN, 2)
    assert mails_queued_for(session, AN) == 2  # the sign-in mail and one about the request


def test_a_new_form_makes_a_new_request(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "en")
    for _ in range(2):
        submit(client, client.get("/me/rights/access"), "", url="/me/rights/access")
    assert len(requests_of(session, AN)) == 2


def test_two_simultaneous_submissions_of_one_form_make_one_request(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "en")
    page = client.get("/me/rights/access")
    form = form_to(page, "")
    twin = app.test_client()  # the same browser, a second connection: the same cookies
    for name in (SESSION_COOKIE, i18n.COOKIE):
        twin.set_cookie(name, client.get_cookie(name).value)

    def send(index: int):
        return (client, twin)[index].post("/me/rights/access", data=form.values).status_code

    with all_reach_then_go(app.extensions["portal.db"].engine, 2,
                           lambda sql: sql.startswith("INSERT INTO rights_request"), timeout=2):
        results = run_together(2, send)
    assert results == [303, 303]
    assert len(requests_of(session, AN)) == 1
    wait_for_mail(inbox, AN, 2)
    assert mails_queued_for(session, AN) == 2


# --- input limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("right", "language"), [("objection", "nl"), ("access", "en"), ("erasure", "nl"),
                                                  ("restriction", "en"), ("portability", "nl")])
def test_details_over_4000_characters_are_refused_and_nothing_typed_is_lost(
    app, session, inbox, demo, right, language,
):
    client = signed_in(app, inbox, HANNE, language)
    url = f"/me/rights/{right}"
    page = client.get(url)
    scope = {"scope": form_to(page, "").choices["scope"][0]} if "scope" in form_to(page, "").choices else {}
    typed = "Mijn vraag, in mijn woorden: " + "x" * 4000
    refused = submit(client, page, "", url=url, details=typed, **scope)
    assert refused.status_code == 400 and html_lang(refused) == language
    assert in_language(app, language, "Please keep it under %(max)d characters.", max=4000) in text(refused)
    kept = form_to(refused, "")
    assert kept.values["details"].lstrip("\r\n") == typed  # what the person typed is still there
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert requests_of(session, HANNE) == []
    # Exactly 4000 is fine.
    accepted = submit(client, refused, "", url=url, details="y" * 4000, **scope)
    assert accepted.status_code == 303
    assert len(requests_of(session, HANNE)[0].details) == 4000


def test_a_too_long_rectification_keeps_every_value_typed(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "nl")
    page = client.get("/me/rights/rectification")
    name = next(iter(rectifiable(page)))
    refused = submit(client, page, "", url="/me/rights/rectification",
                     **{name: "Mijn nieuwe adres", "details": "z" * 4001})
    assert refused.status_code == 400
    assert in_language(app, "nl", "Please keep it under %(max)d characters.", max=4000) in text(refused)
    kept = form_to(refused, "")
    assert kept.values[name] == "Mijn nieuwe adres" and kept.values["details"].lstrip("\r\n") == "z" * 4001
    assert requests_of(session, AN) == []


def test_a_too_long_new_value_is_refused_with_a_message_and_kept(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "en")
    page = client.get("/me/rights/rectification")
    name = next(iter(rectifiable(page)))
    refused = submit(client, page, "", url="/me/rights/rectification", **{name: "n" * 1001})
    assert refused.status_code == 400
    assert in_language(app, "en", "A new value can have at most %(max)d characters.", max=1000) in text(refused)
    assert form_to(refused, "").values[name] == "n" * 1001
    assert requests_of(session, AN) == []


# --- nobody else's data, and nothing without signing in ---------------------------------------------------------


def test_another_persons_requests_and_data_never_appear(app, session, inbox, demo):
    an = signed_in(app, inbox, AN, "en")
    page = an.get("/me/rights/rectification")
    name = next(iter(rectifiable(page)))
    submit(an, page, "", url="/me/rights/rectification", **{name: "An's secret new value"},
           details="An's private details")
    submit(an, get_ok(an, "/me/rights"), "/me/consents/visitor.2/withdraw")
    assert len(requests_of(session, AN)) == 2
    wait_for_mail(inbox, AN, 3)  # An's mails are in before Bram's sign-in mail is read

    bram = signed_in(app, inbox, BRAM, "en")
    for url in ("/me/requests", "/me/rights", "/me/rights/rectification", "/me/rights/erasure",
                "/me/rights/access", "/me/rights/restriction", "/me/rights/portability", "/me/rights/objection"):
        shown = text(bram.get(url))
        for secret in ("An's secret new value", "An's private details", "BE68 5390 0754 7034", "Korenlei 7",
                       "an.peeters"):
            assert secret not in shown, (url, secret)
    assert request_cards(bram.get("/me/requests")) == []
    assert in_language(app, "en", "You have not made any request yet.") in text(bram.get("/me/requests"))


def test_what_a_person_typed_is_shown_as_text_never_as_markup(app, session, inbox, demo):
    client = signed_in(app, inbox, AN, "en")
    page = get_ok(client, "/me/rights/rectification")
    name = next(iter(rectifiable(page)))
    submit(client, page, "", url="/me/rights/rectification", **{name: "<img src=x onerror=alert(1)>"},
           details="<script>alert(2)</script>")
    raw = get_ok(client, "/me/requests").get_data(as_text=True)
    assert "<img src=x" not in raw and "<script>alert(2)" not in raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw and "&lt;script&gt;alert(2)&lt;/script&gt;" in raw


SIGNED_IN_GETS = ["/me/rights", "/me/requests"] + [f"/me/rights/{right}" for right in STAFF_RIGHTS]
SIGNED_IN_POSTS = [f"/me/rights/{right}" for right in STAFF_RIGHTS] + [
    "/me/consents/visitor.2/withdraw", "/me/consents/visitor.2/give", "/me/direct-marketing/object",
    "/me/direct-marketing/lift"]


@pytest.mark.parametrize("url", SIGNED_IN_GETS)
def test_signed_out_people_are_sent_to_sign_in(app, session, demo, url):
    client = app.test_client()
    answer = client.get(url)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/sign-in?next=")
    assert "an.peeters" not in text(answer)


@pytest.mark.parametrize("url", SIGNED_IN_POSTS)
def test_signed_out_posts_are_sent_to_sign_in_and_change_nothing(app, session, demo, url):
    client = app.test_client()
    token = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    answer = client.post(url, data={"csrf_token": token, "key": "c" * 32, "scope": "all", "details": "x"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(RightsRequest)) == 0


@pytest.mark.clause("2.4.fee", "2.5.complaint")
def test_every_state_change_is_mailed_in_the_persons_language_and_a_refusal_names_the_authority(
        app, client, inbox, demo, register):
    """The staff side moves requests along (the back office comes later); the person hears of each move."""
    import datetime as _dt

    from portal.services import requests as request_service
    from tests.conftest import sign_in as sign_in_by_mail

    sign_in_by_mail(client, inbox, "eva.janssens@example.com")  # Dutch is her stored language
    with app.test_request_context():
        from portal.database import request_session

        db = request_session()
        notifier = app.extensions["portal.notifier"]
        made = request_service.submit_request(db, context(register, now=_dt.datetime(2026, 1, 1, 9),
                                                          today=_dt.date.today(), notifier=notifier),
                                              email="eva.janssens@example.com", right="access",
                                              idempotency_key="s" * 32)
        refusal = "Kennelijk ongegrond: dezelfde vraag werd gisteren beantwoord."
        staff = context(register, actor="staff:dpo@we-are.be", now=_dt.datetime(2026, 1, 2, 9), today=_dt.date.today(),
                        notifier=notifier)
        for status, note in (("in_progress", None), ("refused", refusal)):
            request_service.change_status(db, staff, made.id, to=status, note=note)
        app.extensions["portal.mail"].wake()
    messages = [m for m in inbox.wait_for(4) if m["To"] == "eva.janssens@example.com"][1:]
    assert [m["Subject"] for m in messages] == ["Uw verzoek: Recht op inzage"] * 3
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in messages]
    assert "ontvangen" in bodies[0] and "in behandeling" in bodies[1] and "geweigerd" in bodies[2]
    assert "Kennelijk ongegrond" in bodies[2]
    assert "Gegevensbeschermingsautoriteit" in bodies[2] and "+32 2 247 48 00" in bodies[2]


def test_the_person_answers_the_question_a_request_waits_on(app, client, inbox, demo, register, session):
    """'Waiting for the person (a question asked)': the person answers from the status page."""
    import datetime as _dt

    from portal.models import RightsRequest
    from portal.services import requests as request_service
    from tests.conftest import csrf_token_from
    from tests.conftest import sign_in as sign_in_by_mail

    client.set_cookie("portal_lang", "en")
    sign_in_by_mail(client, inbox, "bram.declercq@example.com")
    today, now = _dt.date.today(), _dt.datetime.now()
    made = request_service.submit_request(session, context(register, today=today, now=now, notifier=None),
                                          email="bram.declercq@example.com", right="access", idempotency_key="q" * 32)
    request_service.change_status(session, context(register, actor="staff:dpo@we-are.be", today=today, now=now,
                                                   notifier=None),
                                  made.id, to="waiting", note="Which project do you mean?")
    page = client.get("/me/requests").get_data(as_text=True)
    assert "We asked you a question" in page and "Which project do you mean?" in page
    token = csrf_token_from(page)
    empty = client.post(f"/me/requests/{made.id}/answer", data={"answer": "  ", "csrf_token": token})
    assert empty.status_code == 400 and "Type your answer." in empty.get_data(as_text=True)
    answered = client.post(f"/me/requests/{made.id}/answer",
                           data={"answer": "The webshop project of 2023", "csrf_token": token})
    assert answered.status_code == 303
    session.expire_all()
    request = session.get(RightsRequest, made.id)
    assert request.status == "in_progress"
    assert (request.events[-1].actor, request.events[-1].note) == ("person", "The webshop project of 2023")
    # Nobody else can answer it, and it cannot be answered twice.
    assert client.post(f"/me/requests/{made.id}/answer",
                       data={"answer": "again", "csrf_token": token}).status_code == 404
    other = app.test_client()
    sign_in_by_mail(other, inbox, "an.peeters@example.com")
    page = other.get("/me/requests").get_data(as_text=True)
    assert "webshop project of 2023" not in page
    assert other.post(f"/me/requests/{made.id}/answer",
                      data={"answer": "x", "csrf_token": csrf_token_from(page)}).status_code == 404
