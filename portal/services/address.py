"""Changing the address a person signs in with: the riskiest rectification, so every step is guarded.

1. The signed-in person (freshly confirmed) asks for a new address: a link goes to the NEW address;
   nothing changes yet (`request_change`).
2. Opening that link and pressing its button proves control of the new address: the change is made
   in one transaction (`apply_change`): every record under the old address moves to the new one, every
   session of the old address ends, and every unused link or code sent to the old address dies. The
   old address is told, with a way to say it was not them.
3. That way is `undo_change`: the records move back, every session of the new address ends (and of
   every address the records were moved on to since).

Audit entries keep the address they were written under (their personal parts are covered by their
digests); `addresses_of` follows a person's confirmed changes so that their view still finds them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, String, literal, select, update
from sqlalchemy.orm import Session

from portal.models import (
    AddressChange,
    AuthSession,
    Download,
    MarketingObjection,
    RightsRequest,
    SignInToken,
    StatementSeen,
    Subject,
)
from portal.services.context import Context, Effect, EffectKind
from portal.services.email_address import normalise_email
from portal.services.limits import AbuseLimits
from portal.services.mail import language_of
from portal.services.signin import PERSON, IssuedLink, OnRedeem, SignInSettings, request_link

CHANGE_PURPOSE = "change_email"
# Every table that names a person by address rather than through their subject row.
_BY_ADDRESS = (RightsRequest, MarketingObjection, Download)


class AddressRefused(Exception):
    """The change cannot be made; `reason` is a stable id the interface turns into a sentence."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def check_new_address(session: Session, old_email: str, raw_new: str) -> str:
    """The new address, normalised, if it can be used; `InvalidEmail` or `AddressRefused` otherwise."""
    new = normalise_email(raw_new)
    if new == old_email:
        raise AddressRefused("same_address")
    if session.scalar(select(Subject.id).where(Subject.email == new)) is not None:
        # Two people's records must never merge by a typing error: the data protection manager decides.
        raise AddressRefused("address_in_use")
    return new


def request_change(
    session: Session, ctx: Context, *, old_email: str, raw_new: str, page_language: str, next_path: str,
    client: str, limits: AbuseLimits, settings: SignInSettings,
) -> IssuedLink:
    """Step 1: a link to the new address, under the same limits as signing in; nothing changes before it is used.

    The link's mail is in the person's language, and the request is recorded with the link, in its
    transaction. `InvalidEmail`, `AddressRefused` or `TooManyAttempts` when it cannot be asked.
    """
    new = check_new_address(session, old_email, raw_new)
    return request_link(session, ctx, raw_email=new, purpose=CHANGE_PURPOSE, page_language=page_language,
                        next_path=next_path, client=client, limits=limits, settings=settings,
                        language=language_of(session, old_email),
                        record=lambda session, token: record_request(session, ctx, old_email=old_email, new_email=new,
                                                                     token_id=token.id))


def record_request(session: Session, ctx: Context, *, old_email: str, new_email: str, token_id: int) -> None:
    """The asked change, with the link that confirms it, in the link's transaction."""
    session.add(AddressChange(old_email=old_email, new_email=new_email, sign_in_token_id=token_id,
                              requested_at=ctx.now))
    ctx.audit(session, "address_change_asked", subject_email=old_email, personal={"new_address": new_email})


def carry_out_redeemed(ctx: Context, *, undo_link: Callable[[int], str]) -> OnRedeem:
    """What a spent link was for, done in its transaction: for a link to a new address, the change (step 2)."""

    def carry_out(session: Session, token: SignInToken) -> None:
        if token.purpose == CHANGE_PURPOSE:
            apply_change(session, ctx, token, undo_link=undo_link)

    return carry_out


def _move(session: Session, old: str, new: str) -> None:
    session.execute(update(Subject).where(Subject.email == old).values(email=new))
    for table in _BY_ADDRESS:
        session.execute(update(table).where(table.email == old).values(email=new))
    seen = session.get(StatementSeen, old)
    if seen is not None and session.get(StatementSeen, new) is None:
        session.add(StatementSeen(email=new, version=seen.version, seen_at=seen.seen_at))
    if seen is not None:
        session.delete(seen)


def _end_everything_of(session: Session, email: str, now: dt.datetime, reason: str) -> None:
    session.execute(update(AuthSession).where(AuthSession.email == email, AuthSession.ended_at.is_(None),
                                              AuthSession.audience == PERSON)
                    .values(ended_at=now, end_reason=reason))
    session.execute(update(SignInToken).where(SignInToken.email == email, SignInToken.spent_at.is_(None))
                    .values(spent_at=now))


