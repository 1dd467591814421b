"""Every promise accounted for: which tests prove each clause of the statement, and where the code keeps it.

Tests declare the clauses they prove with a marker, `@pytest.mark.clause("2.4.portability", ...)` (or a
module-level `pytestmark`), with the ids written out as strings. This module reads those markers from the
test files' source (without importing them), joins them with the register, and reports:

- every clause with its Dutch text, the parts of the portal that carry it out, and the tests;
- clauses no test declares, and clause ids tests declare that the register does not have.

`flask --app wsgi statement-coverage` prints it; `docs/statement-coverage.md` is the same report in
Markdown, kept current by a test. It reads the source tree, so it lives with the project's tools, not in the
shipped package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from portal.policy.register import Register

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DOCUMENT = ROOT / "docs" / "statement-coverage.md"

# Where each kind of register element is carried out. Every clause is also published on the statement
# page (portal/public/statement.py), so that is where a clause without an element is kept.
CARRIED_OUT_BY = {
    "right": "portal/policy/rights.py (which rights apply to which purpose), portal/rights/ (exercising them)",
    "right.portability": "portal/policy/portability.py, portal/services/export/ (the portable export)",
    "right.access": "portal/services/overview.py (the overview), portal/services/export/ (the copy)",
    "right.erasure": "portal/policy/erasure.py, portal/services/decisions.py (completing an erasure)",
    "right.restriction": "portal/services/decisions.py (restriction), portal/services/sweep.py (holds erasure)",
    "right.rectification": "portal/services/requests.py (proposals), portal/services/decisions.py, "
                           "portal/services/address.py (the sign-in address)",
    "source": "portal/services/subjects.py (import: every item names its source), templates/account/_items.html",
    "retention": "portal/policy/retention.py (dates), portal/services/sweep.py (sweep-retention)",
    "recipient": "portal/services/overview.py (shared with), portal/services/export/",
    "transfers": "portal/services/overview.py (EEA safeguards on the overview)",
    "handling.response_clause": "portal/policy/deadlines.py (Art. 12(3) dates), portal/services/requests.py, "
                                "portal/services/decisions.py (extension in the first month)",
    "handling.fee_clause": "portal/services/decisions.py (refusal and reasonable fee, with reasons)",
    "handling.verification_clause": "portal/services/signin.py (magic link: no password, no ID copy)",
    "handling.channels_clause": "templates/public/home.html, the footer (e-mail and postal address)",
    "controller": "the footer and the home page (templates/base.html, templates/public/home.html)",
    "authority": "templates/_macros.html (complaint address), mails of refused requests",
    "relation": "portal/services/overview.py (per relation: data, purposes, bases, retention)",
    "statement": "portal/public/statement.py (the statement page, rendered from the register)",
}

# Clauses the portal carries out beyond publishing them where no register element names the place.
CLAUSE_CARRIED_OUT_BY = {
    "1.care": "every page and file of a person is limited to their own address (portal/services/overview.py, "
              "portal/services/export/); the audit trail keeps whose data apart (portal/services/audit.py)",
    "2.1.responsibility": "the footer of every page names We Are as responsible (templates/base.html)",
    "2.1.processor": "templates/public/home.html (a note for who came about an application built for a client), "
                     "templates/account/overview.html (an address we hold nothing under)",
    "2.3.processors": "the recipients of every purpose on the overview (templates/account/overview.html)",
    "2.3.eea": "templates/account/overview.html (outside the EEA only in limited cases, with the safeguards of 2.3)",
    "2.4.intro": "portal/policy/rights.py (the eight rights, decided for every purpose)",
    "4.changes": "the versions on the statement page (portal/public/routes.py), the notice of what changed on /me "
                 "(portal/services/versions.py)",
    "4.date": "the header of the statement page (templates/public/statement.html)",
}
MINIMISATION = ("the categories each purpose really uses ([purpose].categories, shown per purpose on the overview); "
                "portal/services/subjects.py (the import refuses a category the relation does not list)")
# How the kinds of test prove a clause, by the folder they live in.
TEST_KINDS = {
    "unit": "the rules, against the register and a real database",
    "integration": "the portal through HTTP, with a real database and SMTP server",
    "browser": "Chromium driving the running portal, as a person uses it",
    "property": "every form and the import, fed generated input",
}


@dataclass
class ClauseCoverage:
    id: str
    section: str
    text_nl: str
    carried_out_by: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)


@dataclass
class Coverage:
    clauses: list[ClauseCoverage]
    unknown: dict[str, list[str]]  # clause id a test names -> the tests

    @property
    def untested(self) -> list[str]:
        return [c.id for c in self.clauses if not c.tests]

    @property
    def complete(self) -> bool:
        return not self.untested and not self.unknown


def declared_clauses(test_files: Iterable[Path], root: Path = ROOT) -> dict[str, list[str]]:
    """Clause id -> the tests that declare it, read from the test files' source."""
    found: dict[str, list[str]] = {}
    for path in sorted(test_files):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        module_ids = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                    for t in node.targets):
                module_ids += _clause_ids(node.value)
        for defined in ast.walk(tree):
            if isinstance(defined, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ids = [cid for decorator in defined.decorator_list for cid in _clause_ids(decorator)]
                for cid in ids:
                    found.setdefault(cid, []).append(f"{module}::{defined.name}")
        for cid in module_ids:
            found.setdefault(cid, []).append(module)
    return found


def _is_clause_marker(call: ast.AST) -> bool:
    """`pytest.mark.clause(...)`, or `mark.clause(...)` after `from pytest import mark`."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "clause"):
        return False
    owner = call.func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
        isinstance(owner, ast.Name) and owner.id == "mark")


def _clause_ids(node: ast.AST) -> list[str]:
    """The clause ids of every clause marker inside `node`.

    Ids are read from the source, so they must be written out as strings (`*("a", "b")` is read too). An
    argument that cannot be read without running the test file (a variable, `*IDS`) is returned as
    "<unreadable: ...>", an id no register has: the gate then fails instead of silently losing a proof.
    """
    ids = []
    for call in ast.walk(node):
        if not _is_clause_marker(call):
            continue
        assert isinstance(call, ast.Call)
        for arg in call.args:
            values = arg.value.elts if isinstance(arg, ast.Starred) and isinstance(
                arg.value, (ast.List, ast.Tuple)) else [arg]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    ids.append(value.value)
                else:
                    ids.append(f"<unreadable: {ast.unparse(arg)}>")
    return ids


def carried_out_by(register: Register) -> dict[str, list[str]]:
    """Clause id -> the register elements citing it, each with the part of the portal that applies it."""
    where: dict[str, list[str]] = {}

    def add(clause: str, label: str, kind: str) -> None:
        where.setdefault(clause, []).append(f"{label}: {CARRIED_OUT_BY[kind]}")

    for right in register.rights.values():
        add(right.clause, f"[right.{right.id}]", f"right.{right.id}" if f"right.{right.id}" in CARRIED_OUT_BY
            else "right")
    for source in register.sources.values():
        add(source.clause, f"[source {source.id}]", "source")
    for rule in register.retention.values():
        add(rule.clause, f"[retention.{rule.id}]", "retention")
    for recipient in register.recipients.values():
        if any(recipient.id in purpose.recipients for purpose in register.purposes.values()):
            add(recipient.clause, f"[recipient.{recipient.id}]", "recipient")
        else:  # said plainly: an auditor must not read "shown on the overview" for a recipient no purpose names
            where.setdefault(recipient.clause, []).append(
                f"[recipient.{recipient.id}]: named by no purpose, so no overview or copy lists it; "
                f"{CARRIED_OUT_BY['statement']}")
    add(register.transfers.clause, "[transfers]", "transfers")
    handling = register.handling
    for name in ("response_clause", "fee_clause", "verification_clause", "channels_clause"):
        add(getattr(handling, name), f"[handling].{name}", f"handling.{name}")
    add(register.controller.clause, "[controller]", "controller")
    add(register.authority.clause, "[authority]", "authority")
    for clause in register.clauses.values():
        if clause.kind == "derived" and clause.relation:
            add(clause.id, f"[relation.{clause.relation}] {clause.show}", "relation")
        if clause.id.endswith(".minimisation"):
            where.setdefault(clause.id, []).append(MINIMISATION)
        elif clause.id in CLAUSE_CARRIED_OUT_BY:
            where.setdefault(clause.id, []).append(CLAUSE_CARRIED_OUT_BY[clause.id])
    return where


def coverage(register: Register, test_files: Iterable[Path] | None = None) -> Coverage:
    files = list(test_files) if test_files is not None else list(TESTS.rglob("test_*.py"))
    declared = declared_clauses(files)
    where = carried_out_by(register)
    clauses = [
        ClauseCoverage(
            id=clause.id, section=clause.section, text_nl=clause.text.nl,
            carried_out_by=where.get(clause.id) or [CARRIED_OUT_BY["statement"]],
            tests=sorted(set(declared.get(clause.id, []))),
        )
        for clause in register.ordered_clauses()
    ]
    unknown = {cid: tests for cid, tests in declared.items() if cid not in register.clauses}
    return Coverage(clauses=clauses, unknown=unknown)


def test_kind(test: str) -> str:
    """unit, integration, browser or property: the folder of tests/ the test lives in."""
    parts = Path(test.split("::", 1)[0]).parts
    return next((kind for kind in TEST_KINDS if kind in parts), "suite")


def _test_line(test: str) -> str:
    module, _, name = test.partition("::")
    where = f"[{module}](../{module})" if not Path(module).is_absolute() else f"`{module}`"
    if not name:
        return f"- every test in {where} ({test_kind(test)}, by a module-level marker)"
    return f"- `{name}` in {where} ({test_kind(test)})"


def _quote(text: str) -> list[str]:
    """The clause's own text as a block quote, its paragraphs and list items kept."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return [f"> {line}" if line else ">" for line in lines]


def _counts(tests: list[str]) -> str:
    """ "3 tests (2 unit, 1 browser)" """
    kinds = [test_kind(test) for test in tests]
    found = [f"{kinds.count(kind)} {kind}" for kind in (*TEST_KINDS, "suite") if kind in kinds]
    return f"{len(tests)} test{'s' if len(tests) != 1 else ''} ({', '.join(found)})" if tests else "none"


def markdown(result: Coverage, register: Register) -> str:
    """The report an auditor reads first: every clause, where it is kept, and what proves it."""
    proven = len(result.clauses) - len(result.untested)
    lines = [
        "# Statement coverage: every clause, where the portal keeps it, and the tests that prove it",
        "",
        f"Generated by `flask --app wsgi statement-coverage --write` from the register (version "
        f"{register.statement.version}) and the `clause(...)` markers of the tests; a test keeps it current.",
        "",
        "How to read it: every clause of the privacy statement, in its Dutch original (which prevails), with "
        "the parts of the portal that carry it out and the tests that prove it. The tests are of four kinds:",
        "",
        *[f"- **{kind}**: {meaning}." for kind, meaning in TEST_KINDS.items()],
        "",
        "`make test` runs them all, on SQLite and on PostgreSQL. Where a clause only informs (the introduction, "
        "the changes section), the proof is that its sentences are in the register verbatim and published on the "
        "statement page.",
        "",
        f"{len(result.clauses)} clauses, {proven} proven by at least one test.",
        "",
    ]
    if result.untested:
        lines += ["**Not proven by any test:** " + ", ".join(f"`{c}`" for c in result.untested), ""]
    if result.unknown:
        lines += ["**Tests naming clauses the register does not have:** "
                  + ", ".join(f"`{c}` ({', '.join(f'`{t}`' for t in result.unknown[c])})"
                              for c in sorted(result.unknown)), ""]
    lines += ["## At a glance", "", "| Clause | Section | Tests |", "|---|---|---|"]
    lines += [f"| `{clause.id}` | {clause.section} | {_counts(clause.tests)} |" for clause in result.clauses]
    lines.append("")
    section = None
    for clause in result.clauses:
        if clause.section != section:
            section = clause.section
            title = next(s.title.nl for s in register.sections if s.id == section)
            lines += [f"## {section}. {title}", ""]
        lines += [f"### `{clause.id}`", "", *_quote(clause.text_nl), "", "Carried out by:", ""]
        lines += [f"- {where}" for where in clause.carried_out_by]
        lines += ["", f"Proven by {_counts(clause.tests)}:" if clause.tests else "Proven by: no test.", ""]
        lines += [_test_line(test) for test in clause.tests]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
