"""Sign-in by magic link: the "appropriate and least privacy-intrusive" verification of statement 2.4.

A person proves control of an e-mail address, nothing more: no password, no identity document. Any
address may ask (anyone may ask whether we process their data), and the work done is the same whether
or not we know it. A link is valid for 10 minutes and once; its short code, for people who read mail on
another device, is tied to the same attempt and dies after 5 wrong tries. Only keyed hashes are stored.

Signed-in sessions live on the server (`AuthSession`), so they can be ended: idle after 20 minutes,
at the latest 8 hours after sign-in, at sign-out, or everywhere at once.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import AuthSession, SignInToken, Staff
from portal.services.context import Context
from portal.services.email_address import normalise_email
from portal.services.limits import AbuseLimits
from portal.services.mail import stored_language
from portal.services.tokens import keyed_digest, link_code, link_token

LINK_LIFETIME = dt.timedelta(minutes=10)  # OWASP ASVS 5.0, 6.5.5
MAX_CODE_TRIES = 5
IDLE_TIMEOUT = dt.timedelta(minutes=20)
STAFF_IDLE_TIMEOUT = dt.timedelta(minutes=10)  # the back office sees everyone's data: a shorter leash
ABSOLUTE_TIMEOUT = dt.timedelta(hours=8)
FRESH_FOR = dt.timedelta(minutes=10)  # sensitive actions need a proof of control this recent
# Activity is written at most this often: a write per page view would serialise readers behind the
# database's write lock, and the idle timeout does not need finer steps.
TOUCH_EVERY = dt.timedelta(seconds=60)
PURPOSES = ("sign_in", "confirm", "staff_sign_in", "change_email")
PERSON, STAFF = "person", "staff"  # who a session is for: one never opens the other's pages
NEXT_PATH_MAX = 500  # the column's size


class InvalidLink(Exception):
    """The link or attempt cannot be used: expired, spent, tampered, unknown or out of tries.

    Deliberately one error for all of these: the page never tells an attacker which it was.
    """


class TriesExhausted(InvalidLink):
    """The fifth wrong code: the attempt, its link and its code are dead. The person typed the codes, so
    saying so tells nobody anything new."""


class WrongCode(Exception):
    """The code does not match this attempt; `tries_left` more may be made."""

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(f"wrong code, {tries_left} tries left")


@dataclass(frozen=True)
class IssuedLink:
    """An attempt whose mail is to be written; the link and code go in as placeholders (`tokens`)."""

    attempt_id: int
    email: str
    purpose: str
    language: str


@dataclass(frozen=True)
class StartedSession:
    """A new signed-in session: `key` goes into the cookie, `next_path` is where the person was going."""

    key: str
    email: str
    next_path: str | None
    audience: str = PERSON


@dataclass(frozen=True)
class SignInSettings:
    secret: str
    sender_domain: str


_digest = keyed_digest


OnIssue = Callable[[Session, SignInToken], None]


def request_link(
    session: Session, ctx: Context, *, raw_email: str, purpose: str, page_language: str, next_path: str | None,
    client: str, limits: AbuseLimits, settings: SignInSettings, language: str | None = None,
    record: OnIssue | None = None,
) -> IssuedLink:
    """Check the limits, then issue a link, queue its mail and record the request, in one transaction.

    Raises `InvalidEmail` for anything but one address and `TooManyAttempts` beyond a limit; in both
    cases nothing is written and no mail goes out. The mail (`ctx.notifier.link_mail`) is in the person's
    stored language, else in the language of the page they used. `record` writes what the attempt is for
    with it (an address change); by default the request is written to the audit trail.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    assert ctx.notifier is not None  # a link nobody receives could never be used
    email = normalise_email(raw_email)
    if next_path is not None and len(next_path) > NEXT_PATH_MAX:
        next_path = None  # a page address this long is not one of ours worth returning to
    limits.check(link_address=email, link_client=client)
    decoy = purpose == "staff_sign_in" and not is_staff(session, email)
    language = language or stored_language(session, email) or page_language
    row = SignInToken(  # nosec B106  # the empty hashes are placeholders, not secrets: the digests need the id
        token_hash="", code_hash="", nonce=secrets.token_hex(16), purpose=purpose, email=email,
        language=language, next_path=next_path, created_at=ctx.now, expires_at=ctx.now + LINK_LIFETIME,
        failed_codes=0,
    )
    session.add(row)
    session.flush()
    issued = IssuedLink(attempt_id=row.id, email=email, purpose=purpose, language=language)
    if decoy:
        # Not staff: the same attempt, answer, audit entry and cookie as for staff, but with hashes nothing
        # matches and no mail, so that neither the page nor the attempt's number reveals who works the back office.
        row.token_hash = secrets.token_hex(32)
        row.code_hash = secrets.token_hex(32)
    else:
        row.token_hash = _digest(settings.secret, "link", link_token(settings.secret, row.id, row.nonce))
        row.code_hash = _digest(settings.secret, "code", row.id, link_code(settings.secret, row.id, row.nonce))
        ctx.mail(session, email, ctx.notifier.link_mail(issued), sign_in_token_id=row.id)
    if record is not None:
        record(session, row)
    else:
        ctx.audit(session, "sign_in_link_requested", subject_email=email, details={"purpose": purpose})
    session.commit()
    return issued


