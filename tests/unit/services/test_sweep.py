"""The retention sweep: every rule of the register at its edges, the holds, and a sweep that is safe to run.

Each rule is checked on three days with a frozen `today`: the day before its retention date (nothing
happens), the day itself (the data go: "due when the retention date is today or earlier") and the day
after. People, relations, items and consents are inserted directly; the sweep runs as the command runs
it, through `sweep` (a dry run and `apply`), and what is left in the database is what is asserted.

What an auditor notices: each erasure names the rule and the statement's clause, is one audit entry
without personal data, and a removed person's personal audit parts go while the chain still verifies.
What an operator notices: the dry run writes nothing, a second run erases nothing more, and a run that
dies half-way leaves every person either untouched or completely done, and the next run finishes it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from portal.models import (
    AuditEntry,
    AuditPersonal,
    Base,
    Consent,
    DataItem,
    OutboxMail,
    Relation,
    RenewalQuestion,
    RightsRequest,
    Subject,
)
from portal.policy import requests as lifecycle
from portal.services import audit, requests
from portal.services import sweep as sweep_module
from portal.services.overview import RelationView, build_overview, purpose_views
from portal.services.sweep import Hold, plan_person
from tests.support.contexts import context
from tests.support.pages import in_language
from tests.support.sweep import (
    LONG_AGO,
    NOW,
    SWEEP_DAY,
    add_consent,
    add_items,
    add_person,
    add_relation,
    asking,
    audit_details,
    audit_intact,
    old_customer,
    relations_of,
    run,
    sessions_of,
)

DOMAIN = "we-are.be"
DAY = dt.timedelta(days=1)
EDGES = {"the day before": -1, "the day itself": 0, "the day after": 1}


# --- building people -----------------------------------------------------------------------------------------


# --- running the sweep and looking at what is left -----------------------------------------------------------------


def findings(plans) -> dict[tuple[str, str, str], object]:
    """(address, relation kind, category) -> its finding, over all batches."""
    return {(f.email, f.relation, f.category): f for plan in plans for f in plan.findings}


def held(app) -> dict[tuple[str, str, str], int]:
    """What the database holds: (address, relation kind, category) -> number of items."""
    with sessions_of(app)() as session:
        rows = session.execute(
            select(Subject.email, Relation.kind, DataItem.category, func.count())
            .join(Relation, Relation.subject_id == Subject.id).join(DataItem, DataItem.relation_id == Relation.id)
            .group_by(Subject.email, Relation.kind, DataItem.category))
        return {(email, kind, category): count for email, kind, category, count in rows}


def people(app) -> set[str]:
    with sessions_of(app)() as session:
        return set(session.scalars(select(Subject.email)))


def row_counts(app) -> dict[str, int]:
    with sessions_of(app)() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def count(app, model, *where) -> int:
    with sessions_of(app)() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


# --- every rule at its edges ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One relation of one person whose retention ends under one rule on a known day."""

    kind: str
    rule: str
    clause: str
    categories: tuple[str, ...]
    started: dt.date
    ended: dt.date | None = None
    last_contact: dt.date | None = None
    consents: tuple[tuple[str, dt.date, dt.date | None], ...] = ()
    until: dt.date | None = None  # the retention date, as the statement reads; None: from the register
    language: str = "nl"
    extra: dict[str, object] = field(default_factory=dict)

    def retention_date(self, register) -> dt.date:
        if self.until is not None:
            return self.until
        period = register.retention[self.rule].period
        return period.after(self.ended)


CASES = {
    # 3.1: ten years after the customer relation ended
    "customer": Case("customer", "customer", "3.1.retention", ("contact", "correspondence", "payment"),
                     started=dt.date(2010, 3, 1), ended=dt.date(2014, 6, 30), until=dt.date(2024, 6, 30)),
    # 3.2: ten years after the supplier relation ended
    "supplier": Case("supplier", "supplier", "3.2.retention", ("contact", "correspondence", "delivery"),
                     started=dt.date(2011, 1, 1), ended=dt.date(2014, 1, 15), until=dt.date(2024, 1, 15)),
    # 3.3: three years after the last contact; a leap day counts as the end of February three years on.
    # The visitor consented to cookies once and withdrew, so nothing else of the relation is left to wait for.
    "prospect": Case("visitor", "prospect", "3.3.retention.prospect", ("contact", "correspondence"),
                     started=dt.date(2019, 6, 1), last_contact=dt.date(2020, 2, 29), until=dt.date(2023, 2, 28),
                     consents=(("visitor.3", dt.date(2019, 6, 1), dt.date(2019, 9, 1)),)),
    # 3.4: four weeks after the application procedure ended, without consent to stay in the talent pool
    "applicant": Case("applicant", "applicant", "3.4.retention", ("contact", "correspondence", "recruitment"),
                      started=dt.date(2024, 3, 1), ended=dt.date(2024, 5, 10), until=dt.date(2024, 6, 7)),
    # 3.5: "as long as necessary", which the register configures as a period after the activity
    "participant": Case("participant", "participant", "3.5.retention",
                        ("contact", "correspondence", "participation", "media"),
                        started=dt.date(2023, 3, 14), ended=dt.date(2023, 3, 14)),
}


