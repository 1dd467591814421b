"""Section 3 of the statement, per relation, as the overview tells it to the person it concerns.

For one demo person of each relation, in Dutch and English: the data we hold are shown under the
categories the statement lists for that relation, each item with where it came from (2.2); every purpose
of the relation is there with its legal basis (and, for a legitimate interest, the interest itself), the
categories it really uses, with whom its data may be shared and, where that may be outside the EEA, the
safeguards of 2.3; and a link to the retention clause that applies. Expected values come from the
register, never from the page under test.
"""

from __future__ import annotations

import html
import re

import pytest
from babel.lists import format_list

from portal.i18n import BABEL_LOCALES
from tests.support.pages import browser_in
from tests.support.people import AN, BRAM, CHLOE, EVA, FRANK

LANGUAGES = ["nl", "en"]
# One demo person per relation (portal/demo/subjects.json).
PERSON = {
    "customer": AN,
    "supplier": BRAM,
    "visitor": FRANK,
    "applicant": CHLOE,
    "participant": EVA,
}
RELATIONS = list(PERSON)
LABELS = {
    "nl": {"basis": "Rechtsgrond", "data": "Gebruikte gegevens", "shared": "Gedeeld met", "how_long": "Hoe lang",
           "interest": "Ons belang:", "eea": "In beperkte gevallen buiten de Europese Economische Ruimte, altijd "
                                             "met waarborgen:"},
    "en": {"basis": "Legal basis", "data": "Data used", "shared": "Shared with", "how_long": "How long",
           "interest": "Our interest:", "eea": "In limited cases outside the European Economic Area, always with "
                                               "safeguards:"},
}
SOURCE_HEADING = {"nl": "Herkomst", "en": "Where it came from"}


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def relation_section(page: str, register, kind: str, language: str) -> tuple[int, str]:
    """The id and the markup of the overview's card for the relation `kind`."""
    name = html.escape(register.relations[kind].name.in_language(language), quote=True)
    match = re.search(rf'<section class="card relation" id="relation-(\d+)"[^>]*>\s*<h2[^>]*>{re.escape(name)}</h2>'
                      r"(.*?)</section>", page, re.DOTALL)
    assert match, f"no card for the relation {kind} on the overview"
    return int(match.group(1)), match.group(2)


