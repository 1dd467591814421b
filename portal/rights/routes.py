"""Exercising rights from the overview: what applies to me, the forms, and where my requests stand.

Thin: each view reads its form, asks a service in `services.requests` with the person's context, and
says in words what happened; a refused action answers 404 (it is not the person's to take) or shows why.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import state
from portal.auth.session import fresh_confirmation_required
from portal.database import request_session
from portal.i18n import localise
from portal.models import RightsRequest
from portal.policy.requests import ANSWERED_BY_STAFF
from portal.rights.forms import ActionForm, AnswerForm, RequestForm, new_key
from portal.services import instructions
from portal.services import requests as service
from portal.services.overview import Overview, build_overview

blueprint = Blueprint("rights", __name__, url_prefix="/me")
blueprint.add_app_template_global(new_key)  # one key per action form: a double click repeats only that action


def _received() -> str:
    return _("We received your request. You will find it below, with the date of our answer.")


def _after(message: str) -> Response:
    state.mail().wake()
    flash(message, "success")
    return redirect(url_for("rights.status"), code=303)


def _overview() -> Overview:
    return build_overview(request_session(), current_user.email, register=state.register())


@blueprint.get("/rights")
@login_required
def overview() -> str:
    view = _overview()
    return render_template(
        "rights/index.html", offers=service.offered_rights(view, state.register()), overview=view,
        form=ActionForm(), staff_rights=ANSWERED_BY_STAFF, register=state.register(),
        objection=service.marketing_objection_of(request_session(), current_user.email),
    )


def _scope_choices(right: str, view: Overview) -> list[tuple[str, str]]:
    if right in ("erasure", "restriction"):
        return [("all", _("All data you hold about me"))] + [
            (f"relation:{r.id}", _("Only my data as: %(relation)s", relation=localise(r.definition.name)))
            for r in view.relations
        ]
    if right == "objection":
        register = state.register()
        offer = next(o for o in service.offered_rights(view, register) if o.right.id == "objection")
        return [(f"purpose:{p.purpose.id}", f"{localise(register.relations[p.purpose.relation].name)} "
                 f"{p.purpose.numeral}: {localise(p.purpose.description)}") for p in offer.purposes]
    return []


def _request_view(right: str) -> Response | str | tuple[str, int]:
    if right not in ANSWERED_BY_STAFF or right == "rectification":
        abort(404)
    view = _overview()
    offer = next(o for o in service.offered_rights(view, state.register()) if o.right.id == right)
    form = RequestForm()
    form.scope.choices = _scope_choices(right, view)
    if not form.scope.choices:
        del form.scope
    if form.validate_on_submit():
        try:
            service.submit_request(request_session(), state.context(), email=current_user.email, right=right,
                                   idempotency_key=form.key.data or "", scope=form.scope.data if form.scope else None,
                                   details=form.details.data)
        except service.RequestRefused:
            abort(400)
        return _after(_received())
    if not form.key.data:
        form.key.data = new_key()
    return render_template("rights/request.html", right=offer.right, offer=offer, form=form, overview=view), (
        400 if form.errors else 200)


RECTIFICATION_ERRORS = {
    "value_too_long": lambda: _("A new value can have at most %(max)d characters.", max=service.NEW_VALUE_MAX),
    "nothing_proposed": lambda: _("Propose at least one new value, or describe what is wrong."),
}


@blueprint.route("/rights/rectification", methods=["GET", "POST"])
@login_required
def rectification() -> Response | str | tuple[str, int]:
    """Propose new values field by field; the request shows what we hold and what you propose."""
    view = _overview()
    held = [service.HeldValue(item.id, item.field, item.value) for relation in view.relations
            for category in relation.categories for item in category.items]
    form = RequestForm()
    del form.scope
    proposals = {value.item_id: (request.form.get(f"new-{value.item_id}") or "").strip() for value in held}
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            service.propose_rectification(
                request_session(), state.context(), email=current_user.email, idempotency_key=form.key.data or "",
                held=held, proposals=proposals, details=form.details.data, other_field=_("Other"))
        except service.RequestRefused as refused:
            errors.append(RECTIFICATION_ERRORS[refused.reason]())
        else:
            return _after(_received())
    if not form.key.data:
        form.key.data = new_key()
    register = state.register()
    return render_template("rights/rectification.html", overview=view, form=form, proposals=proposals,
                           errors=errors, register=register, right=register.rights["rectification"]), (
        400 if (errors or form.errors) else 200)


@blueprint.route("/rights/erasure", methods=["GET", "POST"])
@fresh_confirmation_required
def erasure() -> Response | str | tuple[str, int]:
    return _request_view("erasure")


@blueprint.route("/rights/<right>", methods=["GET", "POST"])
@login_required
def request_right(right: str) -> Response | str | tuple[str, int]:
    if right in ("erasure", "rectification"):
        return redirect(url_for(f"rights.{right}"), code=303)
    return _request_view(right)


Action = Callable[..., RightsRequest]


def _at_once(action: Action, done: str, **about: str) -> Response:
    """An action that takes effect at once, from its button: one key, one action, however often it is sent."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        action(request_session(), state.context(), email=current_user.email, idempotency_key=form.key.data or "",
               **about)
    except service.RequestRefused:
        abort(404)
    return _after(done)


@blueprint.post("/consents/<purpose_id>/withdraw")
@login_required
def withdraw(purpose_id: str) -> Response:
    return _at_once(service.withdraw_consent, _("Your consent is withdrawn. We stopped this purpose today."),
                    purpose_id=purpose_id)


@blueprint.post("/consents/<purpose_id>/give")
@login_required
def give(purpose_id: str) -> Response:
    return _at_once(service.give_consent, _("Thank you: your consent is recorded. You can withdraw it again at any "
                                            "time."), purpose_id=purpose_id)


@blueprint.post("/consents/<purpose_id>/renew")
@login_required
def renew(purpose_id: str) -> Response:
    """One click: stay in the talent pool for another period, when we asked."""
    return _at_once(service.renew_consent, _("Thank you: your consent is renewed, and we keep your data for another "
                                             "period. You can withdraw it at any time."), purpose_id=purpose_id)


@blueprint.post("/direct-marketing/object")
@login_required
def object_to_marketing() -> Response:
    return _at_once(service.object_to_direct_marketing,
                    _("Done: we no longer use your data for direct marketing, from today."))


@blueprint.post("/direct-marketing/lift")
@login_required
def lift_objection() -> Response:
    return _at_once(service.lift_direct_marketing_objection, _("Your objection to direct marketing is lifted."))


def _status_page(answer_form: AnswerForm, answering: int | None) -> str:
    db = request_session()
    requests = service.requests_of(db, current_user.email)
    # By the ids of the person's own requests only: another person's instructions are never read.
    progress = instructions.progress_of(db, [r.id for r in requests], register=state.register())
    return render_template("rights/status.html", requests=requests, progress=progress,
                           register=state.register(), answer_form=answer_form, answering=answering)


@blueprint.get("/requests")
@login_required
def status() -> str:
    return _status_page(AnswerForm(), None)


@blueprint.post("/requests/<int:request_id>/answer")
@login_required
def answer(request_id: int) -> Response | tuple[str, int]:
    """The person answers our question; what they typed is kept and shown again if it is refused."""
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            service.answer_question(request_session(), state.context(), email=current_user.email,
                                    request_id=request_id, answer=form.answer.data or "")
        except service.RequestRefused as refused:
            if refused.reason == "not_found":
                abort(404)
        else:
            return _after(_("Thank you: we received your answer and continue with your request."))
    return _status_page(form, request_id), 400
