"""The back office as a test client uses it: staff signed in by the real mail flow, requests filed as the
person's pages file them, the queue and a request's page read as a person reads them, decisions pressed."""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets

from portal import i18n
from portal.clock import local_today, utcnow
from portal.models import RightsRequest
from portal.policy.deadlines import answer_due
from portal.services.requests import submit_request
from tests.conftest import csrf_token_from
from tests.support.contexts import context
from tests.support.database import set_columns
from tests.support.mails import mails_to, plain, wait_for_mail
from tests.support.pages import form_to

VIEWER = "colleague@we-are.be"  # reads the back office, never decides
STAFF_LINK = re.compile(r"https?://[^/\s]+(/staff/sign-in/[A-Za-z0-9_-]{20,})")
CODE = re.compile(r"\b(\d{3} \d{3})\b")


def staff_sign_in(client, inbox, email: str, *, by: str = "code", next_path: str | None = None) -> str:
    """Sign in to the back office the way staff do: /staff/sign-in, the mail, then its code or its link.

    Returns where the sign-in sent the browser.
    """
    before = len(mails_to(inbox, email))
    page = client.get("/staff/sign-in" + (f"?next={next_path}" if next_path else ""))
    assert page.status_code == 200, page.status_code
    data = {"email": email, "csrf_token": csrf_token_from(page.get_data(as_text=True))}
    hidden_next = re.search(r'name="next" type="hidden" value="([^"]*)"', page.get_data(as_text=True))
    if hidden_next:
        data["next"] = html.unescape(hidden_next.group(1))
    asked = client.post("/staff/sign-in", data=data)
    assert asked.status_code == 303 and asked.headers["Location"] == "/sign-in/check-mail", asked.status_code
    body = plain(wait_for_mail(inbox, email, before + 1))
    if by == "link":
        link = STAFF_LINK.search(body)
        assert link, body
        opened = client.get(link.group(1))
        assert opened.status_code == 200
        done = client.post(link.group(1), data={"csrf_token": csrf_token_from(opened.get_data(as_text=True))})
    else:
        code = CODE.search(body)
        assert code, body
        check = client.get("/sign-in/check-mail").get_data(as_text=True)
        done = client.post("/sign-in/code", data={"code": code.group(1), "csrf_token": csrf_token_from(check)})
    assert done.status_code == 303, done.get_data(as_text=True)[:500]
    return done.headers["Location"]


def staff_browser(app, inbox, email: str, language: str = "en", **how: str):
    """A browser that chose `language` with the language switch and signed in to the back office as `email`."""
    client = app.test_client()
    client.set_cookie(i18n.COOKIE, language)
    assert staff_sign_in(client, inbox, email, **how) == "/staff/requests"
    return client


def file_request(session, register, email: str, right: str, *, due_on: dt.date | None = None,
                 received_on: dt.date | None = None, extended_due_on: dt.date | None = None, **extra) -> int:
    """A request as the person's pages file it (no mail), optionally moved in time in the database."""
    made = submit_request(session, context(register, today=local_today(), now=utcnow(), notifier=None), email=email,
                          right=right, idempotency_key=secrets.token_hex(16), **extra)
    values: dict[str, object] = {}
    if received_on is not None:
        values.update(received_on=received_on,
                      due_on=answer_due(received_on, response_time=register.handling.response_time))
    if due_on is not None:
        values.update(due_on=due_on, received_on=received_on or due_on - dt.timedelta(days=30))
    if extended_due_on is not None:
        values["extended_due_on"] = extended_due_on
    if values:
        set_columns(session, RightsRequest, RightsRequest.id == made.id, **values)
    return made.id


def request_row(session, request_id: int) -> RightsRequest:
    session.expire_all()
    return session.get(RightsRequest, request_id)


def text(response) -> str:
    """The page as a person reads it: no tags, entities resolved, white space collapsed."""
    raw = response.get_data(as_text=True)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)))


def squash(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def queue_lines(response) -> list[dict[str, str]]:
    """The rows of the queue, top to bottom: the request's number, the row's class and its cells as text."""
    assert response.status_code == 200, response.status_code
    rows = re.findall(r'<tr class="([^"]*)">\s*<td>(.*?)</td>\s*<td><a href="/staff/requests/(\d+)">(.*?)</a></td>'
                      r"\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>",
                      response.get_data(as_text=True), re.DOTALL)
    return [{"id": int(number), "class": css, "due": squash(due), "request": squash(what), "state": squash(state),
             "person": squash(person), "relations": squash(relations), "received": squash(received)}
            for css, due, number, what, state, person, relations, received in rows]


def decide(client, request_id: int, action: str, page=None, **fields):
    """Open the request's page (or use the one open) and press the decision's button, with what was typed or chosen."""
    page = page or client.get(f"/staff/requests/{request_id}")
    assert page.status_code == 200, page.status_code
    form = form_to(page, f"/staff/requests/{request_id}/{action}")
    return client.post(form.action, data={"csrf_token": form.values["csrf_token"], **fields})
