"""The back office as the data protection manager and a colleague use it in Chromium, in Dutch and English.

A person asks in her own browser to erase all her data; the data protection manager (a "dpo" staff member)
signs in in another browser with the same mail link, finds the request in the queue, sees the person's data
and what completing the erasure would keep, starts it and completes it with a message. The decision waits for
the company's systems: a webhook system that received its signed event calls back that it is done, and the
owner of each task (a manual system, a recipient's notice) signs in and ticks it. The person then finds the
request completed with that message, what was kept and how far each system got, in her mail as well, fewer
data on /me, and the manager's address among those who looked at or changed her data; the next import of
the same source file brings nothing back. A colleague with the "viewer" role reads
the same pages without a single decision form, and a decision posted anyway is refused (403). A person's
session never opens the back office, nor a staff session the person's pages. An extension is offered only
within the first month, and the new date reaches the person's status page.

Staff members are created with the `create-staff` command, as an administrator does; decision forms are
found by their form's action (`/start`, `/complete`, ...) and other wording comes from the live app's
compiled catalogue (`say`), so these tests hold while the Dutch catalogue is being filled. The live server
serves the demo people to the whole browser package: each test removes the staff members, sessions and
requests it made and loads the demo people again, which puts back what an erasure removed
(`back_office_slate`). Audit entries stay: the database refuses to delete them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import APIResponse, Locator, Page, expect
from sqlalchemy import delete, select, update

from portal.cli import DEMO_FILE
from portal.clock import utcnow
from portal.models import (
    AuthSession,
    Instruction,
    OutboxMail,
    RequestedChange,
    RequestEvent,
    RightsRequest,
    Staff,
    Suppression,
)
from portal.policy.deadlines import answer_due
from portal.policy.register import default_register
from portal.services import decisions
from portal.services.decisions import ErasurePlan, KeptGroup
from portal.services.requests import submit_request
from tests.conftest import Inbox
from tests.support import people
from tests.support.browser import (
    AN,
    EMAIL_LABEL,
    HANNE,
    LOCALES,
    OPEN_LINK_H1,
    SEND_LINK,
    SIGN_IN_FIRST,
    SIGN_IN_H1,
    NewPage,
    Person,
    SignInMail,
    ask_for,
    check_accessibility,
    expect_language,
    go_to_rights,
    heading_1,
    mail_to,
    press_sign_in,
    register_of,
    request_card,
    say,
    sign_in,
    sign_in_for_me,
    to_my_data,
    type_code,
)
from tests.support.contexts import context
from tests.support.pages import in_language_plural, long_date
from tests.support.systems import call_back, carry_out_everywhere, events_arrived, open_instructions, owner_of

LANGUAGES = ["nl", "en"]
DPO = "dpo.browser@we-are.be"
VIEWER = "viewer.browser@we-are.be"
# With the owners of the register's systems and recipients, who sign in to tick their tasks.
STAFF_ADDRESSES = (DPO, VIEWER, *sorted({party.notice.owner for party in (
    *default_register().systems.values(), *default_register().recipients.values()) if party.notice}))
DECISIONS = ("start", "ask", "extend", "complete", "refuse", "fee")
BRAM = Person(people.BRAM, "nl", {
    "nl": ("Leverancier of onderaannemer",), "en": ("Supplier or subcontractor",)})


@dataclass(frozen=True)
class Erasure:
    """A demo person who asks to erase everything: values that go, and values the law or a contract keeps."""

    person: Person
    erased: tuple[str, ...]
    kept: tuple[str, ...]


# portal/demo/subjects.json and the register's [right.erasure]: Bram's supplier relation ended in 2024, so
# his contact and correspondence go and the delivery records stay (accounting law); Hanne's customer
# relation still runs on a contract, so what it needs stays, and her ended participation goes entirely.
# The person's browser is in their own language, so their mails and the kept-data note match the page.
JOURNEY = {
    "nl": Erasure(BRAM, erased=("+32 470 12 34 56", "Agreement on the UX sprint for the webshop project"),
                  kept=("BE71 0961 2345 6769", "UX design, 40 days, project Brouwerij De Kaai")),
    "en": Erasure(HANNE, erased=("How do you test accessibility in a design system?",
                                 "Recording of the webinar Q&A, 24 September 2026"),
                  kept=("Design lead, Claes Studio", "Kick-off planning for the design system audit")),
}


# --- setting up and cleaning up ----------------------------------------------------------------------------


@pytest.fixture
def back_office_slate(live_app: Flask) -> Iterator[None]:
    """Before and after the test: no staff member or request, and the demo people as the demo file has them."""

    def clear() -> None:
        with live_app.extensions["portal.db"].session() as session:
            # Instructions and suppressions too: what an erasure suppressed would not be imported back.
            for model in (Instruction, Suppression, RequestEvent, RequestedChange, RightsRequest):
                session.execute(delete(model))
            session.execute(delete(AuthSession).where(AuthSession.email.in_(STAFF_ADDRESSES)))
            session.execute(delete(Staff).where(Staff.email.in_(STAFF_ADDRESSES)))
            session.commit()
        # An import adds and never deletes: it puts back exactly what an erasure removed.
        seeded = live_app.test_cli_runner().invoke(args=["seed-demo"])
        assert seeded.exit_code == 0, f"seed-demo failed ({seeded.exit_code}):\n{seeded.output}"

    clear()
    yield
    clear()


def create_staff(app: Flask, email: str, role: str) -> None:
    """As an administrator gives access: `flask create-staff EMAIL --role ROLE`."""
    result = app.test_cli_runner().invoke(args=["create-staff", email, "--role", role])
    assert result.exit_code == 0, f"create-staff failed ({result.exit_code}):\n{result.output}"
    assert f"Staff member {email} added with role {role}" in result.output


def file_request(
    app: Flask, email: str, right: str, details: str, *, scope: str | None = None, days_ago: int = 0,
) -> int:
    """A request as the person's form files it (without its mail), received `days_ago` days ago; its number."""
    register = register_of(app)
    today = dt.date.today()
    with app.extensions["portal.db"].session() as session:
        request = submit_request(session, context(register, today=today, now=utcnow(), notifier=None), email=email,
                                 right=right, idempotency_key=secrets.token_hex(16), details=details, scope=scope)
        number = request.id
        if days_ago:
            received = today - dt.timedelta(days=days_ago)
            session.execute(update(RightsRequest).where(RightsRequest.id == number).values(
                received_on=received, due_on=answer_due(received, response_time=register.handling.response_time)))
            session.commit()
    return number