def set_up(session, case: Case, email: str) -> Subject:
    subject = add_person(session, email, case.language)
    relation = add_relation(session, subject, case.kind, started=case.started, ended=case.ended,
                            last_contact=case.last_contact)
    for category in case.categories:
        add_items(session, relation, category)
    for purpose, given, withdrawn in case.consents:
        add_consent(session, subject, purpose, given, withdrawn)
    session.commit()
    return subject


@pytest.mark.clause("3.1.retention", "3.2.retention", "3.5.retention")
def test_the_participants_period_is_the_registers_and_customers_keep_ten_years(register):
    # The participant's date above is computed from the register, so changing the register moves it.
    participant = register.retention["participant"]
    assert participant.kind == "as_long_as_necessary" and participant.counted_from == "relation_end"
    assert CASES["participant"].retention_date(register) == participant.period.after(dt.date(2023, 3, 14))
    assert CASES["participant"].retention_date(register) > dt.date(2023, 3, 14)
    for rule in ("customer", "supplier"):
        assert register.retention[rule].period.after(dt.date(2014, 6, 30)) == dt.date(2024, 6, 30)


@pytest.mark.clause("3.1.retention", "3.2.retention", "3.3.retention", "3.3.retention.prospect", "3.4.retention",
                    "3.5.retention")
@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("name", CASES)
def test_each_rule_erases_on_its_retention_date_and_not_a_day_before(app, session, register, name, edge):
    case = CASES[name]
    email = f"{name}@example.com"
    set_up(session, case, email)
    until = case.retention_date(register)
    today = until + EDGES[edge] * DAY
    due = today >= until
    before = row_counts(app)

    report, plans = run(app, register, today, apply=False)
    assert row_counts(app) == before  # a dry run writes nothing
    found = findings(plans)
    if not due:
        assert found == {} and report.items_erased == 0
    else:
        assert set(found) == {(email, case.kind, category) for category in case.categories}
        for finding in found.values():
            assert finding.erase and finding.hold is None
            assert (finding.until, finding.rule, finding.clause, finding.items) == (until, case.rule, case.clause, 2)
        assert report.items_erased == 2 * len(case.categories)
        assert report.categories_erased == len(case.categories)
        assert (report.relations_removed, report.people_removed) == (1, 1)

    report, _plans = run(app, register, today, apply=True)
    if not due:
        assert held(app) == {(email, case.kind, c): 2 for c in case.categories}
        assert relations_of(app, email) == [case.kind] and report.items_erased == 0
    else:
        # Nothing is left of the relation, so it goes, and with it the person who had no other.
        assert held(app) == {} and email not in people(app)
        assert count(app, Relation) == 0 and count(app, Consent) == 0
        assert (report.items_erased, report.relations_removed, report.people_removed) == (
            2 * len(case.categories), 1, 1)
        [(details, whose)] = audit_details(app, "retention_erased")
        assert whose is None  # the person is gone: the entry says what, never whom
        assert sorted((e["relation"], e["category"], e["items"], e["rule"], e["clause"]) for e in details["erased"]) \
            == sorted((case.kind, c, 2, case.rule, case.clause) for c in case.categories)


@pytest.mark.clause("3.1.retention", "3.4.retention")
def test_a_relation_that_still_runs_is_never_due(app, session, register):
    subject = add_person(session, "running@example.com")
    customer = add_relation(session, subject, "customer", started=dt.date(1990, 1, 1))  # never ended
    add_items(session, customer, "payment")
    applicant = add_relation(session, subject, "applicant", started=dt.date(1995, 1, 1))
    add_items(session, applicant, "recruitment")
    session.commit()
    report, plans = run(app, register, dt.date(2099, 12, 31), apply=True)
    assert findings(plans) == {} and report.items_erased == 0
    assert held(app) == {("running@example.com", "customer", "payment"): 2,
                         ("running@example.com", "applicant", "recruitment"): 2}


# --- the newsletter: a purpose that ends while the data may stay -----------------------------------------------------


WITHDRAWN = dt.date(2025, 4, 10)


