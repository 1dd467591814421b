"""Undoing a change of the sign-in address when whoever took it has changed it again since."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import select

from portal.models import AddressChange, AuthSession, RightsRequest, SignInToken, Subject
from portal.policy.register import default_register
from portal.services import address
from tests.support.contexts import context

NOW = dt.datetime(2026, 3, 2, 9, 0)
REGISTER = default_register()


def a_token(session, email: str, at: dt.datetime) -> SignInToken:
    token = SignInToken(token_hash=secrets.token_hex(32), code_hash="x" * 64, nonce="n" * 32, purpose="change_email",
                        email=email, language="en", created_at=at, expires_at=at + dt.timedelta(minutes=10))
    session.add(token)
    session.flush()
    return token


def a_session_of(session, email: str, at: dt.datetime) -> AuthSession:
    signed_in = AuthSession(key_hash=secrets.token_hex(32), email=email, created_at=at, last_seen_at=at,
                            confirmed_at=at)
    session.add(signed_in)
    session.flush()
    return signed_in


def change(session, old: str, new: str, at: dt.datetime) -> AddressChange:
    """Ask for and confirm a change from `old` to `new`, as the pages do."""
    token = a_token(session, new, at)
    address.record_request(session, context(REGISTER, now=at), old_email=old, new_email=new, token_id=token.id)
    session.flush()
    made = address.apply_change(session, context(REGISTER, now=at + dt.timedelta(minutes=1)), token,
                                undo_link=lambda change_id: f"https://portal.example/undo/{change_id}")
    session.commit()
    return made


@pytest.mark.clause("2.4.rectification")
def test_undo_follows_the_changes_made_since_and_ends_every_session_on_the_way(session):
    session.add(Subject(email="owner@example.com", name="Owner", language="en"))
    session.add(RightsRequest(email="owner@example.com", right="access", status="received", received_on=NOW.date(),
                              due_on=NOW.date() + dt.timedelta(days=30),
                              statement_version="2023-06-20.2", idempotency_key="k", created_at=NOW))
    session.commit()
    first = change(session, "owner@example.com", "taker@example.com", NOW)
    taker = a_session_of(session, "taker@example.com", NOW + dt.timedelta(minutes=2))
    change(session, "taker@example.com", "hidden@example.com", NOW + dt.timedelta(minutes=5))
    hidden = a_session_of(session, "hidden@example.com", NOW + dt.timedelta(minutes=6))
    hidden_link = a_token(session, "hidden@example.com", NOW + dt.timedelta(minutes=7))
    session.commit()

    address.undo_change(session, context(REGISTER, now=NOW + dt.timedelta(hours=1)), first.id)

    session.expire_all()
    assert session.scalars(select(Subject.email)).all() == ["owner@example.com"]
    assert session.scalars(select(RightsRequest.email)).all() == ["owner@example.com"]
    assert session.get(AuthSession, taker.id).ended_at is not None
    assert session.get(AuthSession, hidden.id).ended_at is not None
    assert session.get(AuthSession, hidden.id).end_reason == "address_undone"
    assert session.get(SignInToken, hidden_link.id).spent_at is not None
    assert all(each.undone_at is not None for each in session.scalars(select(AddressChange)))
    # The owner's view no longer follows the taker's addresses back to theirs.
    assert address.addresses_of(session, "hidden@example.com") == ["hidden@example.com"]


def test_undo_of_a_single_change_still_moves_everything_back(session):
    session.add(Subject(email="one@example.com", language="nl"))
    session.commit()
    made = change(session, "one@example.com", "two@example.com", NOW)
    address.undo_change(session, context(REGISTER, now=NOW + dt.timedelta(hours=1)), made.id)
    session.expire_all()
    assert session.scalars(select(Subject.email)).all() == ["one@example.com"]
    with pytest.raises(address.AddressRefused):
        address.undo_change(session, context(REGISTER, now=NOW + dt.timedelta(hours=2)), made.id)
