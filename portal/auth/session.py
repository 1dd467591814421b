"""Flask-Login on top of server-side sessions, and the fresh-confirmation guard for sensitive pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from portal import state, trail
from portal.auth.forms import ButtonForm
from portal.clock import utcnow
from portal.database import request_session
from portal.extensions import login_manager
from portal.models import AuthSession
from portal.services import audit, signin
from portal.services.signin import SignInSettings, StartedSession

View = TypeVar("View", bound=Callable[..., Any])

TIMED_OUT = _l("Your session has ended: after 20 minutes without activity, or 8 hours after signing in, "
               "we sign you out to protect your data. Sign in again to continue.")
# What the person is told on their next page, by `AuthSession.end_reason` (every value the portal writes).
WHY_ENDED = {
    "idle": TIMED_OUT,
    "absolute": TIMED_OUT,
    "address_changed": _l("Your session has ended: the address you sign in with was changed. Sign in with your "
                          "new address to continue."),
    "address_undone": _l("Your session has ended: the change of the address you sign in with was undone. Sign in "
                         "with your previous address to continue."),
    "staff": _l("Your session has ended: our data protection manager ended every session of your address. Sign "
                "in again to continue, and write to us if you have questions."),
    "everywhere": _l("Your session has ended: you signed out on every device. Sign in again to continue."),
    "signed_out": _l("Your session has ended: you signed out. Sign in again to continue."),
    "replaced": _l("Your session has ended: a newer sign-in replaced it. Sign in again to continue."),
}
ENDED = _l("Your session has ended. Sign in again to continue.")  # a reason not (or no longer) known


class Person(UserMixin):  # type: ignore[misc]
    """The signed-in person: an e-mail address whose control they proved, and their session."""

    def __init__(self, key: str, auth: AuthSession) -> None:
        self.key = key
        self.email = auth.email
        self.session_id = auth.id
        self.confirmed_at = auth.confirmed_at
        self.overview_noted_at = auth.overview_noted_at

    def get_id(self) -> str:
        return self.key


def signin_settings() -> SignInSettings:
    settings = state.settings()
    return SignInSettings(secret=settings.secret_key, sender_domain=settings.mail_domain)


@login_manager.user_loader
def load_person(key: str) -> Person | None:
    auth = signin.current_session(request_session(), key, settings=signin_settings(), now=utcnow())
    if auth is None:
        g.ended_session_key = key
        return None
    return Person(key, auth)


@login_manager.unauthorized_handler
def sign_in_first() -> Response:
    key = g.get("ended_session_key")
    if key is not None:
        reason = signin.end_reason(request_session(), key, settings=signin_settings())
        flash(WHY_ENDED.get(reason or "", ENDED), "info")
    else:
        flash(_l("Sign in to see this page."), "info")
    return redirect(url_for("auth.sign_in", next=request.full_path if request.query_string else request.path))


STAFF_KEY = "staff_session"  # the back office's session key: a slot Flask-Login never reads


def begin(started: StartedSession) -> None:
    """A fresh Flask session for the new sign-in: new identifier, new CSRF token, nothing carried over.

    A browser is signed in either as a person or as staff, never both: each audience's pages read only
    their own slot, so neither session can open the other's pages.
    """
    session.clear()
    if started.audience == signin.STAFF:
        session[STAFF_KEY] = started.key
    else:
        auth = signin.current_session(request_session(), started.key, settings=signin_settings(), now=utcnow())
        assert auth is not None  # just created
        login_user(Person(started.key, auth))
    trail.note("signed_in", actor=audit.staff_actor(started.email) if started.audience == signin.STAFF
               else audit.PERSON, subject_email=None if started.audience == signin.STAFF else started.email,
               details={"audience": started.audience})


def end() -> None:
    logout_user()
    session.clear()


def fresh_confirmation_required(view: View | None = None, *, return_to: str | None = None) -> Any:
    """Let the view run only if the person proved control of their address in the last 10 minutes.

    Otherwise show a page that offers a confirmation link by mail (sent only when they ask for it); after
    confirming they come back to the page itself, or for a form post to the endpoint `return_to`.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            auth = request_session().get(AuthSession, current_user.session_id)
            if auth is None or not signin.is_fresh(auth, utcnow()):
                back = url_for(return_to) if return_to else (
                    request.full_path if request.query_string else request.path)
                return render_template("auth/confirm_needed.html", form=ButtonForm(next=back)), 403
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def init_app(app: Any) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = None  # sessions are checked on the server instead
    login_manager.login_view = "auth.sign_in"
