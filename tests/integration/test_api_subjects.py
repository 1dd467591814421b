"""The systems' API: a system pushes its own data with its own token, all or nothing, and hears the import's
report as JSON; anyone else, another system's data, an oversized body and a flood are refused."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from portal.models import ApiToken, DataItem, Subject, Suppression
from portal.services.context import Context
from tests.conftest import TEST_SECRET

TODAY = dt.date.today()


def crm_file(*, email: str = "sofie@example.com", category: str = "contact") -> dict:
    return {"format": "portal-subjects/1", "subjects": [{"email": email, "name": "Sofie", "relations": [
        {"kind": "customer", "started": "2019-03-01", "data": [
            {"category": category, "field": "phone", "value": "+32 9 000 00 00", "source": "provided",
             "recorded": "2019-03-01"}]}]}]}


def new_token(runner, system: str) -> str:
    result = runner.invoke(args=["create-api-token", system])
    assert result.exit_code == 0, result.output
    return re.search(r"\b(wap_\S+)", result.output).group(1)


def push(client, token: str | None, body: object, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/subjects", json=body, headers=headers, **kwargs)


def held(app, model) -> int:
    with app.extensions["portal.db"].session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_system_pushes_its_own_data_and_hears_the_report(app, client, runner):
    token = new_token(runner, "crm")
    answer = push(client, token, crm_file())
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["system"] == "crm"
    assert body["report"]["people"] == {"added": 1, "updated": 0}
    assert body["report"]["data_items"] == {"added": 1}
    with app.extensions["portal.db"].session() as session:
        assert session.scalar(select(DataItem.system)) == "crm"
    again = push(client, token, crm_file()).get_json()
    assert again["report"]["changed_anything"] is False


@pytest.mark.parametrize("authorization", [None, "Bearer wap_not-a-token", "Basic c3lzdGVtOnB3"])
def test_without_a_valid_token_nothing_is_imported(app, client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.post("/api/v1/subjects", json=crm_file(), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.get_json()["error"] == "unauthorized"
    assert held(app, Subject) == 0


def test_a_revoked_token_is_refused(app, client, runner):
    token = new_token(runner, "crm")
    assert runner.invoke(args=["create-api-token", "crm", "--revoke"]).exit_code == 0
    assert push(client, token, crm_file()).status_code == 401


def test_only_the_hash_of_a_token_is_kept(app, runner):
    token = new_token(runner, "crm")
    with app.extensions["portal.db"].session() as session:
        stored = session.scalar(select(ApiToken.token_hash))
    assert token not in stored and len(stored) == 64


def test_an_unknown_system_gets_no_token_and_the_systems_are_listed(runner):
    result = runner.invoke(args=["create-api-token", "erp"])
    assert result.exit_code != 0
    assert "'erp' is not a system of the register" in result.output
    assert "crm, accounting, recruitment, newsletter, events, analytics" in result.output


def test_a_system_cannot_push_another_systems_data(app, client, runner):
    token = new_token(runner, "newsletter")  # holds visitors' contact data, not customers'
    answer = push(client, token, crm_file())
    assert answer.status_code == 422
    assert answer.get_json()["problems"] == [{
        "path": "subjects[0].relations[0].kind",
        "message": "newsletter holds no data of customer relations (the register attributes them to crm, "
                   "accounting)"}]
    named = crm_file()
    named["subjects"][0]["relations"][0]["data"][0]["system"] = "accounting"
    crm = push(client, new_token(runner, "crm"), named).get_json()
    assert crm["problems"][0]["path"] == "subjects[0].relations[0].data[0].system"
    assert held(app, Subject) == 0


def test_a_bad_document_is_refused_naming_the_place(app, client, runner):
    answer = push(client, new_token(runner, "crm"), crm_file(category="recruitment"))
    assert answer.status_code == 422
    assert answer.get_json()["problems"][0]["path"] == "subjects[0].relations[0].data[0].category"
    unreadable = client.post("/api/v1/subjects", data=b"{not json", content_type="application/json",
                             headers={"Authorization": f"Bearer {new_token(runner, 'crm')}"})
    assert unreadable.status_code == 400 and unreadable.get_json()["error"] == "unreadable"


def test_an_oversized_body_is_refused(app, client, runner):
    app.config["API_MAX_BODY"] = 2000
    big = crm_file()
    big["subjects"][0]["relations"][0]["data"][0]["value"] = "x" * 3000
    answer = push(client, new_token(runner, "crm"), big)
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "too_large"
    assert held(app, Subject) == 0


def test_a_body_above_the_pages_limit_but_under_the_apis_is_accepted(app, client, runner):
    """The pages take 1 MB; the API its own limit (10 MB by default)."""
    document = crm_file()
    document["subjects"][0]["relations"][0]["data"] = [
        {"category": "correspondence", "field": "e-mail", "value": f"{n} " + "x" * 20_000, "source": "provided",
         "recorded": "2020-01-01"} for n in range(80)]
    assert len(json.dumps(document)) > 1024 * 1024
    answer = push(client, new_token(runner, "crm"), document)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["report"]["data_items"]["added"] == 80


def test_a_flood_is_refused(app, client, runner):
    token = new_token(runner, "crm")
    answers = [push(client, token, crm_file()).status_code for _ in range(31)]
    assert answers[:30] == [200] * 30 and answers[30] == 429


def test_erased_data_are_not_brought_back_by_a_push_and_strict_refuses(app, client, runner):
    key = Context.subject_key(Context(actor="system", register=app.extensions["portal.register"], now=dt.datetime.now(),
                                      today=TODAY, secret=TEST_SECRET.encode()), "sofie@example.com")
    with app.extensions["portal.db"].session() as session:
        session.add(Suppression(subject_key=key, relation="customer", category="contact", purpose=None, systems="crm",
                                reason="erasure", request_id=None, on=dt.date(2026, 12, 2), at=dt.datetime.now()))
        session.commit()
    token = new_token(runner, "crm")
    strict = client.post("/api/v1/subjects?strict=true", json=crm_file(), headers={"Authorization": f"Bearer {token}"})
    assert strict.status_code == 422
    answer = push(client, token, crm_file()).get_json()
    assert [entry["message"] for entry in answer["report"]["not_imported"]] == [
        "1 person not imported: erased on 2 December 2026 at the person's request",
        "1 relation not imported: erased on 2 December 2026 at the person's request",
        "1 data item not imported: erased on 2 December 2026 at the person's request"]
    assert held(app, DataItem) == 0


def test_the_import_command_skips_erased_data_and_strict_refuses(app, runner, tmp_path):
    key = Context(actor="system", register=app.extensions["portal.register"], now=dt.datetime.now(), today=TODAY,
                  secret=TEST_SECRET.encode()).subject_key("sofie@example.com")
    with app.extensions["portal.db"].session() as session:
        session.add(Suppression(subject_key=key, relation="customer", category="contact", purpose=None, systems="crm",
                                reason="retention", request_id=None, on=dt.date(2026, 12, 2), at=dt.datetime.now()))
        session.commit()
    file = tmp_path / "people.json"
    file.write_text(json.dumps(crm_file()), encoding="utf-8")
    strict = runner.invoke(args=["import-subjects", "--strict", str(file)])
    assert strict.exit_code != 0
    assert "1 data item erased on 2 December 2026 at the end of their retention period" in strict.output
    assert "nothing was imported" in strict.output
    result = runner.invoke(args=["import-subjects", str(file)])
    assert result.exit_code == 0, result.output
    assert "1 data item not imported: erased on 2 December 2026 at the end of their retention period" in result.output
    assert held(app, DataItem) == 0


def test_the_openapi_document_describes_the_endpoint(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = json.loads(answer.get_data(as_text=True))
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    body = document["paths"]["/subjects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PortalSubjects"}
    assert document["components"]["schemas"]["PortalSubjects"]["properties"]["format"] == {"const": "portal-subjects/1"}
    assert {"200", "401", "413", "422", "429"} <= set(document["paths"]["/subjects"]["post"]["responses"])
