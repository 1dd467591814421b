"""Commands under `flask --app wsgi`: init-db, import-subjects, seed-demo, send-mail, deliver-events, create-staff,
verify-audit, sweep-retention."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from portal import state
from portal.clock import local_today, utcnow
from portal.database import request_session
from portal.demo.back_office import seed_tasks
from portal.models import Subject
from portal.notify import owner_tasks_mail
from portal.services import api_tokens, audit, webhooks
from portal.services import staff as staff_service  # `staff` is the account a command creates
from portal.services import tasks as tasks_service
from portal.services.email_address import InvalidEmail
from portal.services.outbox import deliver_due
from portal.services.subjects import ImportRejected, ImportReport, import_subjects, read_document
from portal.services.sweep import Finding, Hold, SweepReport, sweep

DEMO_FILE = Path(__file__).resolve().parent / "demo" / "subjects.json"


def _run_import(raw: bytes, label: str, *, strict: bool = False) -> ImportReport:
    try:
        document = read_document(raw)
        subjects = document.get("subjects") if isinstance(document, dict) else None
        total = len(subjects) if isinstance(subjects, list) else 0
        ctx = state.context(audit.SYSTEM)  # its secret finds what people had erased or stopped
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
            return import_subjects(
                document, session=request_session(), register=ctx.register,
                today=dt.date.today(), progress=bar.update, secret=ctx.secret, strict=strict,
            )
    except ImportRejected as rejected:
        for problem in rejected.problems:
            click.echo(f"  {problem}", err=True)
        raise click.ClickException(
            f"{len(rejected.problems)} problem(s) found; nothing was imported. Fix them and import again."
        ) from rejected


def _print_report(report: ImportReport) -> None:
    click.echo(
        f"{report.subjects_in_file} people and {report.items_in_file} data items in the file.\n"
        f"People: {report.subjects_created} added, {report.subjects_updated} updated. "
        f"Relations: {report.relations_created} added, {report.relations_updated} updated. "
        f"Data items: {report.items_created} added. "
        f"Consents: {report.consents_created} added, {report.consents_updated} withdrawals recorded."
    )
    for line in report.not_imported():
        click.echo(line)
    if not report.changed_anything:
        click.echo("Nothing changed: the database already held everything in this file.")


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or migrate the database schema to the newest version."""
    database = state.database()
    database.migrate()
    click.echo(f"Database ready: {database.engine.url.render_as_string(hide_password=True)}")


@click.command("import-subjects")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Refuse the whole file when it holds anything a person had erased or "
              "stopped, instead of skipping it.")
def import_subjects_command(file: Path, strict: bool) -> None:
    """Import people from a portal-subjects/1 JSON FILE (see docs/import-format.md)."""
    _print_report(_run_import(file.read_bytes(), f"Importing {file.name}", strict=strict))


@click.command("create-api-token")
@click.argument("system")
@click.option("--revoke", is_flag=True, help="End every token of SYSTEM instead of making a new one.")
@with_appcontext
def create_api_token(system: str, revoke: bool) -> None:
    """Make a bearer token with which SYSTEM (a system id of the register) pushes to POST /api/v1/subjects."""
    ctx = state.context(audit.SYSTEM)
    try:
        if revoke:
            count = api_tokens.revoke_tokens(request_session(), ctx, system)
            click.echo(f"{count} token(s) of {system} revoked: they are refused from now on.")
            return
        token = api_tokens.create_token(request_session(), ctx, system)
    except api_tokens.UnknownSystem as unknown:
        raise click.ClickException(f"{system!r} is not a system of the register. Its systems: "
                                   f"{', '.join(unknown.systems)}.") from unknown
    click.echo(f"A new token for {system}. It is shown only this once; only its hash is kept:\n\n  {token}\n\n"
               f"The system sends it as 'Authorization: Bearer <token>' to {state.settings().base_url}/api/v1/subjects"
               f" (see /api/v1/openapi.json). End it with: flask --app wsgi create-api-token {system} --revoke")


@click.command("seed-demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Only load the demo people into a database without any person.")
@click.option("--with-tasks", is_flag=True, help="Also take a few decisions, so that tasks wait in the back office "
              "for their owners (who get staff accounts).")
def seed_demo(if_empty: bool, with_tasks: bool) -> None:
    """Load the demo people listed in the README (safe to run again)."""
    if if_empty and request_session().scalar(select(func.count()).select_from(Subject)):
        click.echo("The database already holds people; demo people not loaded.")
        return
    _print_report(_run_import(DEMO_FILE.read_bytes(), "Loading demo people"))
    if with_tasks:
        waiting = seed_tasks(request_session(), state.context(audit.SYSTEM))
        state.mail().wake()
        click.echo(f"Back office: {waiting} tasks wait for their owners at {state.settings().base_url}/staff/tasks.")


