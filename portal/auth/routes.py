"""Sign-in pages: ask for a link, open it (a button signs in, never the GET), or type the code."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from portal import i18n, state, trail
from portal.auth import session as auth_session
from portal.auth.forms import ButtonForm, CodeForm, EmailForm, NewAddressForm
from portal.clock import utcnow
from portal.database import request_session
from portal.errors import render_error, too_many_attempts
from portal.models import AddressChange
from portal.redirects import safe_next
from portal.services import address, signin
from portal.services.email_address import InvalidEmail
from portal.services.limits import TooManyAttempts

blueprint = Blueprint("auth", __name__)
ATTEMPT = "signin_attempt"  # the attempt started in this browser, for the code
ATTEMPT_EMAIL = "signin_email"


def _after_sign_in(started: signin.StartedSession) -> Response:
    home = url_for("staff.queue") if started.audience == signin.STAFF else url_for("account.overview")
    next_path = started.next_path
    # A staff sign-in goes to staff pages only, a person's to theirs only.
    if next_path and next_path.startswith("/staff") != (started.audience == signin.STAFF):
        next_path = None
    return redirect(safe_next(next_path, home), code=303)


def _send_link(raw_email: str, purpose: str, next_path: str | None) -> Response | tuple[str, int]:
    try:
        issued = signin.request_link(
            request_session(), state.context(), raw_email=raw_email, purpose=purpose,
            page_language=i18n.current_language(), next_path=safe_next(next_path, "") or None,
            client=request.remote_addr or "unknown", limits=state.limits(), settings=auth_session.signin_settings(),
        )
    except TooManyAttempts as refused:
        return too_many_attempts(refused.retry_at)
    state.mail().wake()
    session[ATTEMPT] = issued.attempt_id
    session[ATTEMPT_EMAIL] = issued.email
    return redirect(url_for("auth.check_mail"), code=303)


def _sign_in_page(purpose: str) -> Response | str | tuple[str, int]:
    form = EmailForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            return _send_link(form.email.data or "", purpose, form.next.data)
        except InvalidEmail:
            form.email.errors.append(_("Enter exactly one e-mail address, such as name@example.com."))
    return render_template("auth/sign_in.html", form=form, staff=purpose == "staff_sign_in"), (
        400 if form.errors else 200)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str | tuple[str, int]:
    return _sign_in_page("sign_in")


@blueprint.get("/sign-in/check-mail")
def check_mail() -> str:
    return render_template("auth/check_mail.html", form=CodeForm(), email=session.get(ATTEMPT_EMAIL))


@blueprint.post("/sign-in/code")
def enter_code() -> Response | str | tuple[str, int]:
    form = CodeForm()
    attempt = session.get(ATTEMPT)
    if attempt is None:
        return render_template("auth/link_invalid.html", form=EmailForm()), 410
    if not form.validate_on_submit():
        return render_template("auth/check_mail.html", form=form, email=session.get(ATTEMPT_EMAIL)), 400
    try:
        state.limits().check(code_client=request.remote_addr or "unknown")
        started = signin.redeem_code(request_session(), int(attempt), form.code.data or "",
                                     settings=auth_session.signin_settings(), now=utcnow(),
                                     replaces=_current_key(), on_redeem=_on_redeem())
    except TooManyAttempts as refused:
        return too_many_attempts(refused.retry_at)
    except address.AddressRefused as refused:
        return _address_refused(refused)
    except signin.WrongCode as wrong:
        form.code.errors.append(ngettext("This code is not right. You can try %(num)d more time.",
                                         "This code is not right. You can try %(num)d more times.", wrong.tries_left))
        return render_template("auth/check_mail.html", form=form, email=session.get(ATTEMPT_EMAIL)), 400
    except signin.InvalidLink as dead:
        session.pop(ATTEMPT, None)
        exhausted = isinstance(dead, signin.TriesExhausted)
        return render_template("auth/link_invalid.html", form=EmailForm(), exhausted=exhausted), 410
    auth_session.begin(started)
    state.mail().wake()  # a redeemed link may have queued a mail (an address change tells the old address)
    return _after_sign_in(started)


UNDO_SALT = "address-change-undo"
UNDO_MAX_AGE = 30 * 24 * 3600  # the old address may say "not me" for 30 days


def _undo_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=UNDO_SALT)


def _undo_link(change_id: int) -> str:
    return f"{state.settings().base_url}/address-change/undo/{_undo_serializer().dumps(change_id)}"


def _on_redeem() -> signin.OnRedeem:
    """What a link or code was for, done with it in the same transaction: an address change."""
    return address.carry_out_redeemed(state.context(), undo_link=_undo_link)


def _address_refused(refused: address.AddressRefused) -> tuple[str, int]:
    if refused.reason == "address_in_use":
        return render_error(409, _("This address is already in use"),
                            _("Another person signs in with this address, so we cannot move your data to it. "
                              "Write to %(email)s and we will sort it out.",
                              email=state.register().controller.email))
    return render_error(410, _("This address change is no longer possible"),
                        _("It was already made or undone, or it never existed. Ask for it again from your overview."))


def _current_key() -> str | None:
    return current_user.get_id() if current_user.is_authenticated else None


@blueprint.route("/staff/sign-in", methods=["GET", "POST"])
def staff_sign_in() -> Response | str | tuple[str, int]:
    """The back office's sign-in: the same link and code, sent only to staff addresses."""
    return _sign_in_page("staff_sign_in")


