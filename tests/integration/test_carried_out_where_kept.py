"""Issue 17 as the person reads it: where each category of their data is kept (the overview, the copy), and how
far each of our systems is with a decision about their data (the status page), in Dutch and in English.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import secrets
import zipfile

import pytest
from sqlalchemy import select

from portal.clock import local_today, utcnow
from portal.models import DataItem, Instruction, Relation, RightsRequest, Subject
from portal.services import decisions
from portal.services.requests import submit_request
from tests.conftest import csrf_token_from
from tests.support.contexts import context
from tests.support.database import set_columns
from tests.support.pages import in_language, long_date, signed_in
from tests.support.people import AN, BRAM
from tests.support.systems import carry_out_everywhere

LANGUAGES = ("nl", "en")
CRM_DONE = dt.datetime(2026, 12, 2, 10, 0)  # UTC: 2 December in Brussels too


def relation_of(session, email: str, kind: str) -> int:
    return session.scalar(select(Relation.id).join(Subject).where(Subject.email == email, Relation.kind == kind))


def restricted_by_the_manager(app, session, register, email: str, relation: int) -> int:
    """A restriction of one relation filed and completed as the pages would, the app's listeners hearing it."""
    ctx = context(register, today=local_today(), now=utcnow(), listeners=app.extensions["portal.listeners"])
    request_id = submit_request(session, ctx, email=email, right="restriction", idempotency_key=secrets.token_hex(16),
                          scope=f"relation:{relation}").id
    decisions.complete(session, context(register, actor="staff:dpo@we-are.be", today=local_today(), now=utcnow(),
                                        listeners=app.extensions["portal.listeners"]), request_id, "")
    return request_id


def instruction_where(request_id: int, party: str):
    return (Instruction.request_id == request_id) & (Instruction.party == party)


def kept_in(app, language: str, *names: str) -> str:
    return in_language(app, language, "Kept in %(systems)s.", systems=" and ".join(names) if language == "en"
                       else " en ".join(names))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_status_page_says_per_system_how_far_it_is_and_which_recipients_were_told(
    app, session, inbox, demo, register, language,
):
    customer = relation_of(session, AN, "customer")
    request_id = restricted_by_the_manager(app, session, register, AN, customer)
    parties = {(i.party_kind, i.party) for i in session.scalars(
        select(Instruction).where(Instruction.request_id == request_id))}
    assert {("system", "crm"), ("system", "accounting"), ("recipient", "processors")} <= parties
    # Our CRM confirmed on 2 December (a webhook system may have confirmed already: the day is pinned);
    # the accounting (a task) has not; the processors were told, any other recipient not yet.
    set_columns(session, Instruction, instruction_where(request_id, "crm"), status="done", done_at=CRM_DONE)
    set_columns(session, Instruction, instruction_where(request_id, "processors"), status="done", done_at=CRM_DONE)
    others = {party for kind, party in parties if kind == "recipient" and party != "processors"}

    an = signed_in(app, inbox, AN, language)
    page = page_text(an.get("/me/requests"))
    crm, accounting = (register.systems[s].name.in_language(language) for s in ("crm", "accounting"))
    assert in_language(app, language, "In our systems") in page
    assert in_language(app, language, "%(system)s: done on %(date)s", system=crm,
                       date=long_date(CRM_DONE.date(), language)) in page
    assert in_language(app, language, "%(system)s: still in progress", system=accounting) in page
    processors = register.recipients["processors"].name.in_language(language)
    assert in_language(app, language, "We also told this to: %(recipients)s.", recipients=processors) in page
    for other in others:
        assert register.recipients[other].name.in_language(language) not in page
    if language == "nl":  # the words of the issue, written out once
        assert "ons CRM: gedaan op 2 december 2026" in page
        assert "onze boekhouding: nog bezig" in page
        assert "Wij hebben dit ook laten weten aan: onderaannemers die in onze opdracht" in page

    # Another person's page never shows these instructions.
    bram = signed_in(app, inbox, BRAM, language)
    other_page = page_text(bram.get("/me/requests"))
    assert in_language(app, language, "In our systems") not in other_page
    assert crm not in other_page and processors not in other_page

    # The accounting confirms as well: the request is completed, and the page says both are done.
    carry_out_everywhere(app, session, request_id)
    session.expire_all()
    assert session.get(RightsRequest, request_id).status == "completed"
    page = page_text(an.get("/me/requests"))
    assert in_language(app, language, "%(system)s: still in progress", system=accounting) not in page
    assert in_language(app, language, "%(system)s: done on %(date)s", system=accounting,
                       date=long_date(local_today(), language)) in page


