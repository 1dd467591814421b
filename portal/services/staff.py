"""Staff accounts of the back office: who may sign in, and as what."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Staff
from portal.services import audit
from portal.services.email_address import normalise_email

ROLES = ("dpo", "viewer")


def create_staff(session: Session, raw_email: str, role: str, *, now: dt.datetime) -> tuple[Staff, bool]:
    """Add a staff member, or change the role of one (enabling them again); whether they are new."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(raw_email)
    staff = session.scalar(select(Staff).where(Staff.email == email))
    created = staff is None
    if staff is None:
        staff = Staff(email=email, role=role, created_at=now)
        session.add(staff)
    else:
        staff.role, staff.disabled_at = role, None
    audit.record(session, actor=audit.SYSTEM, action="staff_created" if created else "staff_changed", now=now,
                 details={"role": role}, personal={"staff": email})
    session.commit()
    return staff, created


def active_staff(session: Session, email: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.email == email, Staff.disabled_at.is_(None)))