def stored_request(app: Flask, number: int) -> RightsRequest:
    with app.extensions["portal.db"].session() as session:
        request = session.get(RightsRequest, number)
        assert request is not None, f"request #{number} is not in the database"
        session.expunge(request)
        return request


def erasure_request(app: Flask, email: str) -> RightsRequest:
    with app.extensions["portal.db"].session() as session:
        found = list(session.scalars(select(RightsRequest).where(RightsRequest.email == email,
                                                                 RightsRequest.right == "erasure")))
        assert len(found) == 1, f"one erasure request of {email}, found {len(found)}"
        session.expunge(found[0])
        return found[0]


def planned_erasure(app: Flask, number: int) -> ErasurePlan:
    """What completing the erasure would erase and keep, as the service decides it today."""
    with app.extensions["portal.db"].session() as session:
        request = session.get(RightsRequest, number)
        assert request is not None
        plan, _decisions = decisions.erasure_plan(session, request, register_of(app), dt.date.today())
        return plan


# --- wording ---------------------------------------------------------------------------------------------


def right_name(app: Flask, language: str, right: str) -> str:
    return register_of(app).rights[right].name.in_language(language)


def kept_line(app: Flask, language: str, group: KeptGroup) -> str:
    """One kept group as the request page and the person's answer say it: relation, category (count): why."""
    register = register_of(app)
    relation = register.relations[group.relation].name.in_language(language)
    category = register.categories[group.category].name.in_language(language)
    if group.kept.value == "relation_runs":
        reason = say(app, language, "needed to carry out our agreement while the relation runs")
    elif group.until:
        reason = say(app, language, "the law obliges us to keep these records, until %(date)s",
                     date=long_date(group.until, language))
    else:
        reason = say(app, language, "the law obliges us to keep these records, until their retention date")
    return f"{relation}, {category} ({group.count}): {reason}"


def erased_sentence(app: Flask, language: str, count: int) -> str:
    return str(in_language_plural(app, language, "We erased %(num)d data item.", "We erased %(num)d data items.",
                                  count))


# --- the staff member's sign-in ------------------------------------------------------------------------


def read_staff_mail(inbox: Inbox, live_server: str, address: str, number: int = 1) -> SignInMail:
    """The back office's sign-in mail: a link under /staff/sign-in/ and the same 6-digit code as a person's."""
    message = mail_to(inbox, address, number)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None, "the mail has a plain-text and an HTML part"
    text, html = text_part.get_content(), html_part.get_content()
    links = re.findall(rf"{re.escape(live_server)}/staff/sign-in/[A-Za-z0-9_-]{{20,}}", text)
    assert len(links) == 1, f"one back-office sign-in link to the live server in the mail, found {links}:\n{text}"
    assert f'href="{links[0]}"' in html, "the HTML part links to the same address as the text"
    codes = re.findall(r"\b\d{3} \d{3}\b", text)
    assert len(codes) == 1, f"one 6-digit code in the mail, found {codes}:\n{text}"
    assert codes[0] in html
    assert "%%" not in text + html, "a placeholder was left in the mail"
    return SignInMail(message, links[0], codes[0])