def test_a_request_that_changed_nothing_in_our_systems_says_nothing_about_them(app, session, inbox, demo, register):
    ctx = context(register, today=local_today(), now=utcnow(), listeners=app.extensions["portal.listeners"])
    submit_request(session, ctx, email=AN, right="access", idempotency_key=secrets.token_hex(16))
    page = page_text(signed_in(app, inbox, AN, "en").get("/me/requests"))
    assert in_language(app, "en", "In our systems") not in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_overview_says_per_category_where_it_is_kept(app, session, inbox, demo, register, language):
    crm, accounting = (register.systems[s].name.in_language(language) for s in ("crm", "accounting"))
    an = signed_in(app, inbox, AN, language)
    page = page_text(an.get("/me"))
    assert kept_in(app, language, crm) in page  # contact and correspondence, from the register
    assert kept_in(app, language, accounting) in page  # payment
    if language == "nl":
        assert "Bewaard in ons CRM." in page and "Bewaard in onze boekhouding." in page
    else:
        assert "Kept in our CRM." in page and "Kept in our accounting." in page

    # An item that names its system is kept there, whatever the register says of its category.
    customer = relation_of(session, AN, "customer")
    set_columns(session, DataItem, (DataItem.relation_id == customer) & (DataItem.category == "payment"),
                system="crm")
    page = page_text(an.get("/me"))
    assert kept_in(app, language, accounting) not in page
    category = page_text(an.get(f"/me/relations/{customer}/payment"))
    assert kept_in(app, language, crm) in category
    # Some items naming one system, the others none: both places are said.
    first = session.scalar(select(DataItem.id).where(DataItem.relation_id == customer,
                                                     DataItem.category == "payment").order_by(DataItem.id))
    set_columns(session, DataItem, (DataItem.relation_id == customer) & (DataItem.category == "payment")
                & (DataItem.id != first), system=None)
    category = page_text(an.get(f"/me/relations/{customer}/payment"))
    assert kept_in(app, language, crm, accounting) in category


def download(client, path: str):
    page = client.get("/me/downloads")
    answer = client.post(path, data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert answer.status_code == 200, answer.status_code
    return answer.get_data()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_copy_says_per_category_where_it_is_kept(app, session, inbox, demo, register, language):
    customer = relation_of(session, AN, "customer")
    crm, accounting = (register.systems[s].name.in_language(language) for s in ("crm", "accounting"))
    an = signed_in(app, inbox, AN, language)

    document = json.loads(download(an, "/me/downloads/copy.json"))
    kept = {(r["relation_id"], r["category"]): r for r in document["tables"]["categories"]}
    assert kept[customer, "contact"]["systems"] == ["crm"] and kept[customer, "contact"]["kept_in"] == [crm]
    assert kept[customer, "payment"]["systems"] == ["accounting"]
    assert kept[customer, "payment"]["kept_in"] == [accounting]
    items = document["tables"]["data_items"]
    assert kept[customer, "payment"]["items"] == sum(
        1 for i in items if (i["relation_id"], i["category"]) == (customer, "payment"))
    assert {(r["relation_id"], r["category"]) for r in document["tables"]["categories"]} == {
        (i["relation_id"], i["category"]) for i in items}

    with zipfile.ZipFile(io.BytesIO(download(an, "/me/downloads/copy.csv"))) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("categories.csv").decode("utf-8-sig"))))
        readme = archive.read("README.txt").decode("utf-8")
    assert {"relation_id": str(customer), "relation": "customer", "category": "payment", "items":
            str(kept[customer, "payment"]["items"]), "systems": "accounting", "kept_in": accounting} in rows
    assert in_language(app, language, "Where your data are kept") in readme

    readable = text_of(download(an, "/me/downloads/copy.html"))
    assert in_language(app, language, "Where your data are kept") in readable
    assert in_language(app, language, "Kept in") in readable and crm in readable and accounting in readable


def text_of(body: bytes | str) -> str:
    """What a person reads: no tags, entities resolved, white space collapsed."""
    raw = body.decode("utf-8") if isinstance(body, bytes) else body
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)))


def page_text(response) -> str:
    return text_of(response.get_data(as_text=True))
