"""`sweep-retention` on the demo people: what the operator reads, what the person then sees and receives.

The command runs through Flask's CLI runner on a real database; mail goes over real SMTP to the suite's
aiosmtpd server; people sign in through the real mail flow with CSRF on.

What an operator notices: the dry run names each person, relation and category with the number of items,
the rule and the statement's clause, says "would erase" or why it holds back, and changes nothing; `--apply`
erases, says so in totals, and a second run finds nothing more. What a person notices: their overview no
longer shows what was erased; an applicant in the talent pool gets the renewal question by mail in their own
language with the portal's address, sees it on /me and renews with one click, after which nothing is erased.

The demo's dates (portal/demo/subjects.json) decide what is due on the days swept as (`--today`):
Gert's customer relation ended 2016-11-30 (due 2026-11-30), Dries's application ended 2026-11-10 (due
2026-12-08), Frank's last contact was 2024-02-20 (due 2027-02-20), Eva withdrew her photo consent on
2025-06-20, and Chloé's talent-pool year ends 2027-03-02.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from babel.dates import format_date
from sqlalchemy import func, select, update

from portal.clock import local_today, utcnow
from portal.i18n import BABEL_LOCALES
from portal.models import (
    AuditEntry,
    Base,
    Consent,
    DataItem,
    OutboxMail,
    Relation,
    RenewalQuestion,
    RightsRequest,
    Subject,
)
from tests.conftest import sign_in
from tests.support.mails import eventually, html_part, plain, wait_for_mail
from tests.support.pages import browser, form_to, forms_on, html_lang, in_language, submit
from tests.support.pages import page_text as text
from tests.support.people import AN, CHLOE, DRIES, EVA, FRANK, GERT, HANNE

ASKED = dt.date(2027, 3, 2)  # Chloé's talent-pool year ends: the sweep asks her
ANSWER_BY = dt.date(2027, 3, 31)  # the last day to renew: erased on 1 April
RENEW_ACTION = "/me/consents/applicant.2/renew"


def sweep(runner, *args: str):
    result = runner.invoke(args=["sweep-retention", *args])
    assert result.exit_code == 0, result.output
    return result


def lines(result) -> list[str]:
    return result.stdout.splitlines()


def block_of(result, email: str) -> list[str]:
    """The lines under one person: their address on a line of its own, then their indented findings."""
    out = lines(result)
    assert out.count(email) >= 1, f"{email} is not listed:\n{result.stdout}"
    start = out.index(email) + 1
    block = []
    for line in out[start:]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


def row_counts(app) -> dict[str, int]:
    with app.extensions["portal.db"].session() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def items_of(app, email: str) -> dict[tuple[str, str], int]:
    with app.extensions["portal.db"].session() as session:
        rows = session.execute(
            select(Relation.kind, DataItem.category, func.count()).join(Subject).join(DataItem)
            .where(Subject.email == email).group_by(Relation.kind, DataItem.category))
        return {(kind, category): number for kind, category, number in rows}


def people(app) -> set[str]:
    with app.extensions["portal.db"].session() as session:
        return set(session.scalars(select(Subject.email)))


def change(app, statement) -> None:
    with app.extensions["portal.db"].session() as session:
        session.execute(statement)
        session.commit()


def subject_id(app, email: str) -> int:
    with app.extensions["portal.db"].session() as session:
        return session.scalar(select(Subject.id).where(Subject.email == email))


# --- the dry run --------------------------------------------------------------------------------------------------


def test_the_dry_run_lists_each_person_relation_category_count_rule_and_clause_and_changes_nothing(
    app, runner, demo,
):
    before = row_counts(app)
    result = sweep(runner, "--today", "2027-03-02")
    assert row_counts(app) == before

    assert lines(result)[0] == "Retention sweep as on 2027-03-02: dry run, nothing is changed."
    assert block_of(result, GERT) == [
        "  customer / contact: 2 item(s), retention ended 2026-11-30 (rule customer, statement 3.1.retention)"
        " -> would erase",
        "  customer / payment: 1 item(s), retention ended 2026-11-30 (rule customer, statement 3.1.retention)"
        " -> would erase",
    ]
    assert block_of(result, DRIES) == [
        "  applicant / contact: 2 item(s), retention ended 2026-12-08 (rule applicant, statement 3.4.retention)"
        " -> would erase",
        "  applicant / recruitment: 2 item(s), retention ended 2026-12-08 (rule applicant, statement "
        "3.4.retention) -> would erase",
    ]
    assert block_of(result, FRANK) == [
        "  visitor / contact: 2 item(s), retention ended 2027-02-20 (rule prospect, statement "
        "3.3.retention.prospect) -> would erase",
        "  visitor / correspondence: 2 item(s), retention ended 2027-02-20 (rule prospect, statement "
        "3.3.retention.prospect) -> would erase",
    ]  # the online data stay: his cookie consent stands
    assert block_of(result, EVA) == [
        "  participant / media: 1 item(s), retention ended 2025-06-20 (rule participant, statement 3.5.retention)"
        " -> would erase",
    ]  # her photo consent was withdrawn; the rest of her participation is kept until 2027-03-14
    assert block_of(result, CHLOE) == [
        "  applicant.2: consent period ended 2027-03-02 -> would ask whether to renew by 2027-03-31; erased on "
        "2027-04-01 unless renewed",
    ]
    for untouched in (AN, HANNE, "bram.declercq@example.com"):
        assert untouched not in lines(result)
    assert lines(result)[-2:] == [
        "8 people checked. Items to erase: 12 (in 7 categories); held back: 0. Relations to remove: 2; people to "
        "remove: 2. Renewal questions to send: 1.",
        "Run again with --apply to carry this out.",
    ]


def test_the_dry_run_says_why_it_holds_back(app, runner, demo):
    change(app, update(Relation).where(Relation.subject_id == subject_id(app, DRIES))
           .values(restricted_since=dt.date(2026, 11, 20)))
    with app.extensions["portal.db"].session() as session:
        session.add(RightsRequest(
            email=GERT, right="access", status="received", received_on=dt.date(2026, 11, 20),
            due_on=dt.date(2026, 12, 21), statement_version="test", idempotency_key="g" * 32, created_at=utcnow()))
        session.commit()
    before = row_counts(app)

    result = sweep(runner, "--today", "2028-09-24")  # two years after Hanne's webinar
    assert row_counts(app) == before
    assert block_of(result, GERT) == [
        "  customer / contact: 2 item(s), retention ended 2026-11-30 (rule customer, statement 3.1.retention)"
        " -> held: the person has a request in progress",
        "  customer / payment: 1 item(s), retention ended 2026-11-30 (rule customer, statement 3.1.retention)"
        " -> held: the person has a request in progress",
    ]
    assert block_of(result, DRIES) == [
        "  applicant / contact: 2 item(s), retention ended 2026-12-08 (rule applicant, statement 3.4.retention)"
        " -> held: processing is restricted at the person's request",
        "  applicant / recruitment: 2 item(s), retention ended 2026-12-08 (rule applicant, statement "
        "3.4.retention) -> held: processing is restricted at the person's request",
    ]
    assert block_of(result, HANNE) == [
        # Her name under the webinar is not a value her customer relation holds: it goes with the rest.
        "  participant / contact: 1 item(s), retention ended 2028-09-24 (rule participant, statement "
        "3.5.retention) -> would erase",
        "  participant / participation: 1 item(s), retention ended 2028-09-24 (rule participant, statement "
        "3.5.retention) -> would erase",
        "  participant / media: 1 item(s), retention ended 2028-09-24 (rule participant, statement "
        "3.5.retention) -> would erase",
    ]
    chloe = block_of(result, CHLOE)  # never asked: her data wait for the question
    assert chloe == [
        f"  applicant / {category}: {number} item(s), retention ended 2027-04-01 (rule applicant, statement "
        "3.4.retention) -> held: the person is asked first whether to renew their consent"
        for category, number in (("contact", 2), ("correspondence", 1), ("recruitment", 3))
    ]
    totals = lines(result)[-2]
    assert "held back: 13." in totals  # Gert 3, Dries 4, Chloé 6


# --- applying ---------------------------------------------------------------------------------------------------------


@pytest.mark.clause("3.1.retention")
def test_apply_erases_prints_the_totals_and_a_second_run_finds_nothing_more(app, runner, demo):
    eva_before = items_of(app, EVA)
    result = sweep(runner, "--apply", "--today", "2027-03-02")
    assert lines(result)[0] == "Retention sweep as on 2027-03-02: ERASING."
    assert block_of(result, GERT)[0].endswith(" -> erased")
    assert block_of(result, CHLOE) == [
        "  applicant.2: consent period ended 2027-03-02 -> asked whether to renew by 2027-03-31; erased on "
        "2027-04-01 unless renewed"]
    assert lines(result)[-1] == (
        "8 people checked. Items erased: 12 (in 7 categories); held back: 0. Relations removed: 2; people removed:"
        " 2. Renewal questions sent: 1.")
    assert "would erase" not in result.stdout and "--apply" not in result.stdout

    assert GERT not in people(app) and DRIES not in people(app)
    assert items_of(app, FRANK) == {("visitor", "online"): 2}
    assert items_of(app, EVA) == {key: n for key, n in eva_before.items() if key != ("participant", "media")}
    with app.extensions["portal.db"].session() as session:
        assert session.scalars(select(RenewalQuestion.asked_on)).all() == [ASKED]
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "retention_erased")) == 4

    verified = runner.invoke(args=["verify-audit"])
    assert verified.exit_code == 0 and "The audit trail is intact" in verified.output

    after = row_counts(app)
    again = sweep(runner, "--apply", "--today", "2027-03-02")
    assert lines(again)[-1] == (
        "6 people checked. Items erased: 0 (in 0 categories); held back: 0. Relations removed: 0; people removed:"
        " 0. Renewal questions sent: 0.")
    assert row_counts(app) == after


def test_quiet_prints_only_the_totals_and_small_batches_give_the_same_result(app, runner, demo):
    result = sweep(runner, "--apply", "--quiet", "--batch-size", "3", "--today", "2027-03-02")
    assert lines(result) == [
        "Retention sweep as on 2027-03-02: ERASING.",
        "8 people checked. Items erased: 12 (in 7 categories); held back: 0. Relations removed: 2; people removed:"
        " 2. Renewal questions sent: 1.",
    ]


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_overview_no_longer_shows_what_was_erased(app, runner, demo, inbox, language):
    frank = browser(app, language)
    sign_in(frank, inbox, FRANK)
    shown = text(frank.get("/me"))
    for value in ("Wouters & Zonen", "Do you build mobile apps for logistics companies?", "203.0.113.42"):
        assert value in shown

    sweep(runner, "--apply", "--quiet", "--today", "2027-03-02")

    shown = text(frank.get("/me"))
    assert "Wouters & Zonen" not in shown and "Do you build mobile apps" not in shown
    assert "Our answer with two reference cases" not in shown
    assert "203.0.113.42" in shown  # the online data stay while his cookie consent stands

    eva = browser(app, language)
    sign_in(eva, inbox, EVA)
    shown = text(eva.get("/me"))
    assert "Group photo at the AI workshop" not in shown
    assert "Vegetarian" in shown and "Stad Gent" in shown

    gert = browser(app, language)
    sign_in(gert, inbox, GERT)
    shown = text(gert.get("/me"))
    assert in_language(app, language, "We hold no personal data under this address") in shown
    assert "Final invoice 2016-0311" not in shown and "Gert Maes" not in shown


# --- the renewal question ---------------------------------------------------------------------------------------------


def renewal_mail(app, inbox):
    """The renewal question that reached the SMTP server for Chloé (after the sweep woke the mail sender)."""
    subjects = {in_language(app, language, "Do you want to stay in our talent pool?") for language in ("nl", "en")}
    mail = wait_for_mail(inbox, CHLOE)
    assert mail["Subject"] in subjects, mail["Subject"]
    return mail


@pytest.mark.clause("3.4.retention")
@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_renewal_question_arrives_by_mail_in_the_persons_language_with_the_portals_address(
    app, runner, demo, inbox, language,
):
    change(app, update(Subject).where(Subject.email == CHLOE).values(language=language))
    sweep(runner, "--apply", "--quiet", "--today", "2027-03-02")

    mail = renewal_mail(app, inbox)
    assert mail["Subject"] == in_language(app, language, "Do you want to stay in our talent pool?")
    assert inbox.envelopes[-1][1] == [CHLOE]
    body, page = plain(mail), html_part(mail)
    portal = f"{app.extensions['portal.settings'].base_url}/me"
    assert portal in body.split() and f'href="{portal}"' in page
    assert f'<html lang="{language}">' in page
    answer_by = format_date(ANSWER_BY, "d MMMM y", locale=BABEL_LOCALES[language])
    assert answer_by in body and answer_by in html.unescape(page)
    register = app.extensions["portal.register"]
    period = register.retention["applicant"].consent_extension.period.describe(language)
    assert in_language(app, language, "Do you want us to keep your data for another %(period)s? Sign in to the "
                                      "privacy portal and press the renewal button on your overview:",
                       period=period) in body
    assert register.purposes["applicant.2"].description.in_language(language) in body
    assert register.controller.email in body
    eventually(lambda: outbox_status(app, CHLOE) == "sent", message="the outbox row is not marked sent")


def outbox_status(app, email: str) -> str | None:
    with app.extensions["portal.db"].session() as session:
        return session.scalar(select(OutboxMail.status).where(OutboxMail.recipient == email))


def renewed_on(app) -> dt.date | None:
    with app.extensions["portal.db"].session() as session:
        return session.scalar(select(Consent.renewed_on).join(Subject)
                              .where(Subject.email == CHLOE, Consent.purpose == "applicant.2"))


def renew_form(response):
    """The banner's one form on /me: its hidden CSRF token and idempotency key, nothing to type."""
    form = form_to(response, RENEW_ACTION)
    assert set(form.values) == {"csrf_token", "key"} and form.typed == set()
    assert re.fullmatch(r"[0-9a-f]{32}", form.values["key"])
    return form