@blueprint.get("/sign-in/<token>")
@blueprint.get("/staff/sign-in/<token>")
def open_link(token: str) -> str | tuple[str, int]:
    """Show a button; looking at a link (as mail scanners do) never spends it or signs in."""
    try:
        attempt = signin.find_link(request_session(), token, settings=auth_session.signin_settings(), now=utcnow())
    except signin.InvalidLink:
        return render_template("auth/link_invalid.html", form=EmailForm()), 410
    return render_template("auth/open_link.html", form=ButtonForm(), purpose=attempt.purpose, email=attempt.email)


@blueprint.post("/sign-in/<token>")
@blueprint.post("/staff/sign-in/<token>")
def use_link(token: str) -> Response | tuple[str, int]:
    form = ButtonForm()
    if not form.validate_on_submit():
        return render_template("auth/open_link.html", form=form, purpose="sign_in", email=None), 400
    try:
        started = signin.redeem_link(request_session(), token, settings=auth_session.signin_settings(),
                                     now=utcnow(), replaces=_current_key(), on_redeem=_on_redeem())
    except signin.InvalidLink:
        return render_template("auth/link_invalid.html", form=EmailForm()), 410
    except address.AddressRefused as refused:
        return _address_refused(refused)
    auth_session.begin(started)
    state.mail().wake()  # a redeemed link may have queued a mail (an address change tells the old address)
    return _after_sign_in(started)


@blueprint.post("/confirm")
@login_required
def request_confirmation() -> Response | tuple[str, int]:
    """Send a confirmation link to the signed-in address before a sensitive action."""
    form = ButtonForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.overview"), code=303)
    return _send_link(current_user.email, "confirm", form.next.data)


@blueprint.post("/sign-out")
def sign_out() -> Response:
    form = ButtonForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        signin.end_session(request_session(), current_user.get_id(), settings=auth_session.signin_settings(),
                           now=utcnow())
        trail.note("signed_out", subject_email=current_user.email)
    auth_session.end()
    flash(_("You are signed out."), "success")
    return redirect(url_for("public.home"), code=303)


@blueprint.post("/sign-out/everywhere")
@login_required
def sign_out_everywhere() -> Response:
    form = ButtonForm()
    if form.validate_on_submit():
        count = signin.end_all_sessions(request_session(), current_user.email, now=utcnow())
        auth_session.end()
        flash(ngettext("You are signed out on every device (%(num)d session ended).",
                       "You are signed out on every device (%(num)d sessions ended).", count), "success")
        return redirect(url_for("public.home"), code=303)
    return redirect(url_for("account.overview"), code=303)


@blueprint.route("/me/address", methods=["GET", "POST"])
@auth_session.fresh_confirmation_required
def change_address() -> Response | str | tuple[str, int]:
    """Ask to sign in with another address: a link goes to the new address; nothing changes before it is used."""
    form = NewAddressForm()
    if form.validate_on_submit():
        try:
            issued = address.request_change(
                request_session(), state.context(), old_email=current_user.email, raw_new=form.email.data or "",
                page_language=i18n.current_language(), next_path=url_for("account.overview"),
                client=request.remote_addr or "unknown", limits=state.limits(),
                settings=auth_session.signin_settings())
        except InvalidEmail:
            form.email.errors.append(_("Enter exactly one e-mail address, such as name@example.com."))
        except address.AddressRefused as refused:
            form.email.errors.append(_("This is already the address you sign in with.") if refused.reason ==
                                     "same_address" else _("This address is already in use here. Write to us if "
                                                           "it is yours too, and we will sort it out."))
        except TooManyAttempts as refused:
            return too_many_attempts(refused.retry_at)
        else:
            state.mail().wake()
            session[ATTEMPT] = issued.attempt_id
            session[ATTEMPT_EMAIL] = issued.email
            return redirect(url_for("auth.check_mail"), code=303)
    return render_template("auth/change_address.html", form=form), 400 if form.errors else 200


def _undo_change_id(token: str) -> int | None:
    try:
        value = _undo_serializer().loads(token, max_age=UNDO_MAX_AGE)
    except BadData:
        return None
    return value if isinstance(value, int) else None


@blueprint.get("/address-change/undo/<token>")
def undo_address_change(token: str) -> str | tuple[str, int]:
    """The old address says "it was not me": a button, never an action on GET (mail scanners open links)."""
    change_id = _undo_change_id(token)
    change = request_session().get(AddressChange, change_id) if change_id else None
    if change is None or change.confirmed_at is None or change.undone_at is not None:
        return _address_refused(address.AddressRefused("not_found"))
    return render_template("auth/undo_address.html", change=change, form=ButtonForm())


@blueprint.post("/address-change/undo/<token>")
def confirm_undo_address_change(token: str) -> Response | tuple[str, int]:
    if not ButtonForm().validate_on_submit():
        abort(400)
    change_id = _undo_change_id(token)
    if change_id is None:
        return _address_refused(address.AddressRefused("not_found"))
    try:
        address.undo_change(request_session(), state.context(), change_id)
    except address.AddressRefused as refused:
        return _address_refused(refused)
    auth_session.end()
    flash(_("Your old address is back, and every session under the other address has ended. Sign in again with "
            "your own address, and write to us if you think someone else had access."), "success")
    return redirect(url_for("auth.sign_in"), code=303)
