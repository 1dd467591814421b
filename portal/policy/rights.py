"""Which of the eight rights of statement 2.4 apply to a purpose, and why.

The conditions come from the register (`[right.*].applies`), never from code: objection only against
legitimate interest, withdrawal only where the basis is consent, portability only on consent or
contract, objection to direct marketing whenever a purpose is direct marketing, erasure and
restriction "only in the cases and to the extent provided by law".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from portal.policy.register import Purpose, Register, Right, default_register


class Status(Enum):
    APPLIES = "applies"
    CONDITIONAL = "conditional"  # the person may ask; the law decides case by case (erasure, restriction)
    DOES_NOT_APPLY = "does_not_apply"


class Reason(Enum):
    """Why a right applies or not; the interface turns each into a sentence in the person's language."""

    ALWAYS = "always"
    BY_LAW = "by_law"
    BASIS_QUALIFIES = "basis_qualifies"
    BASIS_EXCLUDED = "basis_excluded"
    DIRECT_MARKETING = "direct_marketing"
    NOT_DIRECT_MARKETING = "not_direct_marketing"


@dataclass(frozen=True)
class RightDecision:
    """One right for one purpose: whether it applies, the reason, and the clause that says so."""

    right: Right
    purpose: Purpose
    status: Status
    reason: Reason
    clause: str

    @property
    def applies(self) -> bool:
        return self.status is not Status.DOES_NOT_APPLY

    @property
    def qualifying_bases(self) -> tuple[str, ...]:
        """For rights that depend on the basis: the bases under which the right exists."""
        return self.right.bases


def decide(right: Right, purpose: Purpose) -> RightDecision:
    """Whether `right` applies to `purpose`, following the condition the register gives the right."""
    if right.applies == "always":
        status, reason = Status.APPLIES, Reason.ALWAYS
    elif right.applies == "by_law":
        status, reason = Status.CONDITIONAL, Reason.BY_LAW
    elif right.applies == "bases":
        qualifies = purpose.basis in right.bases
        status = Status.APPLIES if qualifies else Status.DOES_NOT_APPLY
        reason = Reason.BASIS_QUALIFIES if qualifies else Reason.BASIS_EXCLUDED
    elif right.applies == "direct_marketing":
        status = Status.APPLIES if purpose.direct_marketing else Status.DOES_NOT_APPLY
        reason = Reason.DIRECT_MARKETING if purpose.direct_marketing else Reason.NOT_DIRECT_MARKETING
    else:  # the register refuses unknown conditions at load time; this guards a hand-built Right
        raise ValueError(f"unknown condition {right.applies!r} for right {right.id!r}")
    return RightDecision(right=right, purpose=purpose, status=status, reason=reason, clause=right.clause)


def rights_for(purpose: Purpose | str, *, register: Register | None = None) -> list[RightDecision]:
    """Every right of statement 2.4, in the statement's order, decided for one purpose."""
    reg = register or default_register()
    resolved = reg.purposes[purpose] if isinstance(purpose, str) else purpose
    return [decide(right, resolved) for right in reg.rights.values()]