def apply_change(
    session: Session, ctx: Context, token: SignInToken, *, undo_link: Callable[[int], str],
) -> AddressChange:
    """The new address proved itself: move everything to it, in the caller's transaction.

    The old address is told, with `undo_link(change id)` to say it was not them.
    """
    change = session.scalar(select(AddressChange).where(AddressChange.sign_in_token_id == token.id))
    if change is None or change.confirmed_at is not None or change.new_email != token.email:
        raise AddressRefused("not_found")
    if session.scalar(select(Subject.id).where(Subject.email == change.new_email)) is not None:
        raise AddressRefused("address_in_use")  # taken since the link was sent
    _move(session, change.old_email, change.new_email)
    _end_everything_of(session, change.old_email, ctx.now, "address_changed")
    change.confirmed_at = ctx.now
    ctx.audit(session, "address_changed", target=f"address_change:{change.id}", subject_email=change.new_email,
              personal={"old_address": change.old_email})
    if ctx.notifier is not None:
        ctx.mail(session, change.old_email,
                 ctx.notifier.address_changed_mail(session, change, undo_link(change.id)))
    ctx.took_effect(session, Effect(EffectKind.ADDRESS_CHANGED, change.old_email, new_email=change.new_email))
    return change


def undo_change(session: Session, ctx: Context, change_id: int) -> AddressChange:
    """The old address says it was not them: move everything back and end every session since.

    Whoever took the address may have changed it again (A to B, then B to C): the records now sit under
    the last address of that chain, so the chain is followed forward, every address in it loses its
    sessions and links, the records come back from its end, and every later change is undone with it.
    """
    change = session.get(AddressChange, change_id)
    if change is None or change.confirmed_at is None or change.undone_at is not None:
        raise AddressRefused("not_found")
    if session.scalar(select(Subject.id).where(Subject.email == change.old_email)) is not None:
        raise AddressRefused("address_in_use")
    later = _changes_after(session, change)
    chain = [change.new_email] + [each.new_email for each in later]
    for address in chain:
        _end_everything_of(session, address, ctx.now, "address_undone")  # fits end_reason (20)
    _move(session, chain[-1], change.old_email)
    for each in [change, *later]:
        each.undone_at = ctx.now
    ctx.audit(session, "address_change_undone", target=f"address_change:{change.id}", subject_email=change.old_email,
              personal={"reported_address": change.new_email, "addresses_since": chain[1:]})
    ctx.took_effect(session, Effect(EffectKind.ADDRESS_CHANGE_UNDONE, chain[-1], new_email=change.old_email))
    session.commit()
    return change


def _changes_after(session: Session, change: AddressChange) -> list[AddressChange]:
    """The confirmed, not undone, changes that carried the records on from `change.new_email`."""
    found: list[AddressChange] = []
    current, since = change.new_email, change.confirmed_at
    seen = {change.old_email, change.new_email}
    for _ in range(20):  # the bound only guards against a loop in the data
        following = session.scalar(
            select(AddressChange).where(AddressChange.old_email == current,
                                        AddressChange.confirmed_at.is_not(None),
                                        AddressChange.confirmed_at >= since,
                                        AddressChange.undone_at.is_(None),
                                        AddressChange.id != change.id)
            .order_by(AddressChange.confirmed_at).limit(1))
        if following is None or following.new_email in seen:
            break
        found.append(following)
        seen.add(following.new_email)
        current, since = following.new_email, following.confirmed_at
    return found


def addresses_query(email: str) -> Select[Any]:
    """This address and every address it replaced through confirmed, not undone, changes, as one statement.

    A recursive query that follows the changes back; UNION (not UNION ALL) ends it even on a loop in the data.
    """
    chain = select(literal(email, String).label("email")).cte("address_chain", recursive=True)
    chain = chain.union(select(AddressChange.old_email).join(chain, AddressChange.new_email == chain.c.email)
                        .where(AddressChange.confirmed_at.is_not(None), AddressChange.undone_at.is_(None)))
    return select(chain.c.email)


def addresses_of(session: Session, email: str) -> list[str]:
    """This address first, then every address it replaced through confirmed, not undone, changes."""
    return [email] + [found for found in session.scalars(addresses_query(email)) if found != email]
