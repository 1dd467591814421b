"""The register is the statement as data: complete, bilingual, consistent, and refused when it is not."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from portal.policy.register import (
    BASIS_IDS,
    CATEGORY_IDS,
    REGISTER_PATH,
    RELATION_IDS,
    RIGHT_IDS,
    SOURCE_IDS,
    RegisterError,
    default_register,
    load_register,
    parse_register,
)
from portal.policy.text import Text

# The statement as the company published it (a copy of ../shared/privacy-statement.nl.txt, kept with
# the code so that the register is checked against it on any machine).
STATEMENT = Path(__file__).resolve().parents[3] / "docs" / "privacy-statement.nl.txt"
REGISTER = default_register()
EXPECTED_PURPOSES = {
    "customer": 5, "supplier": 1, "visitor": 3, "applicant": 3, "participant": 4,
}


def raw_register() -> dict:
    with REGISTER_PATH.open("rb") as handle:
        return tomllib.load(handle)


def test_ids_are_the_stable_interface():
    assert tuple(REGISTER.relations) == RELATION_IDS
    assert set(REGISTER.categories) == set(CATEGORY_IDS)
    assert set(REGISTER.sources) == set(SOURCE_IDS)
    assert set(REGISTER.bases) == set(BASIS_IDS)
    assert tuple(REGISTER.rights) == RIGHT_IDS
    expected = {f"{relation}.{n}" for relation, count in EXPECTED_PURPOSES.items() for n in range(1, count + 1)}
    assert set(REGISTER.purposes) == expected


@pytest.mark.clause("3.1.minimisation", "3.2.minimisation", "3.3.minimisation", "3.4.minimisation", "3.5.minimisation")
@pytest.mark.parametrize("purpose_id", sorted(REGISTER.purposes))
def test_every_purpose_is_complete(purpose_id):
    purpose = REGISTER.purposes[purpose_id]
    assert purpose.basis in BASIS_IDS
    assert purpose.categories and set(purpose.categories) <= set(REGISTER.relations[purpose.relation].category_ids)
    assert purpose.recipients and all(r in REGISTER.recipients for r in purpose.recipients)
    assert purpose.retention in REGISTER.retention
    assert purpose.description.nl and purpose.description.en
    assert purpose.description.nl != purpose.description.en
    if purpose.basis == "legitimate_interest":
        assert purpose.interest is not None and purpose.interest.nl and purpose.interest.en


@pytest.mark.clause("3.1.legal_basis", "3.2.legal_basis", "3.3.legal_basis", "3.4.legal_basis", "3.5.legal_basis",
                    "2.4.direct_marketing")
def test_legal_bases_follow_the_statement():
    bases = {pid: p.basis for pid, p in REGISTER.purposes.items()}
    assert {pid for pid, b in bases.items() if b == "consent"} == {
        "visitor.2", "visitor.3", "applicant.2", "applicant.3", "participant.4"}
    assert {pid for pid, b in bases.items() if b == "legitimate_interest"} == {
        "customer.5", "participant.2", "participant.3"}
    assert {pid for pid, b in bases.items() if b == "pre_contract"} == {"visitor.1", "applicant.1"}
    assert {pid for pid, p in REGISTER.purposes.items() if p.direct_marketing} == {
        "visitor.2", "customer.5", "participant.3"}


@pytest.mark.clause("3.1.retention", "3.2.retention", "3.3.retention.prospect", "3.3.retention.newsletter",
                    "3.4.retention", "3.5.retention")
def test_retention_rules_are_structured_as_the_statement_says():
    rules = REGISTER.retention
    assert (rules["customer"].kind, rules["customer"].period.years) == ("after_relation_end", 10)
    assert (rules["supplier"].kind, rules["supplier"].period.years) == ("after_relation_end", 10)
    assert (rules["prospect"].kind, rules["prospect"].period.years) == ("after_last_contact", 3)
    assert rules["newsletter"].kind == "until_consent_withdrawn"
    assert rules["newsletter"].consent_purpose == "visitor.2"
    assert (rules["applicant"].kind, rules["applicant"].period.weeks) == ("after_relation_end", 4)
    assert rules["applicant"].consent_extension.period.years == 1
    assert rules["applicant"].consent_extension.then == "ask_renewal"
    necessary = rules["participant"]
    assert necessary.kind == "as_long_as_necessary" and necessary.period is not None
    assert necessary.interpretation is not None  # the register says this period is our reading


def test_every_text_exists_in_both_languages():
    texts: list[tuple[str, Text]] = []

    def collect(value, where):
        if isinstance(value, Text):
            texts.append((where, value))
        elif hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                collect(getattr(value, name), f"{where}.{name}")
        elif isinstance(value, dict):
            for key, item in value.items():
                collect(item, f"{where}[{key}]")
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                collect(item, f"{where}[{index}]")

    collect(REGISTER, "register")
    assert len(texts) > 150
    assert [where for where, text in texts if not text.nl.strip() or not text.en.strip()] == []


def test_clause_ids_are_unique_and_stable():
    ids = [clause["id"] for clause in raw_register()["clause"]]
    assert len(ids) == len(set(ids))
    for clause_id in ("2.4.access", "2.4.portability", "2.4.objection", "2.4.withdrawal", "2.4.direct_marketing",
                      "2.4.verification", "2.4.fee", "2.4.response_time", "2.5.complaint", "2.1.processor",
                      "3.1.retention", "3.4.retention", "2.3.transfers"):
        assert clause_id in REGISTER.clauses
    for clause_id in ids:
        assert re.fullmatch(r"[0-9](\.[0-9])?(\.[a-z0-9_]+)+", clause_id), clause_id


@pytest.mark.clause("1.care", "1.commitment", "1.contents", "1.scope", "2.1.responsibility", "2.3.processors",
                    "2.3.authorities", "2.3.eea", "2.4.intro", "3.intro", "3.1.minimisation", "3.2.minimisation",
                    "3.3.minimisation", "3.4.minimisation", "3.5.minimisation", "4.changes", "4.date")
def test_the_statement_is_in_the_register_sentence_by_sentence():
    """Every prose line of sections 1-4 appears verbatim in a clause, list items aside (derived from data)."""
    lines = [" ".join(line.split()) for line in STATEMENT.read_text(encoding="utf-8").splitlines()]
    body = lines[lines.index("1. INTRODUCTIE") + 1:]
    body = [line for line in body if line]
    body = body[:next(i for i, line in enumerate(body) if line.startswith("By clicking"))]
    dutch = " ".join(" ".join(c.text.nl.split()) for c in REGISTER.clauses.values())
    derived = " ".join(
        " ".join(t.split()) for t in
        [p.description.nl for p in REGISTER.purposes.values()]
        + [c.examples.nl for r in REGISTER.relations.values() for c in r.categories]
        + [b.statement_wording.nl for b in REGISTER.bases.values()]
        + [t.nl for r in REGISTER.relations.values() for t in r.basis_wording.values()]
        + [r.name.nl for r in REGISTER.recipients.values()]
        + [p.interest.nl for p in REGISTER.purposes.values() if p.interest]
    )
    heading = re.compile(r"^\d(\.\d)?\.?\s+[A-ZÉË(][A-ZÉË ()/?,.'’-]+$")
    missing = []
    for line in body:
        if heading.match(line):
            continue
        text = re.sub(r";? en$", "", re.sub(r"^(- |• |– |[IVX]+\. )", "", line))  # list joints: "...; en"
        core = text.rstrip(";.: ")[:60]
        # "- contactinformatie: bv. naam, ..." lists a category's examples (3.5's event line is split
        # between participation and media, so each example is looked up on its own).
        examples = [e.strip(" ;.") for e in text.partition(": ")[2].split(",")]
        listed = examples != [""] and all(example in derived for example in examples)
        if core not in dutch and core[:40] not in derived and not listed:
            missing.append(line)
    assert missing == []


@pytest.mark.clause("2.1.controller", "2.5.contact", "2.5.complaint", "4.date")
def test_controller_and_authority():
    assert REGISTER.controller.enterprise_number == "0784.671.897"
    assert REGISTER.controller.email == "privacy@we-are.be"
    assert REGISTER.controller.postal_attention.nl == "t.a.v. data protection manager"
    assert REGISTER.authority.name.nl == "Gegevensbeschermingsautoriteit"
    assert (REGISTER.authority.phone, REGISTER.authority.email) == ("+32 2 247 48 00", "contact@apd-gba.be")
    assert REGISTER.statement.date.isoformat() == "2023-06-20"


@pytest.mark.clause("2.4.response_time")
def test_handling_periods():
    handling = REGISTER.handling
    assert (handling.response_time.months, handling.extension.months) == (1, 2)
    assert handling.extension_notice_within.months == 1


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["purpose"]["customer.5"].pop("interest"), "states an interest"),
        (lambda d: d["purpose"]["customer.1"].update(basis="whim"), "unknown basis 'whim'"),
        (lambda d: d["purpose"]["visitor.3"].update(categories=["payment"]), "category 'payment' is not listed"),
        (lambda d: d["purpose"]["supplier.1"].update(retention="forever"), "unknown retention rule"),
        (lambda d: d["clause"].append(dict(d["clause"][0])), "is used twice"),
        (lambda d: d["right"]["portability"].update(clause="9.9.nowhere"), "unknown clause '9.9.nowhere'"),
        (lambda d: d["relation"]["customer"]["name"].pop("en"), "relation customer.name: needs exactly"),
        (lambda d: d["retention"]["participant"].pop("interpretation"), "needs an interpretation"),
        (lambda d: d["retention"]["customer"].update(period={"years": 0}), "the period is zero"),
        (lambda d: d["relation"].pop("supplier"), "relations: ids must be exactly"),
    ],
)
def test_an_inconsistent_register_is_refused_with_a_clear_message(mutate, expected):
    data = copy.deepcopy(raw_register())
    mutate(data)
    with pytest.raises(RegisterError) as caught:
        parse_register(data)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_a_broken_file_is_refused(tmp_path):
    broken = tmp_path / "register.toml"
    broken.write_text('format = "portal-register/1"\n[statement\n', encoding="utf-8")
    with pytest.raises(RegisterError, match="not valid TOML"):
        load_register(broken)


def test_the_shipped_register_loads_without_problems():
    again = load_register()
    assert again.purposes == REGISTER.purposes and again.clauses == REGISTER.clauses
