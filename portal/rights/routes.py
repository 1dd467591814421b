"""Exercising rights from the overview: what applies to me, the forms, and where my requests stand."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal.auth.session import fresh_confirmation_required, signin_settings
from portal.database import request_session
from portal.i18n import local_today, localise
from portal.policy.requests import ANSWERED_BY_STAFF
from portal.rights.forms import ActionForm, AnswerForm, RequestForm, new_key
from portal.rights.mail import compose_request_mail, right_label, scope_label, status_label
from portal.services import requests as service
from portal.services.outbox import utcnow
from portal.services.overview import build_overview

blueprint = Blueprint("rights", __name__, url_prefix="/me")
blueprint.add_app_template_global(right_label)
blueprint.add_app_template_global(status_label)
blueprint.add_app_template_global(scope_label)
blueprint.add_app_template_global(new_key)  # one key per action form: a double click repeats only that action


def _register():  # type: ignore[no-untyped-def]
    return current_app.extensions["portal.register"]


def _common() -> dict[str, object]:
    return {"register": _register(), "today": local_today(), "now": utcnow(), "notify": compose_request_mail,
            "sender_domain": signin_settings().sender_domain}


def _after(message: str) -> Response:
    current_app.extensions["portal.mail"].wake()
    flash(message, "success")
    return redirect(url_for("rights.status"), code=303)


def _overview():  # type: ignore[no-untyped-def]
    return build_overview(request_session(), current_user.email, register=_register())


@blueprint.get("/rights")
@login_required
def overview() -> str:
    view = _overview()
    return render_template(
        "rights/index.html", offers=service.offered_rights(view, _register()), overview=view,
        form=ActionForm(), staff_rights=ANSWERED_BY_STAFF, register=_register(),
        objection=service.marketing_objection_of(request_session(), current_user.email),
    )


def _scope_choices(right: str, view) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    if right in ("erasure", "restriction"):
        return [("all", _("All data you hold about me"))] + [
            (f"relation:{r.id}", _("Only my data as: %(relation)s", relation=localise(r.definition.name)))
            for r in view.relations
        ]
    if right == "objection":
        offer = next(o for o in service.offered_rights(view, _register()) if o.right.id == "objection")
        return [(f"purpose:{p.purpose.id}", f"{localise(_register().relations[p.purpose.relation].name)} "
                 f"{p.purpose.numeral}: {localise(p.purpose.description)}") for p in offer.purposes]
    return []


def _request_view(right: str) -> Response | str | tuple[str, int]:
    if right not in ANSWERED_BY_STAFF or right == "rectification":
        abort(404)
    view = _overview()
    offer = next(o for o in service.offered_rights(view, _register()) if o.right.id == right)
    form = RequestForm()
    form.scope.choices = _scope_choices(right, view)
    if not form.scope.choices:
        del form.scope
    if form.validate_on_submit():
        try:
            service.submit_request(
                request_session(), email=current_user.email, right=right, idempotency_key=form.key.data or "",
                scope=form.scope.data if form.scope else None, details=form.details.data, **_common(),
            )
        except service.RequestRefused:
            abort(400)
        return _after(_("We received your request. You will find it below, with the date of our answer."))
    if not form.key.data:
        form.key.data = new_key()
    return render_template("rights/request.html", right=offer.right, offer=offer, form=form, overview=view), (
        400 if form.errors else 200)


NEW_VALUE_MAX = 1000


@blueprint.route("/rights/rectification", methods=["GET", "POST"])
@login_required
def rectification() -> Response | str | tuple[str, int]:
    """Propose new values field by field; the request shows what we hold and what you propose."""
    view = _overview()
    shown = {item.id: item for relation in view.relations for category in relation.categories
             for item in category.items}
    form = RequestForm()
    del form.scope
    proposals = {item_id: (request.form.get(f"new-{item_id}") or "").strip() for item_id in shown}
    errors: list[str] = []
    if form.validate_on_submit():
        changes = [(item_id, shown[item_id].field, shown[item_id].value, new)
                   for item_id, new in proposals.items() if new and new != shown[item_id].value]
        if any(len(new) > NEW_VALUE_MAX for new in proposals.values()):
            errors.append(_("A new value can have at most %(max)d characters.", max=NEW_VALUE_MAX))
        elif not changes and not (form.details.data or "").strip():
            errors.append(_("Propose at least one new value, or describe what is wrong."))
        else:
            if not changes:  # only a description: still a request, about the data as a whole
                changes = [(None, _("Other"), None, (form.details.data or "").strip())]
            service.submit_request(request_session(), email=current_user.email, right="rectification",
                                   idempotency_key=form.key.data or "", details=form.details.data,
                                   changes=changes, **_common())
            return _after(_("We received your request. You will find it below, with the date of our answer."))
    if not form.key.data:
        form.key.data = new_key()
    status = 400 if (errors or form.errors) else 200
    return render_template("rights/rectification.html", overview=view, form=form, proposals=proposals,
                           errors=errors, register=_register(), right=_register().rights["rectification"]), status


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


@blueprint.post("/consents/<purpose_id>/withdraw")
@login_required
def withdraw(purpose_id: str) -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.withdraw_consent(request_session(), email=current_user.email, purpose_id=purpose_id,
                                 idempotency_key=form.key.data or "", **_common())
    except service.RequestRefused:
        abort(404)
    return _after(_("Your consent is withdrawn. We stopped this purpose today."))


@blueprint.post("/consents/<purpose_id>/give")
@login_required
def give(purpose_id: str) -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.give_consent(request_session(), email=current_user.email, purpose_id=purpose_id,
                             idempotency_key=form.key.data or "", **_common())
    except service.RequestRefused:
        abort(404)
    return _after(_("Thank you: your consent is recorded. You can withdraw it again at any time."))


@blueprint.post("/consents/<purpose_id>/renew")
@login_required
def renew(purpose_id: str) -> Response:
    """One click: stay in the talent pool for another period, when we asked."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.renew_consent(request_session(), email=current_user.email, purpose_id=purpose_id,
                              idempotency_key=form.key.data or "", **_common())
    except service.RequestRefused:
        abort(404)
    return _after(_("Thank you: your consent is renewed, and we keep your data for another period. You can "
                    "withdraw it at any time."))