@pytest.mark.clause("3.3.retention", "3.3.retention.newsletter", "3.3.retention.prospect")
@pytest.mark.parametrize("edge", EDGES)
def test_withdrawing_the_newsletter_ends_the_purpose_while_the_prospect_rule_keeps_the_contact_data(
    app, session, register, edge,
):
    subject = add_person(session, "reader@example.com")
    visitor = add_relation(session, subject, "visitor", started=dt.date(2024, 9, 1), last_contact=dt.date(2024, 9, 1))
    add_items(session, visitor, "contact")
    add_consent(session, subject, "visitor.2", dt.date(2024, 9, 1), withdrawn=WITHDRAWN)
    session.commit()

    overview = build_overview(session, "reader@example.com", register=register)
    session.commit()
    newsletter = next(p for p in overview.relations[0].purposes if p.purpose.id == "visitor.2")
    assert not newsletter.in_use and newsletter.retention.until == WITHDRAWN  # the purpose ended that day

    report, plans = run(app, register, WITHDRAWN + EDGES[edge] * DAY, apply=True)
    assert findings(plans) == {} and report.items_erased == 0
    assert held(app) == {("reader@example.com", "visitor", "contact"): 2}  # the prospect rule still needs them
    assert relations_of(app, "reader@example.com") == ["visitor"]

    # Three years after the last contact they go, under the prospect rule.
    _report, plans = run(app, register, dt.date(2027, 9, 1), apply=True)
    [finding] = findings(plans).values()
    assert (finding.category, finding.rule, finding.clause) == ("contact", "prospect", "3.3.retention.prospect")
    assert held(app) == {}


@pytest.mark.clause("3.3.retention", "3.3.retention.newsletter")
def test_a_newsletter_subscribers_contact_data_stay_while_the_consent_stands_and_go_when_it_is_withdrawn(
    app, session, register,
):
    """The prospect period is long over: the newsletter is the only purpose left that needs the contact data."""
    subject = add_person(session, "subscriber@example.com")
    visitor = add_relation(session, subject, "visitor", started=dt.date(2018, 1, 1), last_contact=dt.date(2018, 1, 1))
    add_items(session, visitor, "contact")
    add_items(session, visitor, "correspondence")
    consent = add_consent(session, subject, "visitor.2", dt.date(2018, 1, 1))
    session.commit()

    # The day before the withdrawal the consent stands: the correspondence (only the prospect rule's) goes,
    # the contact data stay for the newsletter.
    _report, plans = run(app, register, WITHDRAWN - DAY, apply=True)
    assert set(findings(plans)) == {("subscriber@example.com", "visitor", "correspondence")}
    assert held(app) == {("subscriber@example.com", "visitor", "contact"): 2}

    consent.withdrawn = WITHDRAWN
    session.commit()
    _report, plans = run(app, register, WITHDRAWN, apply=True)
    [finding] = findings(plans).values()
    assert (finding.category, finding.erase) == ("contact", True)
    assert held(app) == {}


@pytest.mark.clause("3.3.retention", "3.3.retention.cookies")
@pytest.mark.parametrize("edge", EDGES)
def test_cookie_data_end_with_the_cookie_consent_and_the_contact_data_stay(app, session, register, edge):
    """The online data have one purpose only (cookies): they go on the day the consent is withdrawn."""
    subject = add_person(session, "cookies@example.com")
    visitor = add_relation(session, subject, "visitor", started=dt.date(2024, 2, 1), last_contact=dt.date(2025, 1, 1))
    add_items(session, visitor, "contact")
    add_items(session, visitor, "online", 3)
    add_consent(session, subject, "visitor.3", dt.date(2024, 2, 1), withdrawn=WITHDRAWN)
    session.commit()

    today = WITHDRAWN + EDGES[edge] * DAY
    _report, plans = run(app, register, today, apply=True)
    if today < WITHDRAWN:
        assert findings(plans) == {}
        assert held(app)[("cookies@example.com", "visitor", "online")] == 3
    else:
        [finding] = findings(plans).values()
        assert (finding.category, finding.until, finding.rule, finding.clause) == (
            "online", WITHDRAWN, "cookies", "3.3.retention.cookies")
        assert ("cookies@example.com", "visitor", "online") not in held(app)
    assert held(app)[("cookies@example.com", "visitor", "contact")] == 2
    assert relations_of(app, "cookies@example.com") == ["visitor"]  # the prospect rule still runs


