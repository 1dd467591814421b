"""The back office's tasks: what the owners of the company's manual systems and recipients must do, and who ticks.

What an owner notices: /staff/tasks says exactly what to do in their system (erase what, keep what until
when), in their language, with a "Done" button; ticking the last one completes the request and the person
is told. What a colleague who is not the owner notices: the same text, no button, and a tick posted anyway
refused. What the data protection manager notices: failed webhook deliveries beside the failed mails with
their last error and a retry, a request whose systems lag behind marked at risk in the queue, and each
system's progress on the request's page. What an owner's inbox notices: one mail a day listing the tasks.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from sqlalchemy import func, select, update

from portal.clock import local_today, utcnow
from portal.models import AuditEntry, Instruction, OutboxMail, OwnerReminder, RightsRequest
from portal.services import instructions
from portal.services.context import AffectedData, Effect, EffectKind
from tests.conftest import csrf_token_from
from tests.support.contexts import context
from tests.support.mails import mails_to, plain, wait_for_mail
from tests.support.pages import form_to, html_lang, in_language, long_date
from tests.support.people import DPO, EVA, GERT, HANNE
from tests.support.staff import (
    VIEWER,
    decide,
    file_request,
    queue_lines,
    request_row,
    staff_browser,
    text,
)

FINANCE, EVENTS, PRIVACY = "finance@we-are.be", "events@we-are.be", "privacy@we-are.be"


@pytest.fixture
def staff(runner) -> None:
    """The data protection manager and a colleague who only reads (and owns nothing)."""
    for email, role in ((DPO, "dpo"), (VIEWER, "viewer")):
        result = runner.invoke(args=["create-staff", email, "--role", role])
        assert result.exit_code == 0, result.output


@pytest.fixture
def owners(runner) -> None:
    """The owners of the accounting and the event platform sign in to the back office as readers."""
    for email in (FINANCE, EVENTS, PRIVACY):
        result = runner.invoke(args=["create-staff", email, "--role", "viewer"])
        assert result.exit_code == 0, result.output


def open_instructions(session, **where) -> list[Instruction]:
    session.expire_all()
    query = select(Instruction).where(Instruction.status != instructions.DONE).order_by(Instruction.id)
    for column, value in where.items():
        query = query.where(getattr(Instruction, column) == value)
    return list(session.scalars(query))


def erased_by_dpo(app, inbox, session, register, email: str = GERT) -> tuple[int, object]:
    """The person's erasure request, completed by the data protection manager through the page: it waits for systems."""
    request_id = file_request(session, register, email, "erasure")
    dpo = staff_browser(app, inbox, DPO)
    done = decide(dpo, request_id, "complete", note="Erased as you asked.")
    assert done.status_code == 303, text(done)[:400]
    assert request_row(session, request_id).status == "carrying_out"
    return request_id, dpo


def confirm_webhooks(session, register, request_id: int) -> None:
    """The systems with a webhook confirm, as their call-back would."""
    for instruction in open_instructions(session, request_id=request_id, delivery="webhook"):
        instructions.confirm(session, context(register, actor="system", now=utcnow(), today=local_today()),
                             instruction.id, by=f"system:{instruction.party}")


def accounting_task(session, register, email: str = EVA) -> int:
    """An erasure that the accounting must carry out: payment details erased, delivery records kept until 2030."""
    effect = Effect(EffectKind.ERASED, email, None,
                    data=(AffectedData("customer", "payment", 2),),
                    kept=(AffectedData("supplier", "delivery", 3, dt.date(2030, 5, 31), "legal_obligation"),))
    ctx = context(register, now=utcnow(), today=local_today(), listeners=(instructions.carry_out,))
    ctx.took_effect(session, effect)
    session.commit()
    [task] = open_instructions(session, party="accounting")
    return task.id


def tick(client, page_url: str, instruction_id: int):
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    form = form_to(page, f"/staff/tasks/{instruction_id}/done")
    return client.post(form.action, data=form.values)


