"""Who is signed in to the back office, and the guards of its pages.

Staff sessions are server-side sessions of the "staff" audience, kept in their own slot of the Flask
session (`STAFF_KEY`) which the person's pages never read; the person's slot is never read here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import flash, g, redirect, request, session, url_for
from flask_babel import gettext as _

from portal.auth.session import STAFF_KEY, signin_settings
from portal.clock import utcnow
from portal.database import request_session
from portal.errors import render_error
from portal.services import audit, signin
from portal.services.staff import active_staff

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str
    role: str
    key: str

    @property
    def decides(self) -> bool:
        return self.role == "dpo"

    @property
    def actor(self) -> str:
        return audit.staff_actor(self.email)


def current_staff() -> StaffMember | None:
    if "staff_member" in g:
        member: StaffMember | None = g.staff_member
        return member
    member = None
    key = session.get(STAFF_KEY)
    if key:
        auth = signin.current_session(request_session(), key, settings=signin_settings(), now=utcnow(),
                                      audience=signin.STAFF)
        staff = active_staff(request_session(), auth.email) if auth is not None else None
        if staff is not None:
            member = StaffMember(staff.id, staff.email, staff.role, key)
        else:
            session.pop(STAFF_KEY, None)
            g.staff_session_ended = True
    g.staff_member = member
    return member


def staff_required(view: View | None = None, *, decides: bool = False) -> Any:
    """Only for a signed-in staff member; with `decides`, only for the data protection manager (dpo)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            member = current_staff()
            if member is None:
                if g.get("staff_session_ended"):
                    flash(_("Your back-office session has ended: after 10 minutes without activity we sign you "
                            "out. Sign in again to continue."), "info")
                target = request.full_path if request.query_string else request.path
                return redirect(url_for("auth.staff_sign_in", next=target if request.method == "GET" else None))
            if decides and not member.decides:
                return render_error(403, _("Only the data protection manager"),
                                    _("Your role lets you read the back office, not decide on requests. Ask the "
                                      "data protection manager."))
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate
