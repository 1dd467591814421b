"""`portability_of` and `portable_kinds`: which kinds of item the portable export (Art. 20) holds, and why.

Every expected answer below is written out by hand from `portal/policy/register.toml`: `[right.portability]`
covers the sources "provided" and "observed" and the bases "consent" and "contract"; each purpose's
`categories` say which kinds of item it uses. Nothing here asks the function under test for an answer.
"""

from __future__ import annotations

import copy
import tomllib

import pytest

from portal.policy.portability import Admission, portability_of, portable_kinds
from portal.policy.register import REGISTER_PATH, default_register, parse_register

pytestmark = pytest.mark.clause("2.4.portability")

REGISTER = default_register()
SOURCES = ("provided", "observed", "third_party", "public", "derived")
OUTSIDE_SOURCES = ("third_party", "public", "derived")  # Art. 20(1): not "provided by" the person

# (relation, category) -> the purposes on consent or contract that use it, in the register's order.
# Read off the purposes: customer.5 (contact) is a legitimate interest, visitor.1 and applicant.1 are
# pre_contract, participant.2 and participant.3 are legitimate interests; all others rest on a contract
# or on consent.
QUALIFYING = {
    ("customer", "contact"): ("customer.1", "customer.2", "customer.3", "customer.4"),
    ("customer", "correspondence"): ("customer.1", "customer.2", "customer.3"),
    ("customer", "payment"): ("customer.2", "customer.4"),
    ("supplier", "contact"): ("supplier.1",),
    ("supplier", "correspondence"): ("supplier.1",),
    ("supplier", "delivery"): ("supplier.1",),
    ("visitor", "contact"): ("visitor.2",),  # visitor.1 (pre_contract) does not count
    ("visitor", "correspondence"): (),  # only visitor.1: answering a question, before a contract
    ("visitor", "online"): ("visitor.3",),
    ("applicant", "contact"): ("applicant.2", "applicant.3"),  # applicant.1 (pre_contract) does not count
    ("applicant", "correspondence"): (),  # only applicant.1 (pre_contract)
    ("applicant", "recruitment"): (),  # only applicant.1 (pre_contract): a CV the person sent stays out
    ("participant", "contact"): ("participant.1",),  # participant.2 and .3 are legitimate interests
    ("participant", "correspondence"): ("participant.1",),  # participant.2 is a legitimate interest
    ("participant", "participation"): ("participant.1",),
    ("participant", "media"): ("participant.4",),
}
BASIS_EXCLUDED = {kind for kind, purposes in QUALIFYING.items() if not purposes}


def test_the_table_covers_every_category_of_every_relation():
    listed = {(relation, category.id) for relation, definition in REGISTER.relations.items()
              for category in definition.categories}
    assert set(QUALIFYING) == listed
    assert {("visitor", "correspondence"), ("applicant", "correspondence"),
            ("applicant", "recruitment")} == BASIS_EXCLUDED


INCLUDED_CASES = [
    (relation, category, source, purposes)
    for (relation, category), purposes in QUALIFYING.items() if purposes
    for source in ("provided", "observed")
]


@pytest.mark.clause("2.2.collection")
@pytest.mark.parametrize(("relation", "category", "source", "purposes"), INCLUDED_CASES)
def test_given_or_observed_data_under_consent_or_contract_are_portable(relation, category, source, purposes):
    decision = portability_of(REGISTER, relation, category, source)
    assert decision.admission is Admission.INCLUDED
    assert decision.included
    assert tuple(p.id for p in decision.qualifying_purposes) == purposes
    assert {p.basis for p in decision.qualifying_purposes} <= {"consent", "contract"}
    assert decision.right.id == "portability" and decision.right.article == "20"


SOURCE_CASES = [
    (relation, category, source)
    for (relation, category) in QUALIFYING
    for source in OUTSIDE_SOURCES
]


@pytest.mark.clause("2.2.third_parties", "2.2.public_sources")
@pytest.mark.parametrize(("relation", "category", "source"), SOURCE_CASES)
def test_data_from_others_or_made_by_us_are_never_portable(relation, category, source):
    decision = portability_of(REGISTER, relation, category, source)
    assert decision.admission is Admission.SOURCE_EXCLUDED
    assert not decision.included
    # The purposes are still named, so that a page can say the basis would have qualified.
    assert tuple(p.id for p in decision.qualifying_purposes) == QUALIFYING[(relation, category)]


@pytest.mark.parametrize(("relation", "category"), sorted(BASIS_EXCLUDED))
@pytest.mark.parametrize("source", ["provided", "observed"])
def test_given_data_used_only_before_a_contract_are_not_portable(relation, category, source):
    decision = portability_of(REGISTER, relation, category, source)
    assert decision.admission is Admission.BASIS_EXCLUDED
    assert not decision.included
    assert decision.qualifying_purposes == ()


