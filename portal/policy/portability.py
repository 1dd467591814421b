"""Which data items the portable export (right to data portability, Art. 20) holds, and why.

The copy of the right of access holds everything; the portable export holds only what the person gave
us or what arose from their use of our services, and only where a purpose processing it rests on
consent or on a contract. Both conditions come from the register (`[right.portability]`): the sources
it lists and the bases it applies to. The decision is made per kind of item (relation, category and
source), which is all it depends on, so that a page can explain it and an export can apply it
without asking item by item.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum

from portal.policy.register import Purpose, Register, Right

PORTABILITY = "portability"


class Admission(Enum):
    INCLUDED = "included"
    SOURCE_EXCLUDED = "source_excluded"  # we derived it, or had it from others: not "provided" (Art. 20(1))
    BASIS_EXCLUDED = "basis_excluded"  # no purpose using it rests on consent or a contract


@dataclass(frozen=True)
class PortabilityDecision:
    admission: Admission
    right: Right
    qualifying_purposes: tuple[Purpose, ...]  # the purposes on consent or contract that use such items

    @property
    def included(self) -> bool:
        return self.admission is Admission.INCLUDED


def portability_of(
    register: Register, relation: str, category: str, source: str, *, in_use: Collection[str] | None = None,
) -> PortabilityDecision:
    """Whether items of `category` from `source`, held under a `relation`, go into the portable export.

    `in_use`: the purposes actually in use for this person (a consent purpose counts only while the
    consent stands); without it, every purpose of the register counts.
    """
    right = register.rights[PORTABILITY]
    qualifying = tuple(p for p in register.purposes_using(relation, category)
                       if p.basis in right.bases and (in_use is None or p.id in in_use))
    if right.sources and source not in right.sources:
        admission = Admission.SOURCE_EXCLUDED
    elif not qualifying:
        admission = Admission.BASIS_EXCLUDED
    else:
        admission = Admission.INCLUDED
    return PortabilityDecision(admission=admission, right=right, qualifying_purposes=qualifying)


def portable_kinds(register: Register) -> frozenset[tuple[str, str, str]]:
    """Every (relation, category, source) whose items the portable export holds."""
    return frozenset(
        (relation, category.id, source)
        for relation, definition in register.relations.items()
        for category in definition.categories
        for source in register.sources
        if portability_of(register, relation, category.id, source).included
    )