def purposes_on(section: str, relation_id: int) -> dict[str, tuple[str, dict[str, str]]]:
    """Purpose id -> (its summary as text, {term: the markup of its description}) for one relation's card."""
    found = {}
    for purpose_id, body in re.findall(rf'<details class="purpose" id="purpose-{relation_id}-([a-z]+\.\d+)">(.*?)'
                                       r"</details>", section, re.DOTALL):
        summary = text_of(re.search(r"<summary>(.*?)</summary>", body, re.DOTALL).group(1))
        terms = dict((text_of(term), description) for term, description in
                     re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", body, re.DOTALL))
        found[purpose_id] = (summary, terms)
    return found


def overview(app, inbox, register, kind: str, language: str) -> tuple[int, str]:
    client = browser_in(app, inbox, PERSON[kind], language)
    response = client.get("/me")
    assert response.status_code == 200
    assert f'<html lang="{language}"' in response.get_data(as_text=True)
    return relation_section(response.get_data(as_text=True), register, kind, language)


@pytest.mark.clause("3.1.data", "3.2.data", "3.3.data", "3.4.data", "3.5.data")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", RELATIONS)
def test_the_data_held_are_shown_under_the_categories_the_statement_lists_for_the_relation(
    app, inbox, demo, register, kind, language,
):
    _relation_id, section = overview(app, inbox, register, kind, language)
    listed = [register.categories[c].name.in_language(language) for c in register.relations[kind].category_ids]
    shown = [text_of(name) for name in re.findall(r'<h4>(.*?) <span class="count">', section, re.DOTALL)]
    assert shown, "no category of data on the card"
    assert set(shown) <= set(listed), f"categories the statement does not list for {kind}: {set(shown) - set(listed)}"
    assert shown == [name for name in listed if name in shown]  # in the statement's order
    # Every item says where it came from, in the words of the register's sources (2.2).
    sources = {register.sources[s].name.in_language(language) for s in register.sources}
    rows = re.findall(r"<tr><td>.*?</td><td class=\"value\">.*?</td><td>(.*?)</td>", section, re.DOTALL)
    assert rows and {text_of(cell) for cell in rows} <= sources
    assert SOURCE_HEADING[language] in text_of(section)


@pytest.mark.clause("2.2.collection", "2.2.third_parties", "2.2.public_sources")
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_item_says_whether_it_came_from_the_person_a_third_party_or_a_public_source(
    app, inbox, demo, register, language,
):
    """An's contact details: her phone from herself, her name and job title from her employer, her office
    address from a public source (portal/demo/subjects.json)."""
    _relation_id, section = overview(app, inbox, register, "customer", language)
    rows = {(text_of(field), text_of(source)) for field, source in re.findall(
        r'<tr><td>(.*?)</td><td class="value">.*?</td><td>(.*?)</td>', section, re.DOTALL)}
    name = {source: register.sources[source].name.in_language(language) for source in register.sources}
    assert {("phone", name["provided"]), ("name", name["third_party"]), ("job title", name["third_party"]),
            ("office address", name["public"])} <= rows


@pytest.mark.clause("3.1.purposes", "3.2.purposes", "3.3.purposes", "3.4.purposes", "3.5.purposes",
                    "3.1.legal_basis", "3.2.legal_basis", "3.3.legal_basis", "3.4.legal_basis", "3.5.legal_basis",
                    "3.1.minimisation", "3.2.minimisation", "3.3.minimisation", "3.4.minimisation",
                    "3.5.minimisation")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", RELATIONS)
def test_every_purpose_of_the_relation_says_its_legal_basis_and_only_the_data_it_uses(
    app, inbox, demo, register, kind, language,
):
    relation_id, section = overview(app, inbox, register, kind, language)
    labels = LABELS[language]
    shown = purposes_on(section, relation_id)
    expected = register.purposes_of(kind)
    assert list(shown) == [p.id for p in expected]  # every purpose of section 3.x, in its order
    for purpose in expected:
        summary, terms = shown[purpose.id]
        assert summary.startswith(f"{purpose.numeral}. {purpose.description.in_language(language)}"), summary
        basis = register.bases[purpose.basis]
        stated = text_of(terms[labels["basis"]])
        assert stated.startswith(f"{basis.name.in_language(language)}: {basis.plain.in_language(language)}"), stated
        if purpose.interest is not None:
            assert f"{labels['interest']} {purpose.interest.in_language(language)}" in stated
        else:
            assert labels["interest"] not in stated
        # Only the categories the purpose needs, not "all the above personal data" (the register's reading).
        used = [register.categories[c].name.in_language(language) for c in purpose.categories]
        assert text_of(terms[labels["data"]]) == format_list(used, locale=BABEL_LOCALES[language]), purpose.id
        assert set(purpose.categories) <= set(register.relations[kind].category_ids)
        rule = register.retention[purpose.retention]
        assert f'href="/statement#{rule.clause}"' in terms[labels["how_long"]]


@pytest.mark.clause("3.1.recipients", "3.2.recipients", "3.3.recipients", "3.4.recipients", "3.5.recipients",
                    "2.3.processors", "2.3.eea", "2.3.transfers")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", RELATIONS)
def test_every_purpose_says_with_whom_its_data_may_be_shared_and_the_safeguards_outside_the_eea(
    app, inbox, demo, register, kind, language,
):
    relation_id, section = overview(app, inbox, register, kind, language)
    labels = LABELS[language]
    safeguards = [s.text.in_language(language) for s in register.transfers.safeguards]
    for purpose in register.purposes_of(kind):
        _summary, terms = purposes_on(section, relation_id)[purpose.id]
        listed = re.findall(r"<li>(.*?)</li>", terms[labels["shared"]], re.DOTALL)
        assert len(listed) == len(purpose.recipients), purpose.id
        for recipient_id, item in zip(purpose.recipients, listed, strict=True):
            recipient = register.recipients[recipient_id]
            name, _, note = item.partition("<br>")
            assert text_of(name) == recipient.name.in_language(language)
            if recipient.outside_eea_possible:
                # Outside the EEA only with the safeguards of 2.3, each named.
                assert text_of(note).startswith(labels["eea"]), item
                for safeguard in safeguards:
                    assert safeguard in text_of(note)
            else:
                assert note == "" and labels["eea"] not in text_of(item)
    # The processors (2.3) serve every relation; the customers of 3.2 and the cookie parties of 3.3 only theirs.
    everything = text_of(section)
    assert register.recipients["processors"].name.in_language(language) in everything
    assert (register.recipients["customers"].name.in_language(language) in everything) is (kind == "supplier")
    assert (register.recipients["cookie_parties"].name.in_language(language) in everything) is (kind == "visitor")
