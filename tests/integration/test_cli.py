"""The commands a person runs: init-db, import-subjects, seed-demo."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from portal.cli import DEMO_FILE
from portal.models import DataItem, Subject


def count(app, model) -> int:
    with app.extensions["portal.db"].session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_init_db_is_safe_to_run_again(runner):
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert "Database ready" in result.output


def test_import_subjects_reports_and_is_idempotent(app, runner, tmp_path):
    file = tmp_path / "people.json"
    file.write_text(DEMO_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    first = runner.invoke(args=["import-subjects", str(file)])
    assert first.exit_code == 0, first.output
    assert "8 added" in first.output
    items = count(app, DataItem)
    assert items > 40
    second = runner.invoke(args=["import-subjects", str(file)])
    assert second.exit_code == 0
    assert "Nothing changed" in second.output
    assert count(app, DataItem) == items


def test_import_subjects_lists_every_problem_and_imports_nothing(app, runner, tmp_path):
    document = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    document["subjects"][0]["relations"][0]["kind"] = "employee"
    document["subjects"][2]["relations"][0]["data"][1]["source"] = "gossip"
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    result = runner.invoke(args=["import-subjects", str(file)])
    assert result.exit_code == 1
    assert "subjects[0].relations[0].kind" in result.output
    assert "subjects[2].relations[0].data[1].source" in result.output
    assert "2 problem(s) found; nothing was imported" in result.output
    assert count(app, Subject) == 0


def test_import_subjects_refuses_a_file_that_is_not_json(runner, tmp_path):
    file = tmp_path / "people.json"
    file.write_text("email;name\nan@example.com;An\n", encoding="utf-8")
    result = runner.invoke(args=["import-subjects", str(file)])
    assert result.exit_code == 1
    assert "is not valid JSON" in result.output


def test_seed_demo_if_empty_only_fills_an_empty_database(app, runner):
    assert runner.invoke(args=["seed-demo", "--if-empty"]).exit_code == 0
    people = count(app, Subject)
    assert people >= 8
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "already holds people" in again.output
    assert count(app, Subject) == people