@click.command("send-mail")
@click.option("--loop", is_flag=True, help="Keep running as a worker, delivering what becomes due.")
@click.option("--interval", default=15.0, show_default=True, help="Seconds between rounds with --loop.")
@with_appcontext
def send_mail(loop: bool, interval: float) -> None:
    """Deliver the mails waiting in the outbox (once, or as a long-running worker with --loop)."""
    database, settings, transport = state.database(), state.settings(), state.transport()

    def deliver() -> str | None:
        report = deliver_due(database.sessions, transport, sender=settings.mail_from, secret=settings.secret_key)
        if report.sent or report.retried or report.failed or not loop:
            return f"{report.sent} sent, {report.retried} to retry later, {report.failed} failed."
        return None

    _work("Mail", deliver, loop=loop, interval=interval)


@click.command("deliver-events")
@click.option("--loop", is_flag=True, help="Keep running as a worker, delivering what becomes due.")
@click.option("--interval", default=15.0, show_default=True, help="Seconds between rounds with --loop.")
@with_appcontext
def deliver_events(loop: bool, interval: float) -> None:
    """Post the systems' webhook events that are due (once, or as a long-running worker with --loop)."""
    database = state.database()

    def deliver() -> str | None:
        report = webhooks.deliver_due(database.sessions, state.webhooks(), context=lambda: state.context(audit.SYSTEM))
        if report.done:
            state.mail().wake()  # a system's answer completed a request: its person is told
        if report.done or report.accepted or report.retried or report.failed or not loop:
            return (f"{report.done} done, {report.accepted} accepted (to be confirmed), "
                    f"{report.retried} to retry later, {report.failed} failed.")
        return None

    _work("Events", deliver, loop=loop, interval=interval)


def _work(label: str, deliver: Callable[[], str | None], *, loop: bool, interval: float) -> None:
    """One round of `deliver`, or rounds every `interval` seconds that outlast a database that is away."""
    while True:
        try:
            said = deliver()
        except SQLAlchemyError as error:
            if not loop:
                raise
            # The database is away: what waits is in it, so the worker waits too and tries again.
            click.echo(f"{label}: the database did not answer ({type(error).__name__}); trying again in "
                       f"{interval:g} s.", err=True)
            time.sleep(interval)
            continue
        if said:
            click.echo(f"{label}: {said}")
        if not loop:
            return
        time.sleep(interval)


@click.command("create-staff")
@click.argument("email")
@click.option("--role", type=click.Choice(staff_service.ROLES), required=True,
              help="dpo: the data protection manager, who decides; viewer: reads the back office only.")
@with_appcontext
def create_staff(email: str, role: str) -> None:
    """Give an address access to the back office at /staff (or change its role)."""
    try:
        staff, created = staff_service.create_staff(request_session(), email, role, now=utcnow())
    except InvalidEmail as invalid:
        raise click.ClickException(f"{email!r} is not one e-mail address.") from invalid
    verb = "added" if created else "updated"
    click.echo(f"Staff member {staff.email} {verb} with role {staff.role}. They sign in at "
               f"{state.settings().base_url}/staff/sign-in")


@click.command("remind-owners")
@with_appcontext
def remind_owners() -> None:
    """Mail each owner of a manual system or recipient their open tasks, at most once a day (run it daily)."""
    ctx = state.context(audit.SYSTEM)
    # Dutch: the staff account holds no language, and the company's owners read the statement's own language.
    mailed = tasks_service.remind_owners(request_session(), ctx, owner_tasks_mail)
    if mailed:
        state.mail().wake()
    click.echo(f"Owners mailed their open tasks: {len(mailed)}" + (f" ({', '.join(mailed)})." if mailed else "."))


@click.command("verify-audit")
@with_appcontext
def verify_audit() -> None:
    """Check the whole hash chain of the audit trail; name the first entry that does not verify."""
    result = audit.verify(request_session())
    if not result.intact:
        raise click.ClickException(
            f"The audit trail is broken at entry {result.broken_at}: {result.problem}. "
            f"{result.checked} entries before it verify.")
    click.echo(f"The audit trail is intact: {result.checked} entries verify. "
               f"Head hash: {result.head_hash} (keep it elsewhere to detect a rewritten trail later).")


HOLD_WORDS = {
    Hold.OPEN_REQUEST: "held: the person has a request in progress",
    Hold.RESTRICTED: "held: processing is restricted at the person's request",
    Hold.NEEDED_ELSEWHERE: "held: still needed as {held_by}{until}",
    Hold.AWAITING_RENEWAL: "held: the person is asked first whether to renew their consent",
}


def _finding_line(finding: Finding, apply: bool) -> str:
    what = (f"  {finding.relation} / {finding.category}: {finding.items} item(s), retention ended "
            f"{finding.until.isoformat()} (rule {finding.rule}, statement {finding.clause})")
    if finding.erase:
        return f"{what} -> {'erased' if apply else 'would erase'}"
    until = f" until {finding.held_until.isoformat()}" if finding.held_until else " (no end date yet)"
    return f"{what} -> " + HOLD_WORDS[finding.hold].format(held_by=finding.held_by, until=until)  # type: ignore[index]


