"""Every promise accounted for: which tests prove each clause of the statement, and where the code keeps it.

Tests declare the clauses they prove with a marker, `@pytest.mark.clause("2.4.portability", ...)` (or a
module-level `pytestmark`). This module reads those markers from the test files' source (without
importing them), joins them with the register, and reports:

- every clause with its Dutch text, the parts of the portal that carry it out, and the tests;
- clauses no test declares, and clause ids tests declare that the register does not have.

`flask --app wsgi statement-coverage` prints it; `docs/statement-coverage.md` is the same report in
Markdown, kept current by a test.
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
    "right.portability": "portal/policy/portability.py, portal/services/export.py (the portable export)",
    "right.access": "portal/services/overview.py (the overview), portal/services/export.py (the copy)",
    "right.erasure": "portal/policy/erasure.py, portal/services/backoffice.py (completing an erasure)",
    "right.restriction": "portal/services/backoffice.py (restriction), portal/services/sweep.py (holds erasure)",
    "right.rectification": "portal/rights/routes.py (proposals), portal/services/backoffice.py, "
                           "portal/services/address.py (the sign-in address)",
    "source": "portal/services/subjects.py (import: every item names its source), account/_items.html",
    "retention": "portal/policy/retention.py (dates), portal/services/sweep.py (sweep-retention)",
    "recipient": "portal/services/overview.py (shared with), portal/services/export.py",
    "transfers": "portal/services/overview.py (EEA safeguards on the overview)",
    "handling.response_clause": "portal/policy/deadlines.py (Art. 12(3) dates), portal/services/requests.py, "
                                "portal/services/backoffice.py (extension in the first month)",
    "handling.fee_clause": "portal/services/backoffice.py (refusal and reasonable fee, with reasons)",
    "handling.verification_clause": "portal/services/signin.py (magic link: no password, no ID copy)",
    "handling.channels_clause": "templates/public/home.html, the footer (e-mail and postal address)",
    "controller": "the footer and the home page (templates/base.html, templates/public/home.html)",
    "authority": "templates/_macros.html (complaint address), mails of refused requests",
    "relation": "portal/services/overview.py (per relation: data, purposes, bases, retention)",
    "statement": "portal/public/statement.py (the statement page, rendered from the register)",
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
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ids = [cid for decorator in node.decorator_list for cid in _clause_ids(decorator)]
                for cid in ids:
                    found.setdefault(cid, []).append(f"{module}::{node.name}")
        for cid in module_ids:
            found.setdefault(cid, []).append(module)
    return found


def _clause_ids(node: ast.AST) -> list[str]:
    """The string arguments of every `...mark.clause(...)` call inside `node`."""
    ids = []
    for call in ast.walk(node):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "clause"
                and isinstance(call.func.value, ast.Attribute) and call.func.value.attr == "mark"):
            ids += [arg.value for arg in call.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
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
        add(recipient.clause, f"[recipient.{recipient.id}]", "recipient")
    add(register.transfers.clause, "[transfers]", "transfers")
    handling = register.handling
    for name in ("response_clause", "fee_clause", "verification_clause", "channels_clause"):
        add(getattr(handling, name), f"[handling].{name}", f"handling.{name}")
    add(register.controller.clause, "[controller]", "controller")
    add(register.authority.clause, "[authority]", "authority")
    for clause in register.clauses.values():
        if clause.kind == "derived" and clause.relation:
            add(clause.id, f"[relation.{clause.relation}] {clause.show}", "relation")
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


def markdown(result: Coverage, register: Register) -> str:
    """The report an auditor reads first: every clause, where it is kept, and what proves it."""
    lines = [
        "# Statement coverage: every clause, where the portal keeps it, and the tests that prove it",
        "",
        f"Generated by `flask --app wsgi statement-coverage --write` from the register (version "
        f"{register.statement.version}) and the `clause(...)` markers of the tests; a test keeps it current.",
        "",
        f"{len(result.clauses)} clauses, {len(result.clauses) - len(result.untested)} proven by at least one test.",
        "",
    ]
    if result.untested:
        lines += ["**Not proven by any test:** " + ", ".join(f"`{c}`" for c in result.untested), ""]
    if result.unknown:
        lines += ["**Tests naming clauses the register does not have:** "
                  + ", ".join(f"`{c}`" for c in sorted(result.unknown)), ""]
    section = None
    for clause in result.clauses:
        if clause.section != section:
            section = clause.section
            title = next(s.title.nl for s in register.sections if s.id == section)
            lines += [f"## {section}. {title}", ""]
        text = " ".join(clause.text_nl.split())
        lines += [f"### `{clause.id}`", "", f"> {text}", "", "Carried out by:", ""]
        lines += [f"- {where}" for where in clause.carried_out_by]
        lines += ["", "Proven by:", ""]
        lines += [f"- `{test}`" for test in clause.tests] or ["- (no test)"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