def _usable(row: SignInToken | None, now: dt.datetime) -> SignInToken:
    if row is None or row.spent_at is not None or row.expires_at <= now or row.failed_codes >= MAX_CODE_TRIES:
        raise InvalidLink()
    return row


def find_link(session: Session, token: str, *, settings: SignInSettings, now: dt.datetime) -> SignInToken:
    """The attempt behind a link, if it can still be used; looking does not spend it (mail scanners look)."""
    row = session.scalar(select(SignInToken).where(SignInToken.token_hash == _digest(settings.secret, "link", token)))
    return _usable(row, now)


OnRedeem = Callable[[Session, SignInToken], None]


def redeem_link(
    session: Session, token: str, *, settings: SignInSettings, now: dt.datetime, replaces: str | None = None,
    on_redeem: OnRedeem | None = None,
) -> StartedSession:
    """Spend a link and open a session; `replaces` is the key of the browser's previous session, if any.

    `on_redeem` runs in the same transaction, after the link is spent and before the session opens: what
    the link was for (an address change) happens with it, or not at all.
    """
    return _redeem(session, find_link(session, token, settings=settings, now=now), settings, now, replaces, on_redeem)


def redeem_code(
    session: Session, attempt_id: int, code: str, *, settings: SignInSettings, now: dt.datetime,
    replaces: str | None = None, on_redeem: OnRedeem | None = None,
) -> StartedSession:
    """Check a code typed for an attempt started in this browser; a wrong one costs one of 5 tries."""
    row = _usable(session.get(SignInToken, attempt_id), now)
    # Spend a try before comparing, in one guarded statement: simultaneous guesses cannot all read
    # "0 tries used" and share one try between them.
    tries_used = session.execute(
        update(SignInToken)
        .where(SignInToken.id == row.id, SignInToken.failed_codes < MAX_CODE_TRIES,
               SignInToken.spent_at.is_(None), SignInToken.expires_at > now)
        .values(failed_codes=SignInToken.failed_codes + 1)
        .returning(SignInToken.failed_codes)
    ).scalar_one_or_none()
    session.commit()
    if tries_used is None:
        raise InvalidLink()
    typed = "".join(code.split())
    if not hmac.compare_digest(row.code_hash, _digest(settings.secret, "code", row.id, typed)):
        tries_left = MAX_CODE_TRIES - tries_used
        if tries_left <= 0:
            raise TriesExhausted()
        raise WrongCode(tries_left)
    # The right code: the try it took is given back, and the attempt is spent below.
    session.execute(
        update(SignInToken).where(SignInToken.id == row.id).values(failed_codes=SignInToken.failed_codes - 1)
    )
    return _redeem(session, row, settings, now, replaces, on_redeem)