@click.command("sweep-retention")
@click.option("--apply", is_flag=True, help="Erase what is due. Without it, only show what would be erased.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Sweep as on this day (YYYY-MM-DD) instead of today, e.g. to preview.")
@click.option("--batch-size", default=500, show_default=True, help="People per transaction.")
@click.option("--quiet", is_flag=True, help="Print only the totals.")
@with_appcontext
def sweep_retention(apply: bool, today: dt.datetime | None, batch_size: int, quiet: bool) -> None:
    """Carry out the statement's retention periods: a dry run by default, erasing only with --apply.

    Safe to run again and again: each batch of people is one transaction, and what was erased is not
    found again. Applicants whose talent-pool consent reaches its end are asked by mail to renew.
    """
    day = today.date() if today else local_today()
    now = utcnow()
    database = state.database()
    with database.session() as counting:  # closed at once: a session left open holds a connection
        total = counting.scalar(select(func.count()).select_from(Subject)) or 0
    click.echo(f"Retention sweep as on {day.isoformat()}: {'ERASING' if apply else 'dry run, nothing is changed'}.")
    ctx = replace(state.context(audit.SYSTEM), today=day, now=now)
    report = SweepReport()
    with click.progressbar(length=total, label="People", file=sys.stderr, show_pos=True) as bar:
        for plan in sweep(database.sessions, ctx, apply=apply, batch=batch_size, progress=bar.update, report=report):
            if quiet:
                continue
            by_person: dict[str, list[Finding]] = {}
            for finding in plan.findings:
                by_person.setdefault(finding.email, []).append(finding)
            for email, findings in by_person.items():
                click.echo(email)
                for finding in findings:
                    click.echo(_finding_line(finding, apply))
            for renewal in plan.renewals:
                click.echo(f"{renewal.email}\n  {renewal.purpose}: consent period ended "
                           f"{renewal.renewal_due.isoformat()} -> {'asked' if apply else 'would ask'} whether to "
                           f"renew by {renewal.answer_by.isoformat()}; erased on {renewal.erase_on.isoformat()} "
                           "unless renewed")
    if apply:
        state.mail().wake()
    verb = "erased" if apply else "to erase"
    click.echo(
        f"{report.people} people checked. Items {verb}: {report.items_erased} "
        f"(in {report.categories_erased} categories); held back: {report.items_held}. "
        f"Relations {'removed' if apply else 'to remove'}: {report.relations_removed}; people "
        f"{'removed' if apply else 'to remove'}: {report.people_removed}. Renewal questions "
        f"{'sent' if apply else 'to send'}: {report.renewals_asked}."
    )
    if not apply and (report.items_erased or report.renewals_asked):
        click.echo("Run again with --apply to carry this out.")


def _coverage_tool() -> ModuleType:
    """tools/statement_coverage.py of the source tree: it reads tests/ and docs/, so it is not in the package."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "tools" / "statement_coverage.py").is_file():
        raise click.ClickException("statement-coverage reads the project's tests and docs: run it from a checkout "
                                   "of the source tree.")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("tools.statement_coverage")


@click.command("statement-coverage")
@click.option("--write", is_flag=True, help="Write the report to docs/statement-coverage.md.")
@click.option("--check", is_flag=True, help="Fail when a clause has no test, a test names an unknown clause, or "
              "the report in docs/ is not current.")
@with_appcontext
def statement_coverage(write: bool, check: bool) -> None:
    """Every clause of the statement: its Dutch text, where the portal carries it out, the tests that prove it."""
    coverage = _coverage_tool()
    register = state.register()
    result = coverage.coverage(register)
    report = coverage.markdown(result, register)
    document = coverage.DOCUMENT.relative_to(coverage.ROOT)
    if write:
        coverage.DOCUMENT.write_text(report, encoding="utf-8")
        click.echo(f"Wrote {document}.")
    elif not check:
        click.echo(report)
    problems = []
    if result.untested:
        problems.append(f"{len(result.untested)} clause(s) without a test: {', '.join(result.untested)}")
    for cid, tests in sorted(result.unknown.items()):
        problems.append(f"unknown clause {cid!r} named by {', '.join(tests)}")
    if check and (not coverage.DOCUMENT.exists() or coverage.DOCUMENT.read_text(encoding="utf-8") != report):
        problems.append(f"{document} is not current: run `flask --app wsgi statement-coverage --write`")
    if problems and (check or not write):
        raise click.ClickException("; ".join(problems))
    click.echo(f"{len(result.clauses)} clauses, all proven by tests." if not problems else "")


def init_app(app: Flask) -> None:
    for command in (init_db, import_subjects_command, seed_demo, send_mail, create_staff, remind_owners, verify_audit,
                    sweep_retention, statement_coverage):
        app.cli.add_command(command)
    app.cli.add_command(deliver_events)
    app.cli.add_command(create_api_token)