@pytest.mark.clause("3.3.retention.prospect")
def test_a_prospect_who_never_consented_to_cookies_is_removed_when_the_prospect_period_ends(app, session, register):
    subject = add_person(session, "prospect.only@example.com")
    visitor = add_relation(session, subject, "visitor", started=dt.date(2019, 1, 1), last_contact=dt.date(2020, 1, 1))
    add_items(session, visitor, "contact")
    session.commit()
    report, _plans = run(app, register, dt.date(2023, 1, 1), apply=True)
    assert held(app) == {}
    assert (report.relations_removed, report.people_removed) == (1, 1)
    assert "prospect.only@example.com" not in people(app)


# --- the applicant who consented to the talent pool -------------------------------------------------------------------

ENDED = dt.date(2024, 3, 1)
GIVEN = dt.date(2024, 2, 1)


def talent_pool_applicant(session, email: str = "pool@example.com", language: str = "en") -> Relation:
    subject = add_person(session, email, language)
    applicant = add_relation(session, subject, "applicant", started=dt.date(2024, 1, 8), ended=ENDED,
                             last_contact=ENDED)
    for category in ("contact", "correspondence", "recruitment"):
        add_items(session, applicant, category)
    add_consent(session, subject, "applicant.2", GIVEN)
    session.commit()
    return applicant


def renewal_due(register) -> dt.date:
    extension = register.retention["applicant"].consent_extension
    assert extension is not None and extension.purpose == "applicant.2"
    return extension.period.after(max(ENDED, GIVEN))


def answer_within(register):
    return register.retention["applicant"].consent_extension.answer_within


def questions(app) -> list[tuple[str, dt.date]]:
    with sessions_of(app)() as session:
        return list(session.execute(select(RenewalQuestion.purpose, RenewalQuestion.asked_on)
                                    .order_by(RenewalQuestion.id)).all())


def renewal_mails(app, email: str, language: str = "en") -> list[OutboxMail]:
    """The renewal questions in the outbox for `email` (not, say, the confirmation of a renewal)."""
    subject = in_language(app, language, "Do you want to stay in our talent pool?")
    with sessions_of(app)() as session:
        return list(session.scalars(select(OutboxMail).where(OutboxMail.recipient == email,
                                                             OutboxMail.subject == subject)))


@pytest.mark.clause("3.4.retention")
def test_the_talent_pool_keeps_an_applicant_a_year_and_nothing_is_asked_or_erased_before(app, session, register):
    talent_pool_applicant(session)
    due = renewal_due(register)
    assert due == dt.date(2025, 3, 1)  # one year, not the four weeks of 3.4 without consent
    with app.app_context():
        report, plans = run(app, register, due - DAY, apply=True, ask=asking(app))
    assert findings(plans) == {} and report.renewals_asked == 0
    assert questions(app) == [] and renewal_mails(app, "pool@example.com") == []
    assert sum(held(app).values()) == 6


def test_at_renewal_due_the_dry_run_only_says_it_would_ask(app, session, register):
    applicant = talent_pool_applicant(session)
    due = renewal_due(register)
    before = row_counts(app)
    with app.app_context():
        report, plans = run(app, register, due, apply=False, ask=asking(app))
    assert row_counts(app) == before
    [renewal] = [r for plan in plans for r in plan.renewals]
    assert (renewal.email, renewal.language, renewal.relation_id, renewal.purpose) == (
        "pool@example.com", "en", applicant.id, "applicant.2")
    # Erased on the 30th day after the question: the last day to renew is the day before.
    assert (renewal.renewal_due, renewal.erase_on, renewal.answer_by) == (
        due, answer_within(register).after(due), answer_within(register).after(due) - DAY)
    assert report.renewals_asked == 1 and findings(plans) == {}


@pytest.mark.clause("3.4.retention")
@pytest.mark.parametrize("language", ["nl", "en"])
def test_at_renewal_due_the_applicant_is_asked_once_by_mail_and_the_data_stay(app, session, register, language):
    applicant = talent_pool_applicant(session, language=language)
    due = renewal_due(register)
    with app.app_context():
        report, plans = run(app, register, due, apply=True, ask=asking(app))
    assert report.renewals_asked == 1 and findings(plans) == {}
    assert questions(app) == [("applicant.2", due)]
    [mail] = renewal_mails(app, "pool@example.com", language)  # the subject in the person's language
    assert mail.status == "pending"  # in the outbox, sent once the batch is committed
    answer_by = answer_within(register).after(due)
    assert f'<html lang="{language}">' in mail.body_html
    assert f"{app.extensions['portal.settings'].base_url}/me" in mail.body_text
    assert str(answer_by.year) in mail.body_text
    assert sum(held(app).values()) == 6
    [(details, whose)] = audit_details(app, "renewal_asked")
    assert details == {"purpose": "applicant.2"} and whose == "pool@example.com"

    # Asked once: the next days' runs neither ask again nor erase while the answer may still come.
    with app.app_context():
        report, plans = run(app, register, due + DAY, apply=True, ask=asking(app))
    assert report.renewals_asked == 0 and findings(plans) == {}
    assert len(questions(app)) == 1 and len(renewal_mails(app, "pool@example.com", language)) == 1
    assert applicant.id in {r.id for r in session.scalars(select(Relation))}


