"""The overview through the app: signed in through the real mail flow, in Dutch and English."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.models import Relation, Subject
from tests.conftest import sign_in
from tests.support.data_items import add_items
from tests.support.people import AN, BRAM, CHLOE, DRIES, EVA, FRANK, GERT, HANNE

DEMO_PEOPLE = {
    AN: ("customer", "visitor"),
    BRAM: ("supplier",),
    CHLOE: ("applicant",),
    DRIES: ("applicant",),
    EVA: ("participant",),
    FRANK: ("visitor",),
    GERT: ("customer",),
    HANNE: ("participant", "customer"),
}


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.clause("2.4.access", "3.1.purposes", "3.2.purposes", "3.3.purposes", "3.4.purposes", "3.5.purposes")
@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("email", sorted(DEMO_PEOPLE))
def test_every_demo_person_sees_their_relations(app, client, inbox, demo, register, email, language):
    client.set_cookie("portal_lang", language)
    sign_in(client, inbox, email)
    page = text(client.get("/me"))
    assert f'<html lang="{language}"' in page
    for kind in DEMO_PEOPLE[email]:
        assert register.relations[kind].name.in_language(language) in page
        for purpose in register.purposes_of(kind):
            assert purpose.description.in_language(language).replace("'", "&#39;")[:30] in page.replace("’", "’")
    others = set(register.relations) - set(DEMO_PEOPLE[email])
    for kind in others:
        assert f">{register.relations[kind].name.in_language(language)}</h2>" not in page
    assert 'role="img"' in page and 'id="timeline-text"' in page  # the picture and its text


@pytest.mark.clause("3.2.retention")
def test_the_overview_says_the_date_and_the_rule(client, inbox, demo):
    client.set_cookie("portal_lang", "nl")
    sign_in(client, inbox, "bram.declercq@example.com")
    page = text(client.get("/me"))
    assert "Bewaard tot 30 juni 2034: 10 jaar na het einde van onze relatie." in page
    client.set_cookie("portal_lang", "en")
    page = text(client.get("/me"))
    assert "Kept until 30 June 2034: 10 years after our relation ended." in page


@pytest.mark.clause("2.4.objection")
def test_why_a_right_does_not_apply_is_explained_with_its_clause(client, inbox, demo):
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, "bram.declercq@example.com")
    page = text(client.get("/me"))
    assert ("<strong>Right to object</strong>: Does not apply here: this right exists only for processing that "
            "rests on legitimate interest, and this purpose rests on contract.") in page
    assert 'href="/statement#2.4.objection"' in page


@pytest.mark.clause("3.5.data")
def test_dietary_restrictions_carry_a_note(client, inbox, demo, register):
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, "eva.janssens@example.com")
    page = text(client.get("/me"))
    assert register.categories["participation"].special_care.en in page
    assert "Vegetarian" in page


@pytest.mark.clause("2.4.access", "2.5.contact")
@pytest.mark.parametrize("language", ["nl", "en"])
def test_an_address_without_data_gets_a_clear_page(client, inbox, demo, language):
    client.set_cookie("portal_lang", language)
    sign_in(client, inbox, "nobody@example.org")
    page = text(client.get("/me"))
    heading = {"nl": "Onder dit e-mailadres houden wij geen persoonsgegevens bij",
               "en": "We hold no personal data under this address"}[language]
    assert heading in page
    assert "privacy@we-are.be" in page


def relation_id_of(session, email: str, kind: str) -> int:
    return session.scalar(select(Relation.id).join(Subject).where(Subject.email == email, Relation.kind == kind))


@pytest.mark.clause("1.care", "2.4.verification")
def test_another_persons_ids_answer_404_on_every_route(client, inbox, demo, session):
    sign_in(client, inbox, "an.peeters@example.com")
    own = relation_id_of(session, "an.peeters@example.com", "customer")
    foreign = relation_id_of(session, "bram.declercq@example.com", "supplier")
    assert client.get(f"/me/relations/{own}/contact").status_code == 200
    for url in (f"/me/relations/{foreign}/contact", f"/me/relations/{foreign}/delivery",
                f"/me/relations/{own}/delivery", "/me/relations/999999/contact", f"/me/relations/{own}/contact?page=9"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Bram" not in text(response) and "BE71" not in text(response)


def test_long_categories_are_paged(client, inbox, session):
    subject = Subject(email="writer@example.com", name="Writer", language="en")
    session.add(subject)
    session.flush()
    relation = Relation(subject_id=subject.id, kind="customer", started=__import__("datetime").date(2019, 1, 1))
    session.add(relation)
    session.commit()
    add_items(session, relation.id, 120)
    client.set_cookie("portal_lang", "en")
    sign_in(client, inbox, "writer@example.com")
    overview = text(client.get("/me"))
    assert overview.count('<td class="value">Message') == 10
    assert f"/me/relations/{relation.id}/correspondence" in overview
    first = text(client.get(f"/me/relations/{relation.id}/correspondence"))
    assert first.count('<td class="value">Message') == 50 and "Page 1 of 3" in first
    last = text(client.get(f"/me/relations/{relation.id}/correspondence?page=3"))
    assert last.count('<td class="value">Message') == 20


def test_signed_out_people_see_no_overview(client, demo):
    response = client.get("/me")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert client.get("/me/relations/1/contact").status_code == 302


def test_values_are_escaped(client, inbox, session):
    subject = Subject(email="evil@example.com", name="<script>alert(1)</script>", language="en")
    session.add(subject)
    session.flush()
    relation = Relation(subject_id=subject.id, kind="visitor", started=__import__("datetime").date(2024, 1, 1))
    session.add(relation)
    session.commit()
    from portal.models import DataItem

    session.add(DataItem(relation_id=relation.id, category="correspondence", field="form", value="<img src=x>",
                         source="provided", recorded=__import__("datetime").date(2024, 1, 1), fingerprint="e1"))
    session.commit()
    sign_in(client, inbox, "evil@example.com")
    page = text(client.get("/me"))
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    assert re.search(r"<script>alert", page) is None
