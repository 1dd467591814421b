"""The talent-pool renewal question as an applicant meets it in Chromium, in Dutch and in English.

An applicant whose talent-pool year has ended is asked by the retention sweep whether to renew: the mail
arrives in their language with the portal's address; they follow it, sign in, find the question on /me
with one button, press it, read the confirmation, and the question is gone. The overview with the question
is checked with axe and kept as a screenshot.

The live server serves the demo people to the whole browser package, and a sweep of the whole database
would erase some of them (the demo's dates are near today). So each test adds its own applicant and runs
the sweep's own two steps on that one person: `plan_batch` over a batch that holds only them, and
`apply_plan` with the command's way of asking (the app's notifier writes the renewal question). Everything
made for that person is removed afterwards.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import delete, select

from portal.clock import local_today, utcnow
from portal.models import AuditPersonal, Base, Consent, DataItem, Relation, RenewalQuestion, Subject
from portal.services import audit
from portal.services.sweep import SweepReport, apply_plan, plan_batch
from tests.conftest import Inbox
from tests.support.browser import (
    EMAIL_LABEL,
    LOCALES,
    SEND_LINK,
    NewPage,
    Person,
    check_accessibility,
    expect_flash,
    expect_language,
    expect_overview,
    heading_1,
    mail_to,
    open_link,
    press_sign_in,
    read_sign_in_mail,
    say,
    sign_in_for_me,
    to_my_data,
)
from tests.support.contexts import context
from tests.support.pages import long_date

LANGUAGES = ["nl", "en"]
APPLICANT = {"nl": ("(Potentiële) sollicitant",), "en": ("(Prospective) applicant",)}
QUESTION = "Do you want to stay in our talent pool?"


def a_year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


@pytest.fixture
def talent_pool_applicant(live_app: Flask, request: pytest.FixtureRequest) -> Iterator[tuple[Person, dt.date]]:
    """An applicant of `language` whose talent-pool year ends today, asked by the sweep; (person, day asked).

    Afterwards: the person, their relation, items, consent and question, and every row about their
    address (requests, mails, sign-in attempts, sessions) are removed, with the personal parts of their
    audit entries.
    """
    language = request.node.callspec.params["language"]
    email = f"talent.pool.{language}@example.com"
    database, register = live_app.extensions["portal.db"], live_app.extensions["portal.register"]
    today = local_today()
    ended = a_year_before(today)
    with database.session() as session:
        subject = Subject(email=email, name="Talent Pool", language=language)
        session.add(subject)
        session.flush()
        applicant = Relation(subject_id=subject.id, kind="applicant", started=ended - dt.timedelta(days=60),
                             ended=ended, last_contact=ended)
        session.add(applicant)
        session.flush()
        for number, (category, field_name) in enumerate(
                [("contact", "name"), ("correspondence", "e-mail"), ("recruitment", "CV")]):
            session.add(DataItem(relation_id=applicant.id, category=category, field=field_name,
                                 value=f"Renewal test {field_name}", source="provided", recorded=applicant.started,
                                 fingerprint=f"renewal-{number}"))
        session.add(Consent(subject_id=subject.id, purpose="applicant.2", given=ended - dt.timedelta(days=30)))
        session.commit()
        subject_id = subject.id

    try:
        # The sweep, on this person only: the batch after the previous id, of one person.
        now = utcnow()
        with live_app.app_context(), database.session() as session:
            plan = plan_batch(session, register, today=today, after_id=subject_id - 1, size=1)
            assert plan.people == 1 and plan.findings == []
            [renewal] = plan.renewals
            assert (renewal.email, renewal.purpose, renewal.language) == (email, "applicant.2", language)
            assert renewal.renewal_due <= today
            ctx = context(register, actor=audit.SYSTEM, today=today, now=now,
                          notifier=live_app.extensions["portal.notifier"])
            apply_plan(session, ctx, plan, report=SweepReport())
            session.commit()
            assert session.scalars(select(RenewalQuestion.asked_on)).all() == [today]
        live_app.extensions["portal.mail"].wake()
        yield Person(email, language, APPLICANT), today
    finally:
        with database.session() as session:
            session.execute(delete(Subject).where(Subject.email == email))  # relations, items, consents, questions
            for table in reversed(Base.metadata.sorted_tables):
                for column in ("email", "recipient"):
                    if column in table.c and table.name not in ("audit_personal",):
                        session.execute(delete(table).where(table.c[column] == email))
            audit.forget(session, email)
            session.commit()
            assert session.scalar(select(AuditPersonal.seq).where(AuditPersonal.subject_email == email)) is None


@pytest.mark.clause("3.4.retention")
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_applicant_renews_the_talent_pool_from_the_question_in_the_mail(
    new_page: NewPage, inbox: Inbox, live_server: str, live_app: Flask, artifacts: Path,
    talent_pool_applicant: tuple[Person, dt.date], language: str,
) -> None:
    person, asked = talent_pool_applicant
    register = live_app.extensions["portal.register"]
    period = register.retention["applicant"].consent_extension.period.describe(language)
    erase_on = register.retention["applicant"].consent_extension.answer_within.after(asked)

    # The question arrives in the person's language, pointing at the portal itself.
    mail = mail_to(inbox, person.email)
    assert mail["Subject"] == say(live_app, language, QUESTION)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    links = re.findall(rf"{re.escape(live_server)}/[^\s\"<]*", text)
    assert links == [f"{live_server}/me"], text
    assert f'href="{live_server}/me"' in html and f'<html lang="{language}">' in html
    assert long_date(erase_on - dt.timedelta(days=1), language) in text  # the last day to renew

    # The link asks to sign in first and then brings the person to the overview.
    page = new_page(locale=LOCALES[language])
    page.goto(links[0])
    expect(page).to_have_url(sign_in_for_me(live_server))
    expect_language(page, language)
    page.get_by_label(EMAIL_LABEL[language], exact=True).fill(person.email)
    page.get_by_role("button", name=SEND_LINK[language], exact=True).click()
    open_link(page, language, read_sign_in_mail(inbox, live_server, person.email, number=2).link)
    press_sign_in(page, language)
    expect_overview(page, live_server, language, person)

    banner = page.locator(".note.renewal")
    expect(banner).to_have_count(1)
    expect(banner).to_contain_text(say(live_app, language, QUESTION))
    expect(banner).to_contain_text(say(
        live_app, language, "Your consent keeps your data with us for a limited time. On %(asked)s we asked whether "
        "you want to renew it. Without a renewal we erase your data on %(date)s.",
        asked=long_date(asked, language), date=long_date(erase_on, language)))
    button = banner.get_by_role("button", name=say(live_app, language, "Yes, keep my data for another %(period)s",
                                                     period=period), exact=True)
    expect(button).to_be_visible()
    check_accessibility(page, f"/me with the renewal question ({language})")
    page.screenshot(path=str(artifacts / f"renewal-question-{language}.png"), full_page=True)

    button.click()
    expect(page).to_have_url(f"{live_server}/me/requests")
    expect_language(page, language)
    expect_flash(page, live_app, language, "Thank you: your consent is renewed, and we keep your data for another "
                                           "period. You can withdraw it at any time.")

    to_my_data(page, live_app, language)
    expect(heading_1(page)).to_be_visible()
    expect(page.locator(".note.renewal")).to_have_count(0)
    expect(page.get_by_role("button", name=say(live_app, language, "Yes, keep my data for another %(period)s",
                                               period=period))).to_have_count(0)
    expect(page.get_by_role("main")).to_contain_text("Renewal test CV")  # the data are still there
    with live_app.extensions["portal.db"].session() as session:
        renewed = session.scalar(select(Consent.renewed_on).join(Subject).where(Subject.email == person.email))
    assert renewed is not None and asked <= renewed <= local_today()