@blueprint.post("/direct-marketing/object")
@login_required
def object_to_marketing() -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    service.object_to_direct_marketing(request_session(), email=current_user.email,
                                       idempotency_key=form.key.data or "", **_common())
    return _after(_("Done: we no longer use your data for direct marketing, from today."))


@blueprint.post("/direct-marketing/lift")
@login_required
def lift_objection() -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.lift_direct_marketing_objection(request_session(), email=current_user.email,
                                                idempotency_key=form.key.data or "", **_common())
    except service.RequestRefused:
        abort(404)
    return _after(_("Your objection to direct marketing is lifted."))


@blueprint.get("/requests")
@login_required
def status() -> str:
    return render_template("rights/status.html", requests=service.requests_of(request_session(), current_user.email),
                           register=_register(), answer_form=AnswerForm(), answering=None)


@blueprint.post("/requests/<int:request_id>/answer")
@login_required
def answer(request_id: int) -> Response | tuple[str, int]:
    """The person answers our question; what they typed is kept and shown again if it is refused."""
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            service.answer_question(request_session(), email=current_user.email, request_id=request_id,
                                    answer=form.answer.data or "", **_common())
        except service.RequestRefused as refused:
            if refused.reason == "not_found":
                abort(404)
        else:
            return _after(_("Thank you: we received your answer and continue with your request."))
    return render_template("rights/status.html", requests=service.requests_of(request_session(), current_user.email),
                           register=_register(), answer_form=form, answering=request_id), 400