def _redeem(
    session: Session, row: SignInToken, settings: SignInSettings, now: dt.datetime, replaces: str | None,
    on_redeem: OnRedeem | None = None,
) -> StartedSession:
    # Spend with a guarded UPDATE: of two simultaneous uses of one link, exactly one wins.
    spent = session.execute(
        update(SignInToken).where(SignInToken.id == row.id, SignInToken.spent_at.is_(None)).values(spent_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise InvalidLink()
    if replaces:
        _end(session, replaces, settings, now, "replaced")
    if on_redeem is not None:
        try:
            on_redeem(session, row)
        except Exception:
            session.rollback()  # the link stays unspent: nothing of what it was for happened
            raise
    audience = STAFF if row.purpose == "staff_sign_in" else PERSON
    if audience == STAFF and not is_staff(session, row.email):  # disabled since the link was sent
        session.rollback()
        raise InvalidLink()
    key = secrets.token_urlsafe(32)
    session.add(AuthSession(
        key_hash=_digest(settings.secret, "session", key), email=row.email, created_at=now, last_seen_at=now,
        confirmed_at=now, audience=audience,
    ))
    session.commit()
    return StartedSession(key=key, email=row.email, next_path=row.next_path, audience=audience)


def is_staff(session: Session, email: str) -> bool:
    return session.scalar(
        select(Staff.id).where(Staff.email == email, Staff.disabled_at.is_(None))
    ) is not None


def idle_timeout(audience: str) -> dt.timedelta:
    return STAFF_IDLE_TIMEOUT if audience == STAFF else IDLE_TIMEOUT


def end_reason(session: Session, key: str, *, settings: SignInSettings, audience: str = PERSON) -> str | None:
    """Why the session of `audience` behind a cookie's key ended, as stored with it (None when unknown)."""
    return session.scalar(select(AuthSession.end_reason).where(
        AuthSession.key_hash == _digest(settings.secret, "session", key), AuthSession.audience == audience))


def current_session(
    session: Session, key: str, *, settings: SignInSettings, now: dt.datetime, audience: str = PERSON,
) -> AuthSession | None:
    """The live session of `audience` for a cookie's key, or None; ends it when it has timed out."""
    auth = session.scalar(select(AuthSession).where(AuthSession.key_hash == _digest(settings.secret, "session", key)))
    if auth is None or auth.ended_at is not None or auth.audience != audience:
        return None
    if now - auth.last_seen_at > idle_timeout(audience):
        auth.ended_at, auth.end_reason = now, "idle"
    elif now - auth.created_at > ABSOLUTE_TIMEOUT:
        auth.ended_at, auth.end_reason = now, "absolute"
    elif now - auth.last_seen_at < TOUCH_EVERY:
        return auth
    else:
        auth.last_seen_at = now
    session.commit()
    return auth if auth.ended_at is None else None


def is_fresh(auth: AuthSession, now: dt.datetime) -> bool:
    """Whether the person proved control of their address recently enough for a sensitive action."""
    return now - auth.confirmed_at <= FRESH_FOR


def _end(session: Session, key: str, settings: SignInSettings, now: dt.datetime, reason: str) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.key_hash == _digest(settings.secret, "session", key), AuthSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def end_session(session: Session, key: str, *, settings: SignInSettings, now: dt.datetime) -> None:
    """Sign out: the session ends on the server, so a copy of the cookie no longer works."""
    _end(session, key, settings, now, "signed_out")
    session.commit()


def end_all_sessions(
    session: Session, email: str, *, now: dt.datetime, reason: str = "everywhere", audience: str = PERSON,
    commit: bool = True,
) -> int:
    """End every live session of an address (sign out everywhere); returns how many were live."""
    result = session.execute(
        update(AuthSession).where(AuthSession.email == email, AuthSession.ended_at.is_(None),
                                  AuthSession.audience == audience)
        .values(ended_at=now, end_reason=reason)
    )
    if commit:
        session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def live_sessions(session: Session, email: str, *, now: dt.datetime) -> list[AuthSession]:
    """The sessions of an address that are still usable, newest first."""
    rows = session.scalars(
        select(AuthSession).where(AuthSession.email == email, AuthSession.ended_at.is_(None),
                                  AuthSession.audience == PERSON)
        .order_by(AuthSession.created_at.desc())
    )
    return [r for r in rows if now - r.last_seen_at <= IDLE_TIMEOUT and now - r.created_at <= ABSOLUTE_TIMEOUT]
