"""Bearer tokens with which the company's systems push their data (`POST /api/v1/subjects`).

A token is shown once, when it is made, and only its SHA-256 is kept: a copy of the database does not
let anyone push. One token belongs to one system of the register, and everything pushed with it must be
data the register attributes to that system (see `services/subjects.validate_document`).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import ApiToken
from portal.policy.register import Register
from portal.services.context import Context

PREFIX = "wap_"  # recognisable in a log or a leaked file, so that a scanner can find and we can revoke it


class UnknownSystem(Exception):
    """The register has no system of this id; `systems` are the ones it has."""

    def __init__(self, system: str, systems: tuple[str, ...]) -> None:
        self.system, self.systems = system, systems
        super().__init__(f"{system!r} is not a system of the register ({', '.join(systems)})")


def token_hash(token: str) -> str:
    """What is stored of a token: a token is 256 random bits, so a plain SHA-256 suffices (no slow hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, ctx: Context, system: str) -> str:
    """A new token for `system`, stored by its hash; returns the token itself, which is never stored. Commits."""
    if system not in ctx.register.systems:
        raise UnknownSystem(system, tuple(ctx.register.systems))
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(system=system, token_hash=token_hash(token), created_at=ctx.now)
    session.add(row)
    session.flush()
    ctx.audit(session, "api_token_created", target=f"system:{system}", details={"token": row.id})
    session.commit()
    return token


def revoke_tokens(session: Session, ctx: Context, system: str) -> int:
    """End every token of `system`; how many were still valid. Commits."""
    if system not in ctx.register.systems:
        # A token of a system taken out of the register can still be revoked.
        held = session.scalar(select(ApiToken.id).where(ApiToken.system == system).limit(1))
        if held is None:
            raise UnknownSystem(system, tuple(ctx.register.systems))
    result = session.execute(update(ApiToken).where(ApiToken.system == system, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=ctx.now))
    revoked = int(result.rowcount)  # type: ignore[attr-defined]
    ctx.audit(session, "api_tokens_revoked", target=f"system:{system}", details={"revoked": revoked})
    session.commit()
    return revoked


def system_of(session: Session, register: Register, token: str) -> str | None:
    """The system a valid token belongs to; None for an unknown or revoked token, or a system gone from the register."""
    if not token.startswith(PREFIX):
        return None
    system = session.scalar(select(ApiToken.system).where(ApiToken.token_hash == token_hash(token),
                                                          ApiToken.revoked_at.is_(None)))
    return system if system in register.systems else None