@pytest.mark.clause("3.4.retention")
@pytest.mark.parametrize("edge", EDGES)
def test_without_an_answer_the_data_go_thirty_days_after_the_question(app, session, register, edge):
    talent_pool_applicant(session)
    due = renewal_due(register)
    with app.app_context():
        run(app, register, due, apply=True, ask=asking(app))
    erase_on = answer_within(register).after(due)
    assert erase_on == due + 30 * DAY
    today = erase_on + EDGES[edge] * DAY
    with app.app_context():
        report, plans = run(app, register, today, apply=True, ask=asking(app))
    assert report.renewals_asked == 0
    if today < erase_on:
        assert findings(plans) == {} and sum(held(app).values()) == 6
    else:
        assert {(f.category, f.until, f.rule, f.erase) for f in findings(plans).values()} == {
            (c, erase_on, "applicant", True) for c in ("contact", "correspondence", "recruitment")}
        assert held(app) == {} and "pool@example.com" not in people(app)
        assert questions(app) == []  # the question went with the relation


@pytest.mark.clause("3.4.retention")
def test_a_late_first_question_holds_the_data_and_the_thirty_days_count_from_the_question(app, session, register):
    """The sweep did not run for weeks: the data are past their date, yet the person is asked first."""
    talent_pool_applicant(session)
    asked_on = renewal_due(register) + 45 * DAY
    with app.app_context():
        report, plans = run(app, register, asked_on, apply=True, ask=asking(app))
    assert report.renewals_asked == 1 and report.items_erased == 0 and report.items_held == 6
    assert {(f.category, f.hold) for f in findings(plans).values()} == {
        (c, Hold.AWAITING_RENEWAL) for c in ("contact", "correspondence", "recruitment")}
    assert sum(held(app).values()) == 6 and questions(app) == [("applicant.2", asked_on)]
    [renewal] = [r for plan in plans for r in plan.renewals]
    assert (renewal.erase_on, renewal.answer_by) == (asked_on + 30 * DAY, asked_on + 29 * DAY)

    with app.app_context():
        _report, plans = run(app, register, asked_on + 29 * DAY, apply=True, ask=asking(app))
    assert findings(plans) == {} and sum(held(app).values()) == 6
    with app.app_context():
        _report, plans = run(app, register, asked_on + 30 * DAY, apply=True, ask=asking(app))
    assert held(app) == {} and "pool@example.com" not in people(app)


@pytest.mark.clause("3.4.retention")
@pytest.mark.parametrize("edge", EDGES)
def test_a_renewal_keeps_the_data_a_new_year_and_then_asks_again(app, session, register, edge):
    talent_pool_applicant(session)
    due = renewal_due(register)
    with app.app_context():
        run(app, register, due, apply=True, ask=asking(app))
    renewed = due + 10 * DAY
    requests.renew_consent(session, context(register, today=renewed, now=NOW),
                           email="pool@example.com", purpose_id="applicant.2", idempotency_key="r" * 32)
    assert session.scalar(select(Consent.renewed_on)) == renewed

    # Past the old answer date nothing goes: the renewal started a new year.
    with app.app_context():
        report, plans = run(app, register, due + 31 * DAY, apply=True, ask=asking(app))
    assert findings(plans) == {} and report.renewals_asked == 0 and sum(held(app).values()) == 6

    next_due = dt.date(2026, 3, 11)  # a year after the renewal, not after the first consent
    assert next_due == register.retention["applicant"].consent_extension.period.after(renewed)
    today = next_due + EDGES[edge] * DAY
    with app.app_context():
        report, plans = run(app, register, today, apply=True, ask=asking(app))
    assert findings(plans) == {} and sum(held(app).values()) == 6
    if today < next_due:
        assert report.renewals_asked == 0 and questions(app) == [("applicant.2", due)]
    else:
        assert report.renewals_asked == 1 and questions(app) == [("applicant.2", due), ("applicant.2", today)]
        assert len(renewal_mails(app, "pool@example.com")) == 2