def staff_sign_in(
    page: Page, inbox: Inbox, live_server: str, app: Flask, language: str, email: str, *, with_code: bool = False,
) -> None:
    """/staff/sign-in, the address, then the mail's link and its button (or its code); ends on the queue."""
    response = page.goto("/staff/sign-in")
    assert response is not None and response.status == 200
    expect_language(page, language)
    expect(heading_1(page)).to_have_text(say(app, language, "Sign in to the back office"))
    page.get_by_label(EMAIL_LABEL[language], exact=True).fill(email)
    page.get_by_role("button", name=SEND_LINK[language], exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in/check-mail$"))

    mail = read_staff_mail(inbox, live_server, email)
    # A staff address is nobody's personal address with us: the mail is in the language of the page used.
    assert mail.message["Subject"] == say(app, language, "Your sign-in link for the privacy portal's back office")
    if with_code:
        type_code(page, language, mail.code)
    else:
        response = page.goto(mail.link)
        assert response is not None and response.status == 200
        expect(heading_1(page)).to_have_text(OPEN_LINK_H1[language])
        press_sign_in(page, language)
    expect(page).to_have_url(f"{live_server}/staff/requests")
    expect(heading_1(page)).to_have_text(say(app, language, "Requests"))
    expect(page.get_by_role("banner").get_by_role(
        "button", name=say(app, language, "Sign out of the back office"), exact=True)).to_be_visible()


# --- the back office's pages ---------------------------------------------------------------------------


def queue_row(page: Page, number: int) -> Locator:
    return page.locator("table.queue tbody tr").filter(has=page.locator(f'a[href$="/staff/requests/{number}"]'))


def open_request(page: Page, app: Flask, language: str, number: int, right: str) -> None:
    """From the queue, the request's link: "#12 Right to erasure"."""
    link = queue_row(page, number).get_by_role("link")
    expect(link).to_have_text(f"#{number} {right_name(app, language, right)}")
    link.click()
    expect(page).to_have_url(re.compile(rf"/staff/requests/{number}$"))
    expect_language(page, language)
    expect(heading_1(page)).to_contain_text(f"#{number} {right_name(app, language, right)}")


def status_badge(page: Page) -> Locator:
    return heading_1(page).locator(".badge").first


def decision(page: Page, action: str) -> Locator:
    return page.locator(f'form[action$="/{action}"]')


def fact(page: Page, app: Flask, language: str, term: str) -> Locator:
    """The value next to `term` in the request's facts ("Answer due", "First month ends", ...)."""
    return page.locator("dl.facts dt", has_text=re.compile(f"^{re.escape(say(app, language, term))}$")).locator(
        "xpath=following-sibling::dd[1]")


def expect_done(page: Page, app: Flask, language: str) -> None:
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text(
        say(app, language, "Done. The person has been told by mail."))


def post_form(page: Page, language: str, path: str, form: dict[str, str | float | bool]) -> APIResponse:
    """A form posted from the page's browser context, as a browser that skipped the page would send it.

    `page.request` shares the context's cookies but not its locale, so the language is sent as the page sends it.
    """
    return page.request.post(path, form=form, max_redirects=0, headers={"Accept-Language": LOCALES[language]})


def csrf_token(page: Page) -> str:
    """The page's CSRF token (every signed-in page carries one, in its sign-out form)."""
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token, "no CSRF token on the page"
    return token


def item_rows(page: Page) -> Locator:
    return page.get_by_role("main").locator("table.items tbody tr")


def mail_text(message: EmailMessage) -> str:
    """The plain-text part, its whitespace folded as a page shows it."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return " ".join(part.get_content().split())


# --- the journey: a person asks for erasure, the data protection manager completes it ----------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_data_protection_manager_completes_an_erasure_and_the_person_sees_what_was_kept(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, back_office_slate: None,
    language: str,
) -> None:
    journey = JOURNEY[language]
    person = journey.person
    register = register_of(live_app)

    # The person, in her own browser: her data on /me, then "erase all my data".
    page = new_page(locale=LOCALES[language])
    sign_in(page, inbox, live_server, language, person)
    main = page.get_by_role("main")
    for value in journey.erased + journey.kept:
        expect(main).to_contain_text(value)
    held_before = item_rows(page).count()
    assert held_before > 0
    go_to_rights(page, live_app, language)
    ask_for(page, live_app, language, "erasure")  # signed in just now: no fresh confirmation asked
    expect(page).to_have_url(f"{live_server}/me/rights/erasure")
    page.get_by_label(say(live_app, language, "What it is about"), exact=True).select_option("all")
    page.get_by_label(say(live_app, language, "Anything you want to add (optional)"), exact=True).fill(
        "Please erase everything you hold about me.")
    page.get_by_role("button", name=say(live_app, language, "Send my request"), exact=True).click()
    expect(page).to_have_url(f"{live_server}/me/requests")
    expect(request_card(page, live_app, language, "erasure").locator(".badge")).to_have_text(
        say(live_app, language, "received"))
    number = erasure_request(live_app, person.email).id
    plan = planned_erasure(live_app, number)
    assert plan.erased > 0 and plan.kept, f"the demo person should lose some data and keep some: {plan}"

    # The data protection manager, in another browser: the queue, filtered down to this person's erasure.
    create_staff(live_app, DPO, "dpo")
    dpo = new_page(locale=LOCALES[language])
    staff_sign_in(dpo, inbox, live_server, live_app, language, DPO)
    row = queue_row(dpo, number)
    expect(row).to_contain_text(person.email)
    expect(row.locator("td").nth(2)).to_have_text(say(live_app, language, "received"))
    check_accessibility(dpo, f"/staff/requests ({language})")
    dpo.screenshot(path=str(artifacts / f"back-office-queue-{language}.png"), full_page=True)
    dpo.get_by_label(say(live_app, language, "Right"), exact=True).select_option("erasure")
    dpo.get_by_label(say(live_app, language, "E-mail address contains"), exact=True).fill(person.email)
    dpo.get_by_role("button", name=say(live_app, language, "Show"), exact=True).click()
    expect(dpo).to_have_url(re.compile(r"/staff/requests\?.*right=erasure"))
    expect(dpo.locator("table.queue tbody tr")).to_have_count(1)
    expect(queue_row(dpo, number)).to_have_count(1)

    # The request: what the person wrote, her data, and what completing it erases and keeps.
    open_request(dpo, live_app, language, number, "erasure")
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "received"))
    expect(fact(dpo, live_app, language, "Person")).to_have_text(person.email)
    expect(dpo.get_by_role("main")).to_contain_text("Please erase everything you hold about me.")
    data = dpo.get_by_role("region", name=say(live_app, language, "The person's relations and data"), exact=True)
    for value in journey.erased + journey.kept:
        expect(data).to_contain_text(value)
    effect = dpo.get_by_role("region", name=say(live_app, language, "What completing this erasure does"),
                             exact=True)
    expect(effect).to_contain_text(in_language_plural(
        live_app, language, "%(num)d item will be erased.", "%(num)d items will be erased.", plan.erased))
    expect(effect.locator("li")).to_have_text([kept_line(live_app, language, group) for group in plan.kept])
    for action in DECISIONS:
        expect(decision(dpo, action)).to_have_count(1)
    check_accessibility(dpo, f"/staff/requests/{number} ({language})")
    dpo.screenshot(path=str(artifacts / f"back-office-request-{language}.png"), full_page=True)

    # Start, then complete with a message.
    decision(dpo, "start").get_by_role("button").click()
    expect(dpo).to_have_url(f"{live_server}/staff/requests/{number}")
    expect_done(dpo, live_app, language)
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "in progress"))
    expect(decision(dpo, "start")).to_have_count(0)  # started once
    message = {"nl": "Wij hebben uw gegevens gewist, op wat de wet ons laat bewaren na.",
               "en": "We erased your data, except what the law makes us keep."}[language]
    complete = decision(dpo, "complete")
    complete.get_by_role("textbox").fill(message)
    complete.get_by_role("button").click()
    expect(dpo).to_have_url(f"{live_server}/staff/requests/{number}")
    expect_done(dpo, live_app, language)
    history = dpo.locator("ol.history > li")
    expect(history.nth(1)).to_contain_text(DPO)
    expect(history.nth(2)).to_contain_text(DPO)  # the decision, told now; the systems carry it out
    expect(history.nth(2)).to_contain_text(say(live_app, language, "being carried out in our systems"))
    expect(history.nth(2)).to_contain_text(message)

    # The company's systems: each webhook system received its signed event and calls back that it is done;
    # the owner of each task (a manual system, a recipient's notice) signs in and ticks it.
    with live_app.extensions["portal.db"].session() as session:
        waiting = open_instructions(session, number)
        for instruction in waiting:
            session.expunge(instruction)
    hooks = [i for i in waiting if i.delivery == "webhook"]
    # Bram's CRM hears by webhook; Hanne's event platform by a task; both have recipients' notices to send.
    assert bool(hooks) == (language == "nl") and len(waiting) > len(hooks), [(i.party, i.delivery) for i in waiting]
    events_arrived({i.event_id for i in hooks})
    for instruction in hooks:
        assert call_back(live_server, instruction.event_id) == 204
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "being carried out in our systems"))
    for owner in sorted({owner_of(i) for i in waiting if i.delivery == "manual"}):
        create_staff(live_app, owner, "viewer")
        tasks_page = new_page(locale=LOCALES[language])
        staff_sign_in(tasks_page, inbox, live_server, live_app, language, owner)
        tasks_page.goto("/staff/tasks")
        for instruction in waiting:
            if instruction.delivery == "manual" and owner_of(instruction) == owner:
                task = tasks_page.locator(f"#task-{instruction.id}")
                task.get_by_role("button", name=say(live_app, language, "Done"), exact=True).click()
                expect(tasks_page.locator(f"#task-{instruction.id}")).to_have_count(0)
        tasks_page.close()
    dpo.reload()
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "completed"))
    expect(dpo.locator('form[action*="/staff/requests/"]')).to_have_count(0)  # nothing left to decide
    expect(history).to_have_count(4)
    expect(history.nth(3)).to_contain_text(say(live_app, language, "completed"))
    done = stored_request(live_app, number)
    assert done.status == "completed" and done.closed_at is not None

    # The person: the request completed, with the message and what was kept, in her language.
    kept_note = [kept_line(live_app, person.language, group) for group in plan.kept]
    page.reload()
    card = request_card(page, live_app, language, "erasure")
    expect(card.locator(".badge")).to_have_text(say(live_app, language, "completed"))
    expect(card.locator("ol.history > li").last).to_contain_text(say(live_app, language, "completed"))
    answer = card.locator("ol.history > li").filter(has_text=message)
    expect(answer).to_contain_text(say(live_app, language, "being carried out in our systems"))
    expect(answer).to_contain_text(erased_sentence(live_app, person.language, plan.erased))
    expect(answer).to_contain_text(say(live_app, person.language, "We keep, because we must:"))
    for line in kept_note:
        expect(answer).to_contain_text(line)
    expect(card).not_to_contain_text(say(live_app, language, "Our answer at the latest on %(date)s",
                                         date=long_date(done.due_on, language)))
    # ... and how far each system got: all done today, and which recipients were told (Art. 19).
    today = long_date(utcnow().date(), language)
    for system in sorted({i.party for i in waiting if i.party_kind == "system"}):
        expect(card).to_contain_text(say(live_app, language, "%(system)s: done on %(date)s", date=today,
                                         system=getattr(register.systems[system].name, language)))
    expect(card).to_contain_text(say(live_app, language, "We also told this to: %(recipients)s.", recipients="")
                                 .rstrip(" ."))
    for recipient in sorted({i.party for i in waiting if i.party_kind == "recipient"}):
        expect(card).to_contain_text(getattr(register.recipients[recipient].name, language))
    check_accessibility(page, f"/me/requests with a completed erasure ({language})")

    # Her mail says so: received, in progress, the decision, then completed (after the sign-in link).
    mail = mail_to(inbox, person.email, 4)
    assert mail["Subject"] == say(live_app, person.language, "Your request: %(right)s",
                                  right=right_name(live_app, person.language, "erasure"))
    text = mail_text(mail)
    assert say(live_app, person.language, "Status: %(status)s",
               status=say(live_app, person.language, "being carried out in our systems")) in text, text
    assert message in text, text
    assert erased_sentence(live_app, person.language, plan.erased) in text, text
    for line in kept_note:
        assert line in text, text
    finished = mail_text(mail_to(inbox, person.email, 5))
    assert say(live_app, person.language, "Status: %(status)s",
               status=say(live_app, person.language, "completed")) in finished, finished
    assert say(live_app, person.language, "All our systems concerned have now carried out our decision on your "
               "request.") in finished, finished

    # /me: fewer data, what was kept still there, and the manager among those who looked at or changed them.
    to_my_data(page, live_app, language)
    main = page.get_by_role("main")
    expect(item_rows(page)).to_have_count(held_before - plan.erased)
    for value in journey.erased:
        expect(main).not_to_contain_text(value)
    for value in journey.kept:
        expect(main).to_contain_text(value)
    looked = page.get_by_role("region", name=say(
        live_app, language, "Who at %(company)s looked at or changed your data",
        company=register.controller.short_name), exact=True)
    expect(looked.get_by_role("cell", name=say(live_app, language, "%(email)s (our staff)", email=DPO),
                              exact=True).first).to_be_visible()
    expect(looked).to_contain_text(say(live_app, language, "erased %(count)s data items", count=plan.erased))
    expect(looked).to_contain_text(say(live_app, language, "looked at a request and the data it concerns"))
    page.screenshot(path=str(artifacts / f"back-office-person-overview-{language}.png"), full_page=True)

    # The next routine import of the same source file brings nothing of it back.
    imported = live_app.test_cli_runner().invoke(args=["import-subjects", str(DEMO_FILE)])
    assert imported.exit_code == 0, imported.output
    assert "not imported: erased on" in imported.output, imported.output
    page.reload()
    expect(item_rows(page)).to_have_count(held_before - plan.erased)
    for value in journey.erased:
        expect(main).not_to_contain_text(value)


# --- a viewer reads, and decides nothing ---------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_viewer_reads_the_queue_and_a_request_but_cannot_decide(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, back_office_slate: None, language: str,
) -> None:
    number = file_request(live_app, AN.email, "access", "Which data do you hold about me?")
    create_staff(live_app, VIEWER, "viewer")
    page = new_page(locale=LOCALES[language])
    staff_sign_in(page, inbox, live_server, live_app, language, VIEWER, with_code=True)

    expect(queue_row(page, number)).to_contain_text(AN.email)
    open_request(page, live_app, language, number, "access")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Which data do you hold about me?")
    expect(page.get_by_role("region", name=say(live_app, language, "The person's relations and data"),
                            exact=True)).to_contain_text("Korenlei 7, 9000 Gent")
    decide = page.get_by_role("region", name=say(live_app, language, "Decide"), exact=True)
    expect(decide.locator("p.note")).to_have_text(
        say(live_app, language, "Your role lets you read this request, not decide on it."))
    expect(page.locator('form[action*="/staff/requests/"]')).to_have_count(0)
    expect(page.locator('form[action$="/staff/people/sessions"]')).to_have_count(0)
    check_accessibility(page, f"/staff/requests/{number} for a viewer ({language})")

    # Posting a decision anyway, with the page's own CSRF token: refused for the role, nothing changes.
    token = csrf_token(page)
    for action in DECISIONS:
        response = post_form(page, language, f"/staff/requests/{number}/{action}", {
            "csrf_token": token, "note": "Decided by a viewer", "ground": "excessive", "amount": "25.00"})
        assert response.status == 403, f"{action}: {response.status}"
        assert say(live_app, language, "Only the data protection manager") in response.text(), action
    response = post_form(page, language, "/staff/people/sessions", {"csrf_token": token, "email": AN.email})
    assert response.status == 403, response.status
    unchanged = stored_request(live_app, number)
    assert (unchanged.status, unchanged.extended_due_on, unchanged.fee_cents) == ("received", None, None)
    page.reload()
    expect(status_badge(page)).to_have_text(say(live_app, language, "received"))
    expect(page.locator("ol.history > li")).to_have_count(1)
    expect(main).not_to_contain_text("Decided by a viewer")


# --- a person's session and a staff session stay apart ----------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_person_cannot_open_the_back_office_nor_a_staff_member_the_persons_pages(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, back_office_slate: None, language: str,
) -> None:
    file_request(live_app, BRAM.email, "erasure", "Not for An's eyes")
    person = new_page(locale=LOCALES[language])
    sign_in(person, inbox, live_server, language, AN)

    response = person.goto("/staff/requests")
    assert response is not None and response.status == 200
    expect(person).to_have_url(re.compile(
        rf"^{re.escape(live_server)}/staff/sign-in\?next=(/|%2F)staff(/|%2F)requests$"))
    expect(heading_1(person)).to_have_text(say(live_app, language, "Sign in to the back office"))
    expect(person.get_by_role("main")).not_to_contain_text(BRAM.email)
    expect(person.get_by_role("main")).not_to_contain_text("Not for An's eyes")
    # Asking for a back-office link with her own address: the same answer as for staff, and no link is sent.
    person.get_by_label(EMAIL_LABEL[language], exact=True).fill(AN.email)
    person.get_by_role("button", name=SEND_LINK[language], exact=True).click()
    expect(person).to_have_url(re.compile(r"/sign-in/check-mail$"))
    back_office_subjects = {say(live_app, lang, "Your sign-in link for the privacy portal's back office")
                            for lang in LANGUAGES}
    with live_app.extensions["portal.db"].session() as session:
        assert not session.scalars(select(OutboxMail).where(
            OutboxMail.recipient == AN.email, OutboxMail.subject.in_(back_office_subjects))).all()
    # Her own session is untouched.
    response = person.goto("/me")
    assert response is not None and response.status == 200
    expect(person).to_have_url(f"{live_server}/me")

    create_staff(live_app, DPO, "dpo")
    dpo = new_page(locale=LOCALES[language])
    staff_sign_in(dpo, inbox, live_server, live_app, language, DPO)
    response = dpo.goto("/me")
    assert response is not None and response.status == 200
    expect(dpo).to_have_url(sign_in_for_me(live_server))
    expect(heading_1(dpo)).to_have_text(SIGN_IN_H1[language])
    expect(dpo.get_by_role("status")).to_have_text(SIGN_IN_FIRST[language])
    for path in ("/me/requests", "/me/rights"):
        dpo.goto(path)
        expect(dpo).to_have_url(re.compile(rf"^{re.escape(live_server)}/sign-in\?next="))
    # The back office itself still opens: the two sessions live side by side, neither opens the other.
    dpo.goto("/staff/requests")
    expect(dpo).to_have_url(f"{live_server}/staff/requests")
    expect(heading_1(dpo)).to_have_text(say(live_app, language, "Requests"))


# --- extending by two months: only within the first month ---------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_extension_is_offered_only_within_the_first_month_and_reaches_the_person(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path, back_office_slate: None,
    language: str,
) -> None:
    handling = register_of(live_app).handling
    today = dt.date.today()
    person = new_page(locale=LOCALES[language])
    sign_in(person, inbox, live_server, language, AN)  # before any mail about her requests
    late = file_request(live_app, AN.email, "access", "Sent 40 days ago", days_ago=40)
    fresh = file_request(live_app, AN.email, "access", "Sent today")
    late_received = stored_request(live_app, late).received_on
    late_first_month = answer_due(late_received, response_time=handling.response_time)
    assert late_first_month < today

    create_staff(live_app, DPO, "dpo")
    dpo = new_page(locale=LOCALES[language])
    staff_sign_in(dpo, inbox, live_server, live_app, language, DPO)
    # The late request comes first and stands out: its answer is overdue.
    rows = dpo.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_class(re.compile(r"\burgency-overdue\b"))
    expect(queue_row(dpo, late).locator(".badge-overdue")).to_have_text(say(live_app, language, "overdue"))
    expect(queue_row(dpo, fresh).locator(".badge-overdue")).to_have_count(0)

    # 40 days on: the first month has ended, so the page says an extension is no longer possible ...
    open_request(dpo, live_app, language, late, "access")
    expect(fact(dpo, live_app, language, "First month ends")).to_have_text(long_date(late_first_month, language))
    extend = decision(dpo, "extend")
    expect(extend).to_contain_text(say(
        live_app, language, "No longer possible: an extension must be announced within the first month "
        "(until %(date)s), once.", date=long_date(late_first_month, language)))
    expect(extend.get_by_role("textbox")).to_have_count(0)
    expect(extend.get_by_role("button")).to_have_count(0)
    # ... and a form posted anyway is refused with the reason; the request stays as it was.
    response = post_form(dpo, language, f"/staff/requests/{late}/extend",
                         {"csrf_token": csrf_token(dpo), "note": "Too many systems to search"})
    assert response.status == 409, response.status
    assert say(live_app, language, "The period can no longer be extended: an extension must be announced within "
               "the first month, which ended on %(date)s (statement 2.4, Article 12(3) GDPR). Answer the request "
               "now, or refuse it with reasons.", date=long_date(late_first_month, language)) in response.text()
    assert stored_request(live_app, late).extended_due_on is None

    # Received today: extended with reasons, which the form requires.
    dpo.get_by_role("link", name=say(live_app, language, "Back to the requests"), exact=True).click()
    open_request(dpo, live_app, language, fresh, "access")
    first_due = answer_due(today, response_time=handling.response_time)
    new_due = answer_due(today, response_time=handling.response_time, extension=handling.extension)
    expect(fact(dpo, live_app, language, "Answer due")).to_have_text(long_date(first_due, language))
    extend = decision(dpo, "extend")
    expect(extend).to_contain_text(say(
        live_app, language, "Possible until %(date)s, for a complex or numerous request. The person is told the "
        "new date and the reasons.", date=long_date(first_due, language)))
    with dpo.expect_response(re.compile(rf"/staff/requests/{fresh}/extend$")) as answer:
        extend.get_by_role("button").click()
    assert answer.value.status == 400
    extend = decision(dpo, "extend")
    expect(extend).to_contain_text(say(live_app, language, "Write the reasons: the person is told them."))
    expect(extend.get_by_role("textbox")).to_have_attribute("aria-invalid", "true")
    reasons = "Uw gegevens zitten in vier systemen; wij hebben meer tijd nodig om ze volledig te verzamelen."
    extend.get_by_role("textbox").fill(reasons)
    extend.get_by_role("button").click()
    expect(dpo).to_have_url(f"{live_server}/staff/requests/{fresh}")
    expect_done(dpo, live_app, language)
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "extended"))
    expect(fact(dpo, live_app, language, "Answer due")).to_have_text(
        f"{long_date(new_due, language)} ("
        f"{say(live_app, language, 'extended; first due %(date)s', date=long_date(first_due, language))})")
    expect(decision(dpo, "extend").get_by_role("button")).to_have_count(0)  # once only
    stored = stored_request(live_app, fresh)
    assert (stored.status, stored.extended_due_on) == ("extended", new_due)

    # The person's status page shows the new date and the reasons; the old request keeps its date.
    person.goto("/me/requests")
    card = person.locator(f'section.request[aria-labelledby="request-{fresh}"]')
    expect(card.locator(".badge")).to_have_text(say(live_app, language, "extended"))
    expect(card.locator("p.meta")).to_contain_text(say(
        live_app, language, "Our answer at the latest on %(date)s", date=long_date(new_due, language)))
    expect(card.locator("ol.history > li").last).to_contain_text(reasons)
    old_card = person.locator(f'section.request[aria-labelledby="request-{late}"]')
    expect(old_card.locator(".badge")).to_have_text(say(live_app, language, "received"))
    expect(old_card.locator("p.meta")).to_contain_text(long_date(stored_request(live_app, late).due_on, language))
    check_accessibility(person, f"/me/requests with an extended request ({language})")
    person.screenshot(path=str(artifacts / f"back-office-extended-{language}.png"), full_page=True)

    # And her mail, in her own language (Dutch): the new date and the reasons.
    mail = mail_to(inbox, AN.email, 2)  # after the sign-in link
    assert mail["Subject"] == say(live_app, AN.language, "Your request: %(right)s",
                                  right=right_name(live_app, AN.language, "access"))
    text = mail_text(mail)
    assert say(live_app, AN.language, "We answer at the latest on %(date)s.",
               date=long_date(new_due, AN.language)) in text, text
    assert reasons in text, text


# --- known product bugs, pinned: these fail until the bug is fixed ----------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_decision_field_has_its_own_label(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, back_office_slate: None, language: str,
) -> None:
    number = file_request(live_app, AN.email, "access", "Which data do you hold about me?")
    create_staff(live_app, DPO, "dpo")
    page = new_page(locale=LOCALES[language])
    staff_sign_in(page, inbox, live_server, live_app, language, DPO)
    open_request(page, live_app, language, number, "access")
    reasons = say(live_app, language, "Reasons, as the person will read them")
    labels = {"ask": reasons, "extend": reasons, "refuse": reasons, "fee": reasons,
              "complete": say(live_app, language, "Message to the person (optional)")}
    for action, label in labels.items():
        expect(decision(page, action).get_by_role("textbox")).to_have_accessible_name(label, timeout=1000)
    duplicated = page.locator("[id]").evaluate_all(
        "elements => { const seen = {}; elements.forEach(e => { seen[e.id] = (seen[e.id] || 0) + 1; });"
        " return Object.keys(seen).filter(id => seen[id] > 1); }")
    assert duplicated == [], f"ids used more than once on the request page: {duplicated}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_erasure_of_everything_leaves_no_consent_standing_under_a_relation_it_removed(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, back_office_slate: None, language: str,
) -> None:
    person = new_page(locale=LOCALES[language])
    sign_in(person, inbox, live_server, language, HANNE)  # before the mail about her request
    participant = HANNE.relations[language][0]
    consents = person.get_by_role("region", name=say(live_app, language, "Your consents"), exact=True)
    standing = consents.locator("tbody tr").filter(has_text=participant).filter(
        has_text=say(live_app, language, "no, it stands"))
    expect(standing).to_have_count(1)  # her consent to photos and videos of the webinar

    number = file_request(live_app, HANNE.email, "erasure", "Erase everything", scope="all")
    create_staff(live_app, DPO, "dpo")
    dpo = new_page(locale=LOCALES[language])
    staff_sign_in(dpo, inbox, live_server, live_app, language, DPO)
    open_request(dpo, live_app, language, number, "erasure")
    decision(dpo, "complete").get_by_role("button").click()
    expect(dpo.locator("ol.history > li").last).to_contain_text(
        say(live_app, language, "being carried out in our systems"))  # her event platform hears by a task
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "being carried out in our systems"))
    with live_app.extensions["portal.db"].session() as session:
        assert carry_out_everywhere(live_app, session, number)
    dpo.reload()
    expect(status_badge(dpo)).to_have_text(say(live_app, language, "completed"))

    person.reload()
    expect(person.get_by_role("region", name=participant, exact=True)).to_have_count(0)  # the relation is gone
    expect(standing).to_have_count(0, timeout=1000)
