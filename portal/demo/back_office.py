"""The demo's back office: a few decisions taken through the real services, so real tasks wait for their owners.

Hanne withdraws her consent to the event photos (a task for the event platform's owner) and Gert's
erasure is completed by the demo's data protection manager (a task for the owners of the manual
systems and the notices to the recipients, Art. 19). The owners get staff accounts (role viewer) so
they can sign in and tick their tasks.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Instruction, Subject
from portal.services import audit, decisions, requests, staff
from portal.services.context import Context

DEMO_DPO = "dpo@example.com"  # the Makefile's `make db` creates it too
PHOTOS = ("hanne.claes@example.com", "participant.4")
ERASED = "gert.maes@example.com"


def demo_owners(ctx: Context) -> list[str]:
    """Every address the register names as the owner of a system or of a recipient's notice."""
    owners = [s.notice.owner for s in ctx.register.systems.values()]
    owners += [r.notice.owner for r in ctx.register.recipients.values() if r.notice is not None]
    return sorted(set(owners))


def seed_tasks(session: Session, ctx: Context) -> int:
    """Leave tasks waiting in the demo back office (once: not again when instructions exist); how many now wait."""
    staff.create_staff(session, DEMO_DPO, "dpo", now=ctx.now)
    for owner in demo_owners(ctx):
        if staff.active_staff(session, owner) is None:
            staff.create_staff(session, owner, "viewer", now=ctx.now)
    if session.scalar(select(func.count()).select_from(Instruction)):
        return 0
    email, purpose = PHOTOS
    if session.scalar(select(Subject.id).where(Subject.email == email)) is not None:
        requests.withdraw_consent(session, replace(ctx, actor=audit.PERSON), email=email, purpose_id=purpose,
                                  idempotency_key="demo-photos-withdrawn")
    if session.scalar(select(Subject.id).where(Subject.email == ERASED)) is not None:
        person = replace(ctx, actor=audit.PERSON)
        made = requests.submit_request(session, person, email=ERASED, right="erasure",  # Gert writes Dutch
                                       idempotency_key="demo-erasure",
                                       details="Wis alstublieft alles wat u over mij bijhoudt.")
        decisions.complete(session, replace(ctx, actor=audit.staff_actor(DEMO_DPO)), made.id,
                           "Wij hebben uw gegevens gewist, zoals u vroeg.")
    return session.scalar(select(func.count()).select_from(Instruction).where(Instruction.delivery == "manual")) or 0