def test_renewing_is_refused_for_a_purpose_that_is_not_the_talent_pool(session, register):
    subject = add_person(session, "pool@example.com")
    add_relation(session, subject, "applicant", started=dt.date(2024, 1, 8), ended=ENDED)
    add_consent(session, subject, "applicant.3", GIVEN)
    session.commit()
    with pytest.raises(requests.RequestRefused) as refused:
        requests.renew_consent(session, context(register, today=ENDED, now=NOW),
                               email="pool@example.com", purpose_id="applicant.3", idempotency_key="s" * 32)
    assert refused.value.reason == "not_renewable"


# --- holds ------------------------------------------------------------------------------------------------------------


def add_request(session, email: str, status: str) -> None:
    session.add(RightsRequest(
        email=email, right="access", status=status, received_on=SWEEP_DAY - 5 * DAY, due_on=SWEEP_DAY + 25 * DAY,
        statement_version="test", idempotency_key=status.ljust(32, "0")[:32], created_at=NOW))


@pytest.mark.parametrize("status", sorted(lifecycle.STATES))
def test_an_open_request_holds_everything_of_that_person_and_a_closed_one_does_not(app, session, register, status):
    subject = old_customer(session, "asking@example.com")
    supplier = add_relation(session, subject, "supplier", started=dt.date(2006, 1, 1), ended=LONG_AGO)
    add_items(session, supplier, "delivery")
    add_request(session, "asking@example.com", status)
    old_customer(session, "bystander@example.com")  # someone else: not held by another's request
    session.commit()

    report, plans = run(app, register, SWEEP_DAY, apply=True)
    mine = {k: f for k, f in findings(plans).items() if k[0] == "asking@example.com"}
    assert len(mine) == 4
    if status in lifecycle.OPEN_STATES:
        assert {f.hold for f in mine.values()} == {Hold.OPEN_REQUEST}
        assert sum(n for k, n in held(app).items() if k[0] == "asking@example.com") == 8
        assert relations_of(app, "asking@example.com") == ["customer", "supplier"]
        assert report.items_held == 8
    else:
        assert all(f.erase for f in mine.values())
        assert "asking@example.com" not in people(app)
    assert "bystander@example.com" not in people(app)


@pytest.mark.clause("2.4.restriction")
def test_a_restricted_relation_is_held_and_the_persons_other_relation_is_not(app, session, register):
    subject = old_customer(session, "restricted@example.com", restricted_since=dt.date(2020, 1, 1))
    supplier = add_relation(session, subject, "supplier", started=dt.date(2006, 1, 1), ended=LONG_AGO)
    add_items(session, supplier, "delivery")
    session.commit()

    report, plans = run(app, register, SWEEP_DAY, apply=True)
    holds = {k[1:]: f.hold for k, f in findings(plans).items()}
    assert holds == {("customer", "contact"): Hold.RESTRICTED, ("customer", "correspondence"): Hold.RESTRICTED,
                     ("customer", "payment"): Hold.RESTRICTED, ("supplier", "delivery"): None}
    # The emptied supplier relation goes; the person stays with the restricted one.
    assert relations_of(app, "restricted@example.com") == ["customer"]
    assert held(app) == {("restricted@example.com", "customer", c): 2 for c in ("contact", "correspondence", "payment")}
    assert (report.relations_removed, report.people_removed) == (1, 0)
    [(details, whose)] = audit_details(app, "retention_erased")
    assert whose == "restricted@example.com"  # kept apart from the entry: the person can be told what was erased
    assert details["erased"] == [{"relation": "supplier", "category": "delivery", "items": 2, "rule": "supplier",
                                  "clause": "3.2.retention"}]


def participant_and_customer(session, register) -> tuple[Relation, Relation, dt.date]:
    subject = add_person(session, "both@example.com", "en")
    participant = add_relation(session, subject, "participant", started=dt.date(2024, 9, 24),
                               ended=dt.date(2024, 9, 24))
    add_items(session, participant, "contact", 1, field_name="payment details", value="BE71 0961 2345 6769")
    add_items(session, participant, "participation", 1, field_name="dietary restrictions", value="vegetarian")
    customer = add_relation(session, subject, "customer", started=dt.date(2024, 10, 15))
    add_items(session, customer, "payment", 1, field_name="bank account", value="BE71 0961 2345 6769")
    session.commit()
    return participant, customer, register.retention["participant"].period.after(dt.date(2024, 9, 24))


