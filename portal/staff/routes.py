"""The back office's pages: the queue, a request with its decisions, reports, failed mails, audit checks.

Thin: every rule is in `services.queue`, `services.decisions` and `services.requests`; these views check
who may act, read the forms and say in words what happened or why a move is refused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask import session as cookie
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse

from portal import state, trail
from portal.account import wording
from portal.auth.forms import ButtonForm
from portal.auth.session import STAFF_KEY, signin_settings
from portal.clock import local_today, utcnow
from portal.database import request_session
from portal.errors import render_error
from portal.i18n import format_list
from portal.labels import relation_name, right_label, staff_status_label
from portal.policy import requests as lifecycle
from portal.policy.deadlines import may_extend, period_end
from portal.redirects import safe_next
from portal.services import decisions, instructions, signin, tasks
from portal.services import queue as queue_service  # `queue` is this blueprint's view
from portal.services.audit import entries_about
from portal.services.context import Context
from portal.services.export.formats import csv_cell
from portal.services.overview import build_overview
from portal.services.requests import RequestRefused
from portal.staff.forms import FeeForm, NoteForm, PersonForm, ReasonsForm, RefuseForm
from portal.staff.session import StaffMember, current_staff, staff_required
from portal.staff.wording import progress_text, task_text

blueprint = Blueprint("staff", __name__, url_prefix="/staff")
blueprint.add_app_template_global(wording.audit_action)
blueprint.add_app_template_global(wording.audit_actor)
blueprint.add_app_template_global(wording.actor_label)

ACTIONS: dict[str, type[FlaskForm]] = {
    "start": NoteForm, "ask": ReasonsForm, "extend": ReasonsForm, "complete": NoteForm, "refuse": RefuseForm,
    "fee": FeeForm,
}


def _me() -> StaffMember:
    member = current_staff()
    assert member is not None  # the guard let the view run
    return member


def _context() -> Context:
    """The context of a decision by the signed-in staff member."""
    return state.context(_me().actor)


@blueprint.app_context_processor
def staff_context() -> dict[str, object]:
    on_staff_page = has_request_context() and request.path.startswith("/staff")  # mails render without a request
    member = current_staff() if on_staff_page else None
    # One count per staff page, for the navigation: how many manual tasks wait.
    return {"staff_member": member, "open_task_count": tasks.open_count(request_session()) if member else 0}


def _filters() -> queue_service.QueueFilter:
    args = request.args
    wanted = args.get("state", "open")
    right = args.get("right") or None
    relation = args.get("relation") or None
    return queue_service.QueueFilter(
        state=wanted if wanted in ("open", "closed", "all", *lifecycle.STATES) else "open",
        right=right if right in lifecycle.ANSWERED_BY_STAFF else None,
        relation=relation if relation in state.register().relations else None,
        search=(args.get("q") or "")[:254] or None, page=args.get("page", 1, type=int) or 1,
    )


@blueprint.get("")
@staff_required
def home() -> WerkzeugResponse:
    return redirect(url_for("staff.queue"))


@blueprint.get("/requests")
@staff_required
def queue() -> str:
    filters = _filters()
    page = queue_service.queue(request_session(), filters, today=local_today())
    # Each label, date and list of relations once per page, not once per row: translating a label and
    # formatting a date or a list in the page's language cost more than all the rest of a row.
    relation_names = {kind: relation_name(kind) for kind in state.register().relations}
    days = {day for row in page.rows for day in (row.due, row.request.received_on)}
    kinds = {tuple(row.relations) for row in page.rows}
    lists = {k: format_list([relation_names[kind] for kind in k]) if k else "—" for k in kinds}
    return render_template(
        "staff/queue.html", page=page, filters=filters, relation_names=relation_names,
        state_names={status: staff_status_label(status) for status in lifecycle.STATES},
        right_names={right: right_label(right) for right in lifecycle.ANSWERED_BY_STAFF},
        dates={day: format_date(day, "d MMM y") for day in days},
        relations={row.request.id: lists[tuple(row.relations)] for row in page.rows},
    )


@blueprint.get("/requests.csv")
@staff_required
def queue_csv() -> Response:
    """The queue as the filters select it, for the company's records of processing."""
    filters = _filters()
    trail.note("queue_exported", actor=_me().actor, details={"state": filters.state, "right": filters.right})

    def rows() -> Iterator[str]:
        # The request's session was closed when the view returned: the stream opens it again, and closes it.
        session = request_session()
        try:
            yield from _csv_lines(session, filters)
        finally:
            session.close()

    def _csv_lines(session, filters):  # type: ignore[no-untyped-def]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(queue_service.QUEUE_COLUMNS)
        for row in queue_service.queue_rows(session, filters):
            writer.writerow([csv_cell(row[c]) for c in queue_service.QUEUE_COLUMNS])
            if buffer.tell() > 32_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    # Read within the request's context: its session is the one the rows come from (teardown closes it).
    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="requests-{local_today():%Y-%m-%d}.csv"'
    return response


