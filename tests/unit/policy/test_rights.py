"""`rights_for`: each of the eight rights of statement 2.4, decided for every purpose, with its clause."""

from __future__ import annotations

import pytest

from portal.policy.register import default_register
from portal.policy.rights import Reason, Status, rights_for

REGISTER = default_register()

# The expected answer for every purpose, written out by hand from statement 2.4 and section 3.
OBJECTION = {"customer.5", "participant.2", "participant.3"}
WITHDRAWAL = {"visitor.2", "visitor.3", "applicant.2", "applicant.3", "participant.4"}
DIRECT_MARKETING = {"visitor.2", "customer.5", "participant.3"}
PORTABILITY = WITHDRAWAL | {"customer.1", "customer.2", "customer.3", "customer.4", "supplier.1", "participant.1"}


@pytest.mark.clause("2.4.intro", "2.4.access", "2.4.rectification", "2.4.erasure", "2.4.restriction", "2.4.objection",
                    "2.4.withdrawal", "2.4.direct_marketing", "2.4.portability")
@pytest.mark.parametrize("purpose_id", sorted(REGISTER.purposes))
def test_rights_for_every_purpose(purpose_id):
    decisions = {d.right.id: d for d in rights_for(purpose_id)}
    assert list(decisions) == list(REGISTER.rights)  # all eight, in the statement's order

    assert decisions["access"].status is Status.APPLIES
    assert decisions["rectification"].status is Status.APPLIES
    assert decisions["erasure"].status is Status.CONDITIONAL
    assert decisions["erasure"].reason is Reason.BY_LAW
    assert decisions["restriction"].status is Status.CONDITIONAL
    assert decisions["objection"].applies == (purpose_id in OBJECTION)
    assert decisions["withdrawal"].applies == (purpose_id in WITHDRAWAL)
    assert decisions["direct_marketing_objection"].applies == (purpose_id in DIRECT_MARKETING)
    assert decisions["portability"].applies == (purpose_id in PORTABILITY)
    for right_id, decision in decisions.items():
        assert decision.clause == f"2.4.{'direct_marketing' if right_id == 'direct_marketing_objection' else right_id}"
        assert decision.clause in REGISTER.clauses


@pytest.mark.clause("2.4.objection", "2.4.withdrawal", "2.4.direct_marketing", "2.4.portability")
def test_reasons_say_why_not():
    decisions = {d.right.id: d for d in rights_for("customer.2")}
    assert decisions["objection"].reason is Reason.BASIS_EXCLUDED
    assert decisions["objection"].qualifying_bases == ("legitimate_interest",)
    assert decisions["direct_marketing_objection"].reason is Reason.NOT_DIRECT_MARKETING
    assert decisions["portability"].reason is Reason.BASIS_QUALIFIES
    newsletter = {d.right.id: d for d in rights_for("visitor.2")}
    assert newsletter["withdrawal"].reason is Reason.BASIS_QUALIFIES
    assert newsletter["direct_marketing_objection"].reason is Reason.DIRECT_MARKETING