@pytest.mark.clause("3.4.retention")
@pytest.mark.parametrize("language", ["nl", "en"])
def test_one_click_on_me_renews_the_banner_goes_and_a_later_sweep_does_not_erase(
    app, runner, demo, inbox, language,
):
    sweep(runner, "--apply", "--quiet", "--today", "2027-03-02")
    renewal_mail(app, inbox)
    # Without an answer, the day after the answer date her data would go.
    unanswered = sweep(runner, "--today", "2027-04-02")
    assert all(line.endswith("-> would erase") for line in block_of(unanswered, CHLOE))
    chloe_items = items_of(app, CHLOE)
    assert sum(chloe_items.values()) == 6

    client = browser(app, language)
    sign_in(client, inbox, CHLOE)
    me = client.get("/me")
    assert html_lang(me) == language
    page = text(me)
    assert in_language(app, language, "Do you want to stay in our talent pool?") in page
    erase_on = ANSWER_BY + dt.timedelta(days=1)
    long = {day: format_date(day, "d MMMM y", locale=BABEL_LOCALES[language]) for day in (ASKED, erase_on)}
    assert in_language(app, language, "Your consent keeps your data with us for a limited time. On %(asked)s we "
                       "asked whether you want to renew it. Without a renewal we erase your data on %(date)s.",
                       asked=long[ASKED], date=long[erase_on]) in page
    renew_form(me)
    assert len([f for f in forms_on(me) if "/renew" in f.action]) == 1

    # A forged click (no valid CSRF token) or a broken key renews nothing.
    assert client.post(RENEW_ACTION, data={"key": "0" * 32}).status_code == 400
    assert client.post(RENEW_ACTION, data={**renew_form(me).values, "key": "not-a-key"}).status_code == 400
    assert renewed_on(app) is None

    first_day = local_today()  # the company's day, in Brussels: the server's UTC may still say yesterday
    answer = submit(client, me, RENEW_ACTION)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/me/requests")
    confirmation = text(client.get("/me/requests"))
    assert in_language(app, language, "Thank you: your consent is renewed, and we keep your data for another "
                                      "period. You can withdraw it at any time.") in confirmation
    assert first_day <= renewed_on(app) <= local_today()  # the day of the click

    me = client.get("/me")
    assert in_language(app, language, "Do you want to stay in our talent pool?") not in text(me)
    assert [f for f in forms_on(me) if "/renew" in f.action] == []

    later = sweep(runner, "--apply", "--today", "2027-04-02")
    assert CHLOE not in lines(later)
    assert items_of(app, CHLOE) == chloe_items