@pytest.mark.clause("3.1.retention", "3.5.retention")
@pytest.mark.parametrize("edge", EDGES)
def test_a_participant_who_is_also_a_customer_keeps_the_payment_details_while_the_customer_relation_runs(
    app, session, register, edge,
):
    _participant, _customer, until = participant_and_customer(session, register)
    today = until + EDGES[edge] * DAY
    report, plans = run(app, register, today, apply=True)
    found = findings(plans)
    if today < until:
        assert found == {}
        assert held(app)[("both@example.com", "participant", "participation")] == 1
        return
    contact = found[("both@example.com", "participant", "contact")]
    assert (contact.hold, contact.held_by, contact.held_until, contact.erase) == (
        Hold.NEEDED_ELSEWHERE, "customer", None, False)
    assert found[("both@example.com", "participant", "participation")].erase
    assert held(app) == {("both@example.com", "participant", "contact"): 1,
                         ("both@example.com", "customer", "payment"): 1}
    assert relations_of(app, "both@example.com") == ["customer", "participant"]
    assert report.items_held == 1 and report.items_erased == 1


@pytest.mark.clause("3.1.retention")
def test_once_the_customer_relation_ends_the_payment_details_are_held_until_its_own_date_and_then_go(
    app, session, register,
):
    participant, customer, _until = participant_and_customer(session, register)
    customer.ended = dt.date(2026, 12, 31)
    session.commit()
    customer_until = dt.date(2036, 12, 31)
    _report, plans = run(app, register, customer_until - DAY, apply=True)
    contact = findings(plans)[("both@example.com", "participant", "contact")]
    assert (contact.hold, contact.held_by, contact.held_until) == (Hold.NEEDED_ELSEWHERE, "customer", customer_until)

    report, plans = run(app, register, customer_until, apply=True)
    assert all(f.erase for f in findings(plans).values())
    assert held(app) == {} and "both@example.com" not in people(app)
    assert report.relations_removed == 2 and participant.id not in set(session.scalars(select(Relation.id)))


def test_plan_person_is_pure_and_an_open_request_holds_every_category(register):
    """The same relations, planned without a database: with and without a request in progress."""
    relation = Relation(id=7, subject_id=1, kind="supplier", started=dt.date(2001, 1, 1), ended=LONG_AGO)
    view = RelationView(id=7, definition=register.relations["supplier"], started=relation.started,
                        ended=relation.ended, last_contact=None, categories=[],
                        purposes=purpose_views(register, relation, {}, objected=False))
    counts = {(7, "contact"): 1, (7, "delivery"): 4}
    plain = plan_person("s@example.com", "nl", [view], counts, open_request=False, today=SWEEP_DAY)
    found, renewals, removable, remove_person = plain
    assert {(f.category, f.items, f.erase) for f in found} == {("contact", 1, True), ("delivery", 4, True)}
    assert (renewals, removable, remove_person) == ([], [7], True)
    found, _renewals, removable, remove_person = plan_person(
        "s@example.com", "nl", [view], counts, open_request=True, today=SWEEP_DAY)
    assert {f.hold for f in found} == {Hold.OPEN_REQUEST} and (removable, remove_person) == ([], False)
    assert plan_person("s@example.com", "nl", [view], counts, open_request=False, today=SWEEP_DAY) == plain


# --- what remains after an erasure -----------------------------------------------------------------------------------


def test_a_removed_persons_audit_trail_loses_its_personal_parts_and_still_verifies(app, session, register):
    old_customer(session, "gone@example.com")
    old_customer(session, "stays@example.com", restricted_since=dt.date(2021, 1, 1))
    for email in ("gone@example.com", "stays@example.com"):
        audit.record(session, actor=audit.PERSON, action="signed_in", now=NOW - DAY, subject_email=email,
                     personal={"from": "192.0.2.7"})
    session.commit()
    entries = count(app, AuditEntry)

    run(app, register, SWEEP_DAY, apply=True)
    assert "gone@example.com" not in people(app)
    assert count(app, AuditPersonal, AuditPersonal.subject_email == "gone@example.com") == 0
    assert count(app, AuditPersonal, AuditPersonal.subject_email == "stays@example.com") == 1
    assert count(app, AuditEntry) == entries + 1  # the old entry stays; the erasure is one more
    assert audit_intact(app)
    for details, whose in audit_details(app, "retention_erased"):
        assert whose is None
        assert "@" not in json.dumps(details) and "gone" not in json.dumps(details)


def test_retention_entries_hold_no_email_address_even_when_the_items_are_addresses(app, session, register):
    subject = add_person(session, "kept.person@example.com")
    customer = add_relation(session, subject, "customer", started=dt.date(2005, 1, 1), ended=LONG_AGO)
    add_items(session, customer, "contact", 1, field_name="e-mail", value="kept.person@example.com")
    supplier = add_relation(session, subject, "supplier", started=dt.date(2006, 1, 1), ended=LONG_AGO,
                            restricted_since=dt.date(2021, 1, 1))  # held: the person stays
    add_items(session, supplier, "delivery")
    session.commit()
    run(app, register, SWEEP_DAY, apply=True)
    [(details, whose)] = audit_details(app, "retention_erased")
    assert whose == "kept.person@example.com"
    assert "@" not in json.dumps(details) and "kept.person" not in json.dumps(details)
    assert details == {"erased": [{"relation": "customer", "category": "contact", "items": 1, "rule": "customer",
                                   "clause": "3.1.retention"}]}
    assert audit_intact(app)