def task_item(response, instruction_id: int) -> str:
    match = re.search(rf'<li class="task" id="task-{instruction_id}">(.*?)</li>', response.get_data(as_text=True),
                      re.DOTALL)
    assert match, f"task {instruction_id} is not on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_task_of_an_erasure_says_what_to_erase_and_what_to_keep_until_when(
        app, session, inbox, demo, staff, register, language):
    task_id = accounting_task(session, register)
    client = staff_browser(app, inbox, DPO, language)
    page = client.get("/staff/tasks")
    assert page.status_code == 200 and html_lang(page) == language
    item = html.unescape(task_item(page, task_id))
    payment = register.categories["payment"].name.in_language(language)
    delivery = register.categories["delivery"].name.in_language(language)
    assert payment[1:] in item and delivery[1:] in item, item
    assert EVA in item and register.systems["accounting"].name.in_language(language) in item
    assert long_date(dt.date(2030, 5, 31), language) in item, item
    assert in_language(app, language, "Done") in text(page)
    assert register.systems["accounting"].name.in_language(language) in text(page)  # the group's heading
    # The navigation counts the open tasks (the accounting's, and the notices to the recipients, Art. 19).
    waiting = len(open_instructions(session, delivery="manual"))
    assert re.search(rf'{in_language(app, language, "Tasks")} <span class="badge">{waiting}</span>',
                     page.get_data(as_text=True))


def test_ticking_the_last_task_completes_the_request_and_the_audit_trail_says_who(
        app, session, inbox, demo, staff, owners, register):
    request_id, dpo = erased_by_dpo(app, inbox, session, register)
    confirm_webhooks(session, register, request_id)
    manual = open_instructions(session, request_id=request_id)
    assert manual and all(i.delivery == "manual" for i in manual)
    systems = [i for i in manual if i.party_kind == "system"]
    page = dpo.get(f"/staff/requests/{request_id}")
    assert "being carried out in our systems" in text(page) and "Carried out in our systems" in text(page)
    for instruction in manual:
        answer = tick(dpo, f"/staff/requests/{request_id}", instruction.id)
        assert answer.status_code == 303
    row = request_row(session, request_id)
    assert row.status == "completed", [(i.party, i.status) for i in open_instructions(session)]
    assert not open_instructions(session, request_id=request_id)
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "instruction_confirmed")
                                   .order_by(AuditEntry.seq)))
    assert {e.actor for e in entries if json.loads(e.details)["by"] == "staff"} == {f"staff:{DPO}"}
    assert len([e for e in entries if json.loads(e.details)["by"] == "staff"]) == len(manual)
    done = session.get(Instruction, manual[0].id)
    assert done.done_by == f"staff:{DPO}" and done.done_at is not None
    page = dpo.get(f"/staff/requests/{request_id}")
    assert f"done by {DPO}" in text(page)
    assert systems is not None  # the erasure was told to recipients or systems; all ticked


def test_a_colleague_who_is_not_the_owner_reads_the_task_but_cannot_tick_it(app, session, inbox, demo, staff, owners,
                                                                           register):
    task_id = accounting_task(session, register)
    viewer = staff_browser(app, inbox, VIEWER)
    page = viewer.get("/staff/tasks")
    assert page.status_code == 200 and EVA in task_item(page, task_id)
    assert f"/staff/tasks/{task_id}/done" not in page.get_data(as_text=True)
    events_owner = staff_browser(app, inbox, EVENTS)  # an owner, but of another system
    assert f"/staff/tasks/{task_id}/done" not in events_owner.get("/staff/tasks").get_data(as_text=True)
    refused = viewer.post(f"/staff/tasks/{task_id}/done",
                          data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(Instruction, task_id).status == "pending"


def test_the_owner_ticks_their_task(app, session, inbox, demo, staff, owners, register):
    task_id = accounting_task(session, register)
    finance = staff_browser(app, inbox, FINANCE, "nl")
    answer = tick(finance, "/staff/tasks", task_id)
    assert answer.status_code == 303 and answer.headers["Location"] == "/staff/tasks"
    session.expire_all()
    done = session.get(Instruction, task_id)
    assert (done.status, done.done_by) == ("done", f"staff:{FINANCE}")
    after = finance.get("/staff/tasks")
    assert f'id="task-{task_id}"' not in after.get_data(as_text=True)
    again = finance.post(f"/staff/tasks/{task_id}/done",
                         data={"csrf_token": csrf_token_from(after.get_data(as_text=True))})
    assert again.status_code == 303  # already done: said, nothing changes
    session.expire_all()
    assert session.get(Instruction, task_id).done_by == f"staff:{FINANCE}"


def test_a_failed_delivery_shows_with_its_error_and_retry_sends_it_again(app, session, inbox, demo, staff, register):
    request_id, dpo = erased_by_dpo(app, inbox, session, register)
    [hook, *_] = open_instructions(session, request_id=request_id, delivery="webhook")
    session.execute(update(Instruction).where(Instruction.id == hook.id).values(
        status="failed", attempts=8, last_error="HTTP 500 from crm.we-are.be"))
    session.commit()
    page = dpo.get("/staff/outbox")
    assert "HTTP 500 from crm.we-are.be" in text(page)
    assert register.systems[hook.party].name.in_language("en") in text(page)
    viewer = staff_browser(app, inbox, VIEWER)
    assert f"/staff/deliveries/{hook.id}/retry" not in viewer.get("/staff/outbox").get_data(as_text=True)
    form = form_to(page, f"/staff/deliveries/{hook.id}/retry")
    answer = dpo.post(form.action, data=form.values)
    assert answer.status_code == 303
    session.expire_all()
    again = session.get(Instruction, hook.id)
    assert again.status in ("pending", "accepted", "done", "failed") and again.attempts <= 1
    assert again.status != "failed" or again.attempts == 1  # re-queued (a worker may already have tried it)
    assert "HTTP 500 from crm.we-are.be" not in text(dpo.get("/staff/outbox")) or again.status == "failed"


def test_the_owners_get_one_mail_a_day_listing_their_tasks(app, session, inbox, demo, staff, register, runner):
    task_id = accounting_task(session, register)
    first = runner.invoke(args=["remind-owners"])
    assert first.exit_code == 0, first.output
    assert FINANCE in first.output
    mail = wait_for_mail(inbox, FINANCE)
    body = plain(mail)
    assert EVA in body and "/staff/tasks" in body
    assert register.systems["accounting"].name.in_language("nl") in body  # Dutch: the statement's own language
    assert long_date(dt.date(2030, 5, 31), "nl") in body
    second = runner.invoke(args=["remind-owners"])
    assert second.exit_code == 0 and FINANCE not in second.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.recipient == FINANCE)) == 1
    # The next day the owner is reminded again, while the task waits.
    session.execute(update(OwnerReminder).values(sent_on=local_today() - dt.timedelta(days=1)))
    session.commit()
    third = runner.invoke(args=["remind-owners"])
    assert FINANCE in third.output
    wait_for_mail(inbox, FINANCE, 2)
    assert len(mails_to(inbox, FINANCE)) == 2 and task_id