@blueprint.get("/requests/<int:request_id>")
@staff_required
def request_page(request_id: int) -> str:
    session = request_session()
    found = decisions.request_with_history(session, request_id)
    if found is None:
        abort(404)
    trail.note("request_viewed", actor=_me().actor, subject_email=found.email, target=f"request:{found.id}")
    return _render_request(found)


def _render_request(found, forms: dict[str, FlaskForm] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    session = request_session()
    register = state.register()
    today = local_today()
    plan = None
    if found.right == "erasure" and found.status in lifecycle.OPEN_STATES:
        plan, _decisions = decisions.erasure_plan(session, found, register, today)
    first_month_ends = period_end(found.received_on, register.handling.extension_notice_within)
    forms = {name: (forms or {}).get(name) or form() for name, form in ACTIONS.items()}
    return render_template(
        "staff/request.html", r=found, overview=build_overview(session, found.email, register=register),
        plan=plan, forms=forms, register=register, right=register.rights.get(found.right), today=today,
        urgency=queue_service.urgency(found, today), first_month_ends=first_month_ends,
        can_extend=(found.status in lifecycle.OPEN_STATES and found.extended_due_on is None
                    and may_extend(found.received_on, today, notice_within=register.handling.extension_notice_within)),
        audit=entries_about(session, found.email, limit=30), button=ButtonForm(),
        moves=lifecycle.MOVES.get(found.status, frozenset()),
        progress=tasks.of_request(session, register, found.id), **_task_words(),
    ), status


REFUSALS = {
    "not_found": lambda r: _("This request does not exist."),
    "move_not_allowed": lambda r: _("This step is not possible for a request that is %(status)s.",
                                    status=staff_status_label(r.status) if r else ""),
    "reasons_required": lambda r: _("Write the reasons: the person is told them."),
    "question_required": lambda r: _("Write the question."),
    "ground_required": lambda r: _("Choose the ground of the refusal."),
    "already_extended": lambda r: _("This request was already extended once; the law allows two months more, "
                                    "no further."),
    "fee_out_of_range": lambda r: _("A reasonable fee is between 0.01 and 1,000 euro."),
}


def _refusal_text(reason: str, found) -> str:  # type: ignore[no-untyped-def]
    if reason == "extension_too_late":
        ends = period_end(found.received_on, state.register().handling.extension_notice_within)
        return _("The period can no longer be extended: an extension must be announced within the first month, "
                 "which ended on %(date)s (statement 2.4, Article 12(3) GDPR). Answer the request now, or refuse "
                 "it with reasons.", date=format_date(ends, "d MMMM y"))
    return REFUSALS.get(reason, lambda r: reason)(found)


@blueprint.post("/requests/<int:request_id>/<action>")
@staff_required(decides=True)
def decide(request_id: int, action: str) -> WerkzeugResponse | tuple[str, int]:
    if action not in ACTIONS:
        abort(404)
    session = request_session()
    found = decisions.request_with_history(session, request_id)
    if found is None:
        abort(404)
    form = ACTIONS[action]()
    if not form.validate_on_submit():
        return _render_request(found, {action: form}, 400)
    note = form.note.data or ""
    ctx = _context()
    try:
        if action == "start":
            decisions.start(session, ctx, request_id)
        elif action == "ask":
            decisions.ask(session, ctx, request_id, note)
        elif action == "extend":
            decisions.extend(session, ctx, request_id, note)
        elif action == "refuse":
            decisions.refuse(session, ctx, request_id, form.ground.data, note)
        elif action == "fee":
            decisions.ask_fee(session, ctx, request_id, int((Decimal(form.amount.data) * 100).to_integral_value()),
                              note)
        else:
            approved = {int(v) for v in request.form.getlist("approve") if v.isascii() and v.isdigit() and len(v) <= 18}
            decisions.complete(session, ctx, request_id, note, approved_changes=approved)
    except RequestRefused as refused:
        session.rollback()
        found = decisions.request_with_history(session, request_id)
        flash(_refusal_text(refused.reason, found), "error")
        return _render_request(found, {action: form}, 409)
    state.mail().wake()
    flash(_("Done. The person has been told by mail."), "success")
    return redirect(url_for("staff.request_page", request_id=request_id), code=303)


@blueprint.post("/people/sessions")
@staff_required(decides=True)
def end_sessions() -> WerkzeugResponse:
    """End every session of a person, for example on a suspected account takeover."""
    form = PersonForm()
    if not form.validate_on_submit():
        abort(400)
    count = decisions.end_person_sessions(request_session(), _context(), (form.email.data or "").strip().lower())
    flash(ngettext("%(num)d session of %(email)s ended.", "%(num)d sessions of %(email)s ended.", count,
                   email=form.email.data), "success")
    back = safe_next(request.form.get("next"), url_for("staff.queue"))
    return redirect(back if back.startswith("/staff/") else url_for("staff.queue"), code=303)


@blueprint.get("/reports")
@staff_required
def reports() -> str:
    report = queue_service.report(request_session(), today=local_today())
    return render_template("staff/reports.html", report=report)


@blueprint.get("/outbox")
@staff_required
def outbox() -> str:
    session = request_session()
    return render_template("staff/outbox.html", mails=decisions.failed_mails(session), button=ButtonForm(),
                           deliveries=tasks.failed_deliveries(session, state.register()))


@blueprint.post("/deliveries/<int:instruction_id>/retry")
@staff_required(decides=True)
def retry_delivery(instruction_id: int) -> WerkzeugResponse:
    """Send a failed webhook again, once its system was fixed."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    if instructions.retry(request_session(), _context(), instruction_id):
        flash(_("The instruction is queued to be sent again."), "success")
    return redirect(url_for("staff.outbox"), code=303)


def _task_words() -> dict[str, object]:
    """What the task templates need to say a task and whether the reader may tick it."""
    me = _me()
    return {"task_text": task_text, "progress_text": progress_text,
            "may_tick": lambda task: tasks.may_tick(task, email=me.email, decides=me.decides)}


@blueprint.get("/tasks")
@staff_required
def task_list() -> str:
    """The open manual tasks, per system and recipient, each saying exactly what to do."""
    return render_template("staff/tasks.html", groups=tasks.open_tasks(request_session(), state.register()),
                           button=ButtonForm(), **_task_words())


TASK_REFUSALS = {
    "not_found": lambda: _("This task does not exist."),
    "already_done": lambda: _("This task was already done."),
    "not_yours": lambda: _("Only the owner of this task or the data protection manager can mark it as done."),
}


@blueprint.post("/tasks/<int:instruction_id>/done")
@staff_required
def task_done(instruction_id: int) -> WerkzeugResponse | tuple[str, int]:
    """The owner (or the data protection manager) did what the task says."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    session = request_session()
    me = _me()
    back = safe_next(request.form.get("next"), url_for("staff.task_list"))
    back = back if back.startswith("/staff/") else url_for("staff.task_list")
    try:
        task = tasks.tick(session, _context(), instruction_id, email=me.email, decides=me.decides)
    except tasks.TaskRefused as refused:
        session.rollback()
        if refused.reason == "not_yours":
            return render_error(403, _("Not your task"), TASK_REFUSALS["not_yours"]())
        reason = refused.reason
        flash(TASK_REFUSALS[reason]() if reason in TASK_REFUSALS else reason, "error")
        return redirect(back, code=303)
    state.mail().wake()
    if tasks.request_completed(session, task.instruction.request_id):
        flash(_("Done. That was the last step: request #%(number)s is completed and the person has been told.",
                number=task.instruction.request_id), "success")
    else:
        flash(_("Done. Recorded as done by you."), "success")
    return redirect(back, code=303)


@blueprint.post("/outbox/<int:mail_id>/retry")
@staff_required(decides=True)
def retry_mail(mail_id: int) -> WerkzeugResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)
    if decisions.retry_mail(request_session(), _context(), mail_id):
        state.mail().wake()
        flash(_("The mail is queued again."), "success")
    return redirect(url_for("staff.outbox"), code=303)


@blueprint.post("/sign-out")
def sign_out() -> WerkzeugResponse:
    member = current_staff()
    if ButtonForm().validate_on_submit() and member is not None:
        signin.end_session(request_session(), member.key, settings=signin_settings(), now=utcnow())
        trail.note("signed_out", actor=member.actor)
    cookie.pop(STAFF_KEY, None)  # only the back office's slot: nothing else of this browser is touched
    flash(_("You are signed out of the back office."), "success")
    return redirect(url_for("auth.staff_sign_in"), code=303)