# --- a sweep that is safe to run --------------------------------------------------------------------------------------


def mixed_population(session) -> None:
    """Everyone due for something: erasures, a hold, a renewal question, removals."""
    old_customer(session, "a.customer@example.com")
    old_customer(session, "b.restricted@example.com", restricted_since=dt.date(2020, 1, 1))
    subject = add_person(session, "c.visitor@example.com")
    visitor = add_relation(session, subject, "visitor", started=dt.date(2019, 1, 1), last_contact=dt.date(2019, 1, 1))
    add_items(session, visitor, "correspondence")
    add_items(session, visitor, "contact")
    add_consent(session, subject, "visitor.2", dt.date(2019, 1, 1))
    talent_pool_applicant(session, "d.applicant@example.com")
    session.commit()


def test_a_dry_run_changes_nothing(app, session, register):
    mixed_population(session)
    before = row_counts(app)
    with app.app_context():
        report, _plans = run(app, register, dt.date(2025, 3, 1), apply=False, ask=asking(app))
    assert report.items_erased > 0 and report.renewals_asked == 1 and report.people_removed == 1
    assert row_counts(app) == before


def test_a_second_run_erases_nothing_more(app, session, register):
    mixed_population(session)
    today = dt.date(2025, 3, 1)
    with app.app_context():
        first, _plans = run(app, register, today, apply=True, ask=asking(app))
    assert first.items_erased == 8 and first.renewals_asked == 1 and first.people_removed == 1
    after_first = row_counts(app)
    with app.app_context():
        second, plans = run(app, register, today, apply=True, ask=asking(app))
    assert (second.items_erased, second.categories_erased, second.relations_removed, second.people_removed,
            second.renewals_asked) == (0, 0, 0, 0, 0)
    assert second.items_held == 6  # the restricted customer, still held, and still said
    assert all(not f.erase for plan in plans for f in plan.findings)
    assert row_counts(app) == after_first
    assert audit_intact(app)


class PowerCut(Exception):
    pass


def five_old_customers(session) -> list[str]:
    emails = [f"p{number}@example.com" for number in range(1, 6)]
    for email in emails:
        subject = old_customer(session, email)
        supplier = add_relation(session, subject, "supplier", started=dt.date(2006, 1, 1), ended=LONG_AGO)
        add_items(session, supplier, "delivery", 3)
    session.commit()
    return emails


def test_an_interrupted_run_commits_whole_batches_only_and_the_next_run_finishes(app, session, register, monkeypatch):
    emails = five_old_customers(session)
    real_apply = sweep_module.apply_plan
    batches: list[list[str]] = []

    def apply_then_fail_in_the_second_batch(batch_session, ctx, plan, **options):
        batches.append(sorted({f.email for f in plan.findings}))
        real_apply(batch_session, ctx, plan, **options)
        if len(batches) == 2:
            batch_session.flush()
            # Everything of this batch is written in its transaction when the power goes.
            assert batch_session.scalar(select(func.count()).select_from(Subject)) == 1
            raise PowerCut()

    monkeypatch.setattr(sweep_module, "apply_plan", apply_then_fail_in_the_second_batch)
    with pytest.raises(PowerCut):
        run(app, register, SWEEP_DAY, apply=True, batch=2)
    assert batches == [emails[:2], emails[2:4]]

    # The first batch is done completely; the second and third are untouched, nobody is half-erased.
    assert people(app) == set(emails[2:])
    for email in emails[2:]:
        assert relations_of(app, email) == ["customer", "supplier"]
        assert {k[1:]: n for k, n in held(app).items() if k[0] == email} == {
            ("customer", "contact"): 2, ("customer", "correspondence"): 2, ("customer", "payment"): 2,
            ("supplier", "delivery"): 3}
    assert len(audit_details(app, "retention_erased")) == 2 and audit_intact(app)

    monkeypatch.setattr(sweep_module, "apply_plan", real_apply)
    report, _plans = run(app, register, SWEEP_DAY, apply=True, batch=2)
    assert (report.people, report.people_removed, report.items_erased) == (3, 3, 27)
    assert people(app) == set() and held(app) == {}
    assert len(audit_details(app, "retention_erased")) == 5 and audit_intact(app)
