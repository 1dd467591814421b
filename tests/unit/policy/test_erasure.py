"""`erasure_of`: what an erasure request erases and what it keeps, and why, per relation and category.

Expected values are written by hand from register.toml. `[right.erasure]` keeps, while the relation
runs, what a purpose on a contract uses (keeps_while_running = ["contract"]), and keeps payment and
delivery records (keeps_categories) until their retention date; data whose retention date has come
(kept_until <= today) go whatever else holds. The purposes per (relation, category), from the register:

  customer:    contact 1-4 contract + 5 legitimate interest; correspondence 1-3 contract; payment 2, 4 contract
  supplier:    contact, correspondence, delivery: supplier.1 contract
  visitor:     contact: 1 pre_contract, 2 consent; correspondence: 1 pre_contract; online: 3 consent
  applicant:   contact: 1 pre_contract, 2 and 3 consent; correspondence, recruitment: 1 pre_contract
  participant: contact: 1 contract, 2 and 3 legitimate interest; correspondence: 1 contract, 2 legitimate
               interest; participation: 1 contract; media: 4 consent
"""

from __future__ import annotations

import copy
import datetime as dt
import tomllib

import pytest

from portal.policy.erasure import ErasureDecision, Kept, erasure_of
from portal.policy.register import REGISTER_PATH, default_register, parse_register

pytestmark = pytest.mark.clause("2.4.erasure")

REGISTER = default_register()
TODAY = dt.date(2026, 11, 25)
LATER = dt.date(2034, 6, 30)
RUNS, LAW = Kept.RELATION_RUNS, Kept.LEGAL_OBLIGATION
YESTERDAY, TOMORROW = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)

CASES = [
    # relation, category, running, kept_until, expected kept, expected until
    # A running relation on a contract keeps what the contract uses, its date not known yet (or known).
    ("customer", "contact", True, None, RUNS, None),
    ("customer", "correspondence", True, None, RUNS, None),
    ("customer", "payment", True, None, RUNS, None),  # the running contract comes first as the reason
    ("supplier", "delivery", True, None, RUNS, None),
    ("supplier", "correspondence", True, LATER, RUNS, LATER),
    ("participant", "contact", True, None, RUNS, None),  # participant.1 is a contract
    ("participant", "participation", True, None, RUNS, None),
    ("participant", "correspondence", True, None, RUNS, None),
    # Running, but no purpose of the category rests on a contract: erased.
    ("participant", "media", True, None, None, None),  # consent only
    ("visitor", "contact", True, None, None, None),  # pre_contract and consent: not "contract"
    ("visitor", "correspondence", True, None, None, None),
    ("visitor", "online", True, None, None, None),
    ("applicant", "recruitment", True, None, None, None),  # pre_contract
    ("applicant", "contact", True, None, None, None),
    # Ended: only payment and delivery records stay, with the date they go.
    ("customer", "payment", False, LATER, LAW, LATER),
    ("customer", "payment", False, TOMORROW, LAW, TOMORROW),
    ("customer", "payment", False, None, LAW, None),  # their date not known: kept, and said so
    ("supplier", "delivery", False, LATER, LAW, LATER),
    ("customer", "contact", False, LATER, None, None),
    ("customer", "correspondence", False, LATER, None, None),
    ("supplier", "contact", False, LATER, None, None),
    ("supplier", "correspondence", False, LATER, None, None),
    ("participant", "participation", False, LATER, None, None),
    ("applicant", "recruitment", False, None, None, None),
    # The retention date has come: nothing justifies keeping them, not the law and not a running contract.
    ("customer", "payment", False, TODAY, None, None),
    ("customer", "payment", False, YESTERDAY, None, None),
    ("supplier", "delivery", False, TODAY, None, None),
    ("customer", "contact", True, TODAY, None, None),
    ("participant", "contact", True, YESTERDAY, None, None),
    ("customer", "payment", True, TODAY, None, None),
    ("customer", "contact", True, TOMORROW, RUNS, TOMORROW),
]


@pytest.mark.parametrize(("relation", "category", "running", "kept_until", "kept", "until"), CASES,
                         ids=[f"{r}-{c}-{'running' if run else 'ended'}-{k}" for r, c, run, k, *_ in CASES])
def test_erasure_of(relation, category, running, kept_until, kept, until):
    decision = erasure_of(REGISTER, relation, category, relation_running=running, kept_until=kept_until,
                          today=TODAY)
    assert decision == ErasureDecision(category, kept, until)
    assert decision.erased is (kept is None)


def test_the_table_rests_on_the_register_as_shipped():
    erasure = REGISTER.rights["erasure"]
    assert erasure.keeps_while_running == ("contract",)
    assert erasure.keeps_categories == ("payment", "delivery")
    assert {p.id: p.basis for p in REGISTER.purposes_using("visitor", "contact")} == {
        "visitor.1": "pre_contract", "visitor.2": "consent"}
    assert {p.basis for p in REGISTER.purposes_using("participant", "media")} == {"consent"}


def raw_register() -> dict:
    with REGISTER_PATH.open("rb") as handle:
        return copy.deepcopy(tomllib.load(handle))


def test_what_is_kept_comes_from_the_register_not_the_code():
    data = raw_register()
    data["right"]["erasure"]["keeps_categories"] = ["delivery"]
    data["right"]["erasure"]["keeps_while_running"] = ["contract", "pre_contract"]
    register = parse_register(data)
    assert erasure_of(register, "customer", "payment", relation_running=False, kept_until=LATER,
                      today=TODAY).erased
    assert erasure_of(register, "supplier", "delivery", relation_running=False, kept_until=LATER,
                      today=TODAY).kept is LAW
    assert erasure_of(register, "visitor", "contact", relation_running=True, kept_until=None,
                      today=TODAY).kept is RUNS