def test_renewing_needs_a_signed_in_person(app, runner, demo, inbox):
    sweep(runner, "--apply", "--quiet", "--today", "2027-03-02")
    client = browser(app, "en")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/sign-in").get_data(as_text=True))
    answer = client.post(RENEW_ACTION, data={"csrf_token": token.group(1), "key": "a" * 32})
    assert answer.status_code in (302, 303) and "/sign-in" in answer.headers["Location"]
    assert renewed_on(app) is None


def test_someone_who_was_not_asked_cannot_renew_a_consent_they_do_not_have(app, runner, demo, inbox):
    client = browser(app, "en")
    sign_in(client, inbox, DRIES)  # an applicant without talent-pool consent
    me = client.get("/me")
    assert [f for f in forms_on(me) if "/renew" in f.action] == []
    answer = client.post(RENEW_ACTION, data={"csrf_token": re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', me.get_data(as_text=True)).group(1), "key": "b" * 32})
    assert answer.status_code == 404


# --- the person's view after a sweep ---------------------------------------------------------------------------------


def test_the_persons_own_audit_list_says_in_words_what_the_sweep_did(app, runner, demo, inbox):
    sweep(runner, "--apply", "--quiet", "--today", "2027-03-02")
    for email in (FRANK, CHLOE):
        client = browser(app, "en")
        sign_in(client, inbox, email)
        shown = text(client.get("/me"))
        assert "retention_erased" not in shown and "renewal_asked" not in shown


def test_an_applicant_with_two_consents_gets_one_renewal_button_for_the_talent_pool(app, runner, demo, inbox):
    with app.extensions["portal.db"].session() as session:
        session.add(Consent(subject_id=session.scalar(select(Subject.id).where(Subject.email == CHLOE)),
                            purpose="applicant.3", given=dt.date(2026, 2, 25)))
        session.commit()
    sweep(runner, "--apply", "--quiet", "--today", "2027-03-02")
    client = browser(app, "en")
    sign_in(client, inbox, CHLOE)
    assert [f.action for f in forms_on(client.get("/me")) if "/renew" in f.action] == [RENEW_ACTION]