def test_the_queue_marks_a_request_at_risk_when_its_systems_lag_near_its_answer_date(
        app, session, inbox, demo, staff, register):
    request_id, dpo = erased_by_dpo(app, inbox, session, register)
    calm = file_request(session, register, HANNE, "erasure")
    lines = {line["id"]: line for line in queue_lines(dpo.get("/staff/requests"))}
    assert "being carried out in our systems" in lines[request_id]["state"]
    assert "at risk" not in lines[request_id]["state"]
    session.execute(update(RightsRequest).where(RightsRequest.id.in_([request_id, calm])).values(
        due_on=local_today() + dt.timedelta(days=3)))
    session.commit()
    lines = {line["id"]: line for line in queue_lines(dpo.get("/staff/requests"))}
    assert "at risk" in lines[request_id]["state"]
    assert "at risk" not in lines[calm]["state"]  # near its date, but not waiting for systems
    nl = staff_browser(app, inbox, DPO, "nl")
    lines = {line["id"]: line for line in queue_lines(nl.get("/staff/requests"))}
    assert in_language(app, "nl", "at risk: our systems lag behind") in lines[request_id]["state"]


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_task_pages_render_in_both_languages(app, session, inbox, demo, staff, owners, register, language):
    request_id, _dpo = erased_by_dpo(app, inbox, session, register)
    client = staff_browser(app, inbox, PRIVACY, language)
    for url in ("/staff/tasks", f"/staff/requests/{request_id}", "/staff/outbox", "/staff/requests"):
        page = client.get(url)
        assert page.status_code == 200 and html_lang(page) == language, url
    page = client.get("/staff/tasks")
    assert in_language(app, language, "Tasks") in text(page)
    processors = register.recipients["processors"]
    if any(i.party == "processors" for i in open_instructions(session, request_id=request_id)):
        assert processors.name.in_language(language) in text(page)
        assert "/staff/tasks/" in page.get_data(as_text=True)  # privacy@ owns the processors' notice


def test_the_demo_leaves_tasks_waiting_for_owners_who_can_sign_in(app, session, inbox, runner):
    result = runner.invoke(args=["seed-demo", "--with-tasks"])
    assert result.exit_code == 0, result.output
    waiting = open_instructions(session, delivery="manual")
    assert {i.party for i in waiting} >= {"events", "processors"}, [(i.party, i.event_type) for i in waiting]
    again = runner.invoke(args=["seed-demo", "--with-tasks"])  # safe to run again: no second set of tasks
    assert again.exit_code == 0 and len(open_instructions(session, delivery="manual")) == len(waiting)
    owner = staff_browser(app, inbox, EVENTS)
    page = owner.get("/staff/tasks")
    assert HANNE in text(page) and "/done" in page.get_data(as_text=True)
