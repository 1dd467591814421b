"""Writing the audit trail from the web layer: who (the signed-in person or staff member), in one call."""

from __future__ import annotations

from typing import Any

from portal.clock import utcnow
from portal.database import request_session
from portal.services import audit


def note(action: str, *, actor: str = audit.PERSON, subject_email: str | None = None, target: str | None = None,
         details: dict[str, Any] | None = None) -> None:
    """Record one entry and commit it: for actions that write nothing else (views, sign-in, downloads)."""
    session = request_session()
    audit.record(session, actor=actor, action=action, now=utcnow(), subject_email=subject_email, target=target,
                 details=details)
    session.commit()
