"""What completing an erasure request erases, and what it keeps and why.

Statement 2.4: erasure applies "only in the cases and to the extent provided for by law". The register
says how far (`[right.erasure]`): data a running contract needs stay while the relation runs, and the
categories the law obliges us to keep stay until their retention date; everything else goes. Decided
per relation and category, which is all the decision depends on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from portal.policy.register import Register

ERASURE = "erasure"


class Kept(Enum):
    RELATION_RUNS = "relation_runs"  # needed to carry out a contract that still runs (Art. 17(1)(a))
    LEGAL_OBLIGATION = "legal_obligation"  # the law obliges us to keep it (Art. 17(3)(b))


@dataclass(frozen=True)
class ErasureDecision:
    category: str
    kept: Kept | None  # None: erased
    until: dt.date | None = None  # for kept data: the retention date, when known

    @property
    def erased(self) -> bool:
        return self.kept is None


def erasure_of(
    register: Register, relation: str, category: str, *, relation_running: bool, kept_until: dt.date | None,
    today: dt.date,
) -> ErasureDecision:
    """Whether items of `category` under a `relation` are erased, or kept and why."""
    right = register.rights[ERASURE]
    if kept_until is not None and kept_until <= today:
        return ErasureDecision(category, None)  # their retention has run out: nothing justifies keeping them
    if relation_running and any(p.basis in right.keeps_while_running
                                for p in register.purposes_using(relation, category)):
        return ErasureDecision(category, Kept.RELATION_RUNS, kept_until)
    if category in right.keeps_categories:
        return ErasureDecision(category, Kept.LEGAL_OBLIGATION, kept_until)
    return ErasureDecision(category, None)
