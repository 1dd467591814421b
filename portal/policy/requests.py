"""The life of a request to exercise a right: its states and which moves between them are allowed.

Statement 2.4: we answer within one month (two more for complex or numerous requests, announced within
the first month); a manifestly unfounded or excessive request may be refused or charged, always with
reasons. Pure data and functions; the services apply them.
"""

from __future__ import annotations

RECEIVED, IN_PROGRESS, EXTENDED, WAITING, CARRYING_OUT, COMPLETED, REFUSED = (
    "received", "in_progress", "extended", "waiting", "carrying_out", "completed", "refused",
)
STATES = (RECEIVED, IN_PROGRESS, EXTENDED, WAITING, CARRYING_OUT, COMPLETED, REFUSED)
# CARRYING_OUT: decided, and being carried out in the company's systems; completed when the last confirms.
OPEN_STATES = frozenset({RECEIVED, IN_PROGRESS, EXTENDED, WAITING, CARRYING_OUT})
CLOSED_STATES = frozenset({COMPLETED, REFUSED})

# Where a request may go from each open state. Closed requests stay closed: a new question is a new request.
MOVES: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({IN_PROGRESS, EXTENDED, WAITING, CARRYING_OUT, COMPLETED, REFUSED}),
    IN_PROGRESS: frozenset({EXTENDED, WAITING, CARRYING_OUT, COMPLETED, REFUSED}),
    EXTENDED: frozenset({IN_PROGRESS, WAITING, CARRYING_OUT, COMPLETED, REFUSED}),
    WAITING: frozenset({IN_PROGRESS, EXTENDED, CARRYING_OUT, COMPLETED, REFUSED}),
    CARRYING_OUT: frozenset({COMPLETED}),  # the decision is taken: only the systems' confirmations remain
}
# Moves the person must be told the reasons for (statement 2.4: "always informed of the reasons").
NEEDS_REASONS = frozenset({EXTENDED, REFUSED, WAITING})

# Rights answered by the data protection manager, and rights that take effect at once.
ANSWERED_BY_STAFF = ("access", "rectification", "erasure", "restriction", "objection", "portability")
TAKE_EFFECT_AT_ONCE = ("withdrawal", "direct_marketing_objection")


def can_move(current: str, target: str) -> bool:
    """Whether a request in `current` may move to `target`."""
    return target in MOVES.get(current, frozenset())
