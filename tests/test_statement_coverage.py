"""Every clause of the statement is proven by a test, and docs/statement-coverage.md says which.

Two parts. The gate itself: no clause of the register without a test that declares it
(`@pytest.mark.clause(...)`), no test naming a clause the register does not have, and the report in docs/
exactly what `flask --app wsgi statement-coverage --write` makes of them today. And a check of the gate:
given test files written here, it reads test-level, class-level and module-level markers with several ids
each, reports the clauses nobody declares and the ids nobody knows, and its `--check` fails saying so.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from portal.policy.register import REGISTER_PATH, default_register, parse_register
from tools import statement_coverage as coverage

REGISTER = default_register()
WRITE = "flask --app wsgi statement-coverage --write"


# --- the gate ---------------------------------------------------------------------------------------------------


def test_every_clause_is_proven_by_a_test_and_every_declared_clause_exists():
    result = coverage.coverage(REGISTER)
    assert len(result.clauses) == len(REGISTER.clauses) == 65
    assert result.untested == [], (
        f"clauses of the statement that no test declares with @pytest.mark.clause(...): {result.untested}")
    assert result.unknown == {}, f"tests naming clauses the register does not have: {result.unknown}"
    assert result.complete


def test_the_report_in_docs_is_current():
    expected = coverage.markdown(coverage.coverage(REGISTER), REGISTER)
    assert coverage.DOCUMENT.is_file(), f"{coverage.DOCUMENT} is missing: run `{WRITE}`"
    assert coverage.DOCUMENT.read_text(encoding="utf-8") == expected, (
        f"docs/statement-coverage.md is not current: run `{WRITE}`")


def test_the_check_command_passes_on_the_suite_as_it_is(runner):
    result = runner.invoke(args=["statement-coverage", "--check"])
    assert result.exit_code == 0, result.output
    assert "65 clauses, all proven by tests." in result.output


# --- the gate, checked ------------------------------------------------------------------------------------------


def two_clause_register():
    """The shipped register with every clause except 1.care and 1.scope taken out of section 1."""
    with REGISTER_PATH.open("rb") as handle:
        data = copy.deepcopy(tomllib.load(handle))
    data["clause"] = [c for c in data["clause"] if not c["id"].startswith("1.") or c["id"] in ("1.care", "1.scope")]
    return parse_register(data)


def write_tests(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture
def declaring(tmp_path: Path) -> list[Path]:
    """Test files that declare, between them, every clause but 1.scope, and one clause that does not exist."""
    everything_else = sorted(set(REGISTER.clauses) - {"1.care", "1.scope"})
    module = write_tests(tmp_path, "test_module_level.py", '''
        import pytest

        pytestmark = [pytest.mark.clause("1.care", "2.4.access"), pytest.mark.slow]


        def test_anything():
            pass
    ''')
    functions = write_tests(tmp_path, "test_functions.py", f'''
        import pytest
        from pytest import mark


        @pytest.mark.parametrize("x", [1])
        @pytest.mark.clause({", ".join(map(repr, everything_else))})
        def test_many(x):
            pass


        @mark.clause("2.4.portability", "9.9.nowhere")
        def test_with_a_typo():
            pass


        @pytest.mark.clause(*("2.4.fee", "2.4.channels"))
        def test_a_literal_list_unpacked():
            pass


        IDS = ("2.4.fee",)


        @pytest.mark.clause(*IDS)
        def test_ids_from_a_variable():
            pass


        class TestGrouped:
            @pytest.mark.clause("2.4.erasure")
            def test_inside(self):
                pass


        def test_without_marker():
            pass
    ''')
    return [module, functions]


def test_the_markers_are_read_at_module_function_and_method_level_with_several_ids_each(declaring):
    declared = coverage.declared_clauses(declaring)
    module, functions = (str(path) for path in declaring)
    assert declared["1.care"] == [module]
    assert sorted(declared["2.4.access"]) == sorted([module, f"{functions}::test_many"])
    assert declared["2.4.portability"] == [f"{functions}::test_many", f"{functions}::test_with_a_typo"]
    assert f"{functions}::test_inside" in declared["2.4.erasure"]
    assert declared["9.9.nowhere"] == [f"{functions}::test_with_a_typo"]
    assert f"{functions}::test_a_literal_list_unpacked" in declared["2.4.channels"]
    # Ids the source does not spell out cannot be read without running the file: they fail the gate.
    assert declared["<unreadable: *IDS>"] == [f"{functions}::test_ids_from_a_variable"]
    assert not any(test.endswith("test_without_marker") for tests in declared.values() for test in tests)


def test_a_clause_no_test_declares_is_untested_and_an_id_the_register_lacks_is_unknown(declaring):
    result = coverage.coverage(REGISTER, declaring)
    assert result.untested == ["1.scope"]
    assert sorted(result.unknown) == ["9.9.nowhere", "<unreadable: *IDS>"]
    assert not result.complete
    report = coverage.markdown(result, REGISTER)
    assert "**Not proven by any test:** `1.scope`" in report
    assert "`9.9.nowhere`" in report


def test_a_smaller_register_is_measured_against_its_own_clauses(declaring):
    small = two_clause_register()
    result = coverage.coverage(small, declaring)
    assert [c.id for c in result.clauses][:2] == ["1.care", "1.scope"]
    assert result.untested == ["1.scope"]
    # Ids of the full register that this one lacks are unknown to it, as is the typo.
    assert {"1.commitment", "1.contents", "9.9.nowhere"} <= set(result.unknown)


def in_folder(monkeypatch, folder: Path) -> None:
    """The command reads the tests of `folder` and keeps its report there (docs/ of a project in `folder`)."""
    monkeypatch.setattr(coverage, "ROOT", folder)
    monkeypatch.setattr(coverage, "TESTS", folder)
    monkeypatch.setattr(coverage, "DOCUMENT", folder / "statement-coverage.md")


def test_the_check_command_fails_and_names_what_is_missing(runner, declaring, tmp_path, monkeypatch):
    in_folder(monkeypatch, tmp_path)
    result = runner.invoke(args=["statement-coverage", "--check"])
    assert result.exit_code != 0
    assert "1 clause(s) without a test: 1.scope" in result.output
    assert "unknown clause '9.9.nowhere' named by" in result.output and "test_with_a_typo" in result.output
    assert "is not current" in result.output and "statement-coverage --write" in result.output


def test_write_then_check_passes_once_every_clause_has_a_test(runner, tmp_path, monkeypatch):
    write_tests(tmp_path, "test_all.py", f'''
        import pytest

        pytestmark = pytest.mark.clause({", ".join(map(repr, sorted(REGISTER.clauses)))})
    ''')
    in_folder(monkeypatch, tmp_path)
    stale = runner.invoke(args=["statement-coverage", "--check"])
    assert stale.exit_code != 0 and "is not current" in stale.output
    written = runner.invoke(args=["statement-coverage", "--write"])
    assert written.exit_code == 0, written.output
    checked = runner.invoke(args=["statement-coverage", "--check"])
    assert checked.exit_code == 0, checked.output


def test_an_unknown_clause_marker_stops_collection(tmp_path):
    """The collection hook of tests/conftest.py: a typo in a clause id fails `make test` before any test runs."""
    write_tests(tmp_path, "test_typo.py", '''
        import pytest


        @pytest.mark.clause("2.4.access")
        def test_fine():
            pass


        @pytest.mark.clause("2.4.acess")
        def test_typo():
            pass
    ''')
    root = Path(__file__).resolve().parent.parent
    # tests/conftest.py loaded as a plugin, as it is for the suite; pyproject.toml registers the marker.
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-c", str(root / "pyproject.toml"),
         "--rootdir", str(root), "-p", "no:cacheprovider", "--collect-only", "-q", str(tmp_path / "test_typo.py")],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )
    assert ran.returncode == pytest.ExitCode.USAGE_ERROR, ran.stdout + ran.stderr
    assert "unknown clause '2.4.acess'" in ran.stderr and "test_typo" in ran.stderr
    assert "2.4.access'" not in ran.stderr.replace("'2.4.acess'", "")
