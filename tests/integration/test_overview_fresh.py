"""The overview shows what the database holds at the moment it is opened: nothing is kept between views.

Every change below is made in a database session of its own, as an import, the back office, the
retention sweep, another worker or a database administrator's repair would make it; the next view of /me
must show it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Consent, DataItem, Relation, RenewalQuestion, Subject
from portal.services import audit
from portal.services.subjects import item_fingerprint
from tests.conftest import sign_in
from tests.support.people import CHLOE

EMAIL = CHLOE  # a demo applicant with a standing talent-pool consent
TODAY = dt.date.today()


def text(response) -> str:
    return response.get_data(as_text=True)


def relation_of(session: Session) -> Relation:
    return session.scalar(select(Relation).join(Subject).where(Subject.email == EMAIL))


def add_item(session: Session) -> None:
    relation = relation_of(session)
    value = "Portfolio: accessible design systems"
    relation.items.append(DataItem(category="recruitment", field="portfolio", value=value, source="provided",
                                   recorded=TODAY, fingerprint=item_fingerprint("recruitment", "portfolio", value,
                                                                           "provided", TODAY)))


def withdraw_consent(session: Session) -> None:
    consent = session.scalar(select(Consent).join(Subject).where(Subject.email == EMAIL))
    consent.withdrawn = TODAY


def restrict(session: Session) -> None:
    relation_of(session).restricted_since = TODAY


def erase_a_category_in_bulk(session: Session) -> None:
    session.execute(delete(DataItem).where(DataItem.relation_id == relation_of(session).id,
                                           DataItem.category == "correspondence"))


def staff_looks(session: Session) -> None:
    audit.record(session, actor=audit.staff_actor("dpo@we-are.be"), action="request_viewed",
                 now=dt.datetime.now(dt.UTC).replace(tzinfo=None), target="request:1", subject_email=EMAIL)


CHANGES: dict[str, tuple[Callable[[Session], None], Callable[[str], bool]]] = {
    "an item imported": (add_item, lambda page: "Portfolio: accessible design systems" in page),
    "a consent withdrawn": (withdraw_consent, lambda page: "stopped: consent withdrawn" in page),
    "processing restricted": (restrict, lambda page: "Restricted since" in page),
    "a category erased by a bulk statement": (
        erase_a_category_in_bulk, lambda page: "Our answer after the second interview" not in page),
    "the company looked at the data": (staff_looks, lambda page: "Nobody at" not in page),
}


@pytest.mark.clause("2.4.access")
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_made_elsewhere_shows_on_the_next_view(app, client, inbox, demo, change):
    make, shows = CHANGES[change]
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, EMAIL)
    client.get("/me")
    before = text(client.get("/me"))
    assert not shows(before)

    with app.extensions["portal.db"].session() as session:
        make(session)
        session.commit()

    assert shows(text(client.get("/me")))


@pytest.mark.clause("2.4.access", "2.4.rectification")
def test_a_value_corrected_in_the_database_behind_the_portals_back_shows_on_the_next_view(app, client, inbox, demo):
    """A database administrator's repair or a data migration writes SQL the portal never sees: no event, no
    service. The person who already looked must see the corrected value, not the one of their first view."""
    email = "an.peeters@example.com"  # a demo customer with a phone number
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, email)
    first = text(client.get("/me"))
    engine = app.extensions["portal.db"].engine
    with engine.begin() as connection:
        old = connection.execute(sql(
            "SELECT data_item.value FROM data_item JOIN relation ON relation.id = data_item.relation_id JOIN subject "
            "ON subject.id = relation.subject_id WHERE subject.email = :email AND data_item.field = 'phone'"
        ), {"email": email}).scalar_one()
        connection.execute(sql("UPDATE data_item SET value = :new WHERE value = :old AND field = 'phone'"),
                           {"new": "+32 9 555 01 99", "old": old})
    assert old in first
    again = text(client.get("/me"))
    assert "+32 9 555 01 99" in again and old not in again


def test_a_new_day_moves_the_dates_the_page_reads(app, client, inbox, demo, monkeypatch):
    """Retention dates and the timeline read today: the page of tomorrow says "today" at tomorrow."""
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, EMAIL)
    today_x = re.search(r'<line x1="([0-9.]+)"[^>]*class="tl-today"', text(client.get("/me")))
    monkeypatch.setattr("portal.clock.local_today", lambda: TODAY + dt.timedelta(days=200))
    later_x = re.search(r'<line x1="([0-9.]+)"[^>]*class="tl-today"', text(client.get("/me")))
    assert today_x and later_x and float(later_x.group(1)) > float(today_x.group(1))


RENEWAL_FORM = re.compile(r'action="/me/consents/applicant\.2/renew">\s*<input type="hidden" name="csrf_token" '
                          r'value="([^"]+)"><input type="hidden" name="key" value="([^"]+)">')


@pytest.mark.clause("3.4.retention")
def test_forms_on_the_overview_carry_each_browser_its_own_token_and_key(app, client, inbox, demo):
    with app.extensions["portal.db"].session() as session:  # the talent-pool year ended; we asked today
        session.scalar(select(Consent).join(Subject).where(Subject.email == EMAIL)).given = TODAY - dt.timedelta(400)
        relation = relation_of(session)
        relation.started, relation.ended = TODAY - dt.timedelta(500), TODAY - dt.timedelta(400)
        session.add(RenewalQuestion(relation_id=relation_of(session).id, purpose="applicant.2", asked_on=TODAY))
        session.commit()
    other = app.test_client()
    for browser in (client, other):
        browser.set_cookie("portal_lang", "en")
        sign_in(browser, inbox, EMAIL)
    first, second = text(client.get("/me")), text(other.get("/me"))
    (token_1, key_1), = RENEWAL_FORM.findall(first)
    (token_2, key_2), = RENEWAL_FORM.findall(second)
    assert token_1 != token_2 and key_1 != key_2
    # The token on the page is the browser's own: the button works.
    answer = other.post("/me/consents/applicant.2/renew", data={"csrf_token": token_2, "key": key_2})
    assert answer.status_code == 303, text(answer)[:300]
    assert "Do you want to stay in our talent pool?" not in text(other.get("/me"))


def test_a_session_views_are_audited_once_per_quarter_hour(app, client, inbox, demo, monkeypatch):
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, EMAIL)

    def views() -> int:
        with app.extensions["portal.db"].session() as session:
            return session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == "overview_viewed")) or 0

    for _ in range(3):
        client.get("/me")
    assert views() == 1
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=16)
    monkeypatch.setattr("portal.clock.utcnow", lambda: later)
    client.get("/me")
    assert views() == 2