# Items one reads as "given by the person" but that the register keeps out, with the reason written out.
NAMED_CASES = [
    # Chloé's CV: she sent it, but only applicant.1 (pre_contract) uses recruitment data.
    ("applicant", "recruitment", "provided", Admission.BASIS_EXCLUDED),
    # Interview notes: made by us.
    ("applicant", "recruitment", "derived", Admission.SOURCE_EXCLUDED),
    # Frank's contact form: given, but answered under visitor.1 (pre_contract) only.
    ("visitor", "correspondence", "provided", Admission.BASIS_EXCLUDED),
    # An's job title, passed on by her employer.
    ("customer", "contact", "third_party", Admission.SOURCE_EXCLUDED),
    # An's office address, from a public source.
    ("customer", "contact", "public", Admission.SOURCE_EXCLUDED),
    # An invoice we wrote.
    ("customer", "payment", "derived", Admission.SOURCE_EXCLUDED),
    # An's bank account, given by her under the contract.
    ("customer", "payment", "provided", Admission.INCLUDED),
    # Frank's IP address: arose from his use of the Website, kept on his cookie consent.
    ("visitor", "online", "observed", Admission.INCLUDED),
    # A photo of Eva taken by us at the event.
    ("participant", "media", "derived", Admission.SOURCE_EXCLUDED),
]


@pytest.mark.parametrize(("relation", "category", "source", "admission"), NAMED_CASES)
def test_examples_from_the_demo_people(relation, category, source, admission):
    assert portability_of(REGISTER, relation, category, source).admission is admission


def test_the_source_is_decided_before_the_basis():
    # Derived recruitment data fail both conditions; the reason given is the source.
    decision = portability_of(REGISTER, "applicant", "recruitment", "derived")
    assert decision.admission is Admission.SOURCE_EXCLUDED
    assert decision.qualifying_purposes == ()


def test_a_category_the_relation_does_not_use_has_no_qualifying_purpose():
    # No customer purpose uses online data; such an item would be kept out on the basis.
    decision = portability_of(REGISTER, "customer", "online", "observed")
    assert decision.admission is Admission.BASIS_EXCLUDED and decision.qualifying_purposes == ()


def test_portable_kinds_lists_exactly_the_included_kinds():
    expected = {
        (relation, category, source)
        for (relation, category), purposes in QUALIFYING.items() if purposes
        for source in ("provided", "observed")
    }
    assert len(expected) == 26  # 13 kinds of item, given or observed
    assert portable_kinds(REGISTER) == expected
    assert not any(source in OUTSIDE_SOURCES for _r, _c, source in portable_kinds(REGISTER))
    assert ("applicant", "recruitment", "provided") not in portable_kinds(REGISTER)


# --- the decision follows the register, not code ----------------------------------------------------------


def raw_register() -> dict:
    with REGISTER_PATH.open("rb") as handle:
        return copy.deepcopy(tomllib.load(handle))


def test_a_category_used_only_for_a_legitimate_interest_is_not_portable():
    # The shipped register has no such category; take participant.1 off correspondence, and the survey
    # (participant.2, a legitimate interest) is the only purpose left using it.
    data = raw_register()
    data["purpose"]["participant.1"]["categories"] = ["contact", "participation"]
    register = parse_register(data)
    decision = portability_of(register, "participant", "correspondence", "provided")
    assert decision.admission is Admission.BASIS_EXCLUDED and decision.qualifying_purposes == ()
    assert ("participant", "correspondence", "provided") not in portable_kinds(register)
    # In the shipped register the same items are portable (participant.1 is a contract).
    assert portability_of(REGISTER, "participant", "correspondence", "provided").included


def test_the_sources_come_from_the_register():
    data = raw_register()
    data["right"]["portability"]["sources"] = ["provided"]
    register = parse_register(data)
    assert portability_of(register, "visitor", "online", "observed").admission is Admission.SOURCE_EXCLUDED
    assert portability_of(register, "visitor", "online", "provided").included
    assert len(portable_kinds(register)) == 13


def test_the_bases_come_from_the_register():
    data = raw_register()
    data["right"]["portability"]["bases"] = ["consent"]
    register = parse_register(data)
    decision = portability_of(register, "customer", "payment", "provided")
    assert decision.admission is Admission.BASIS_EXCLUDED
    applicant = portability_of(register, "applicant", "contact", "provided")
    assert applicant.included and [p.id for p in applicant.qualifying_purposes] == ["applicant.2", "applicant.3"]
    assert portable_kinds(register) == {
        (relation, category, source)
        for relation, category in (("visitor", "contact"), ("visitor", "online"), ("applicant", "contact"),
                                   ("participant", "media"))
        for source in ("provided", "observed")
    }
