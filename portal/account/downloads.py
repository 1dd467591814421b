"""Downloading one's own data: the copy (right of access) and the portable export, streamed.

Only the signed-in person, only for their own address, only after a fresh confirmation; downloads are
form posts (never a link someone could guess or a browser could prefetch), answered as attachments that
nothing may cache. Each download is recorded when it starts and completed with its digests when its
last byte is out; a completed download answers the person's open access or portability request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, render_template, stream_with_context
from flask_babel import force_locale, to_user_timezone
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.account import export_wording
from portal.auth.forms import ButtonForm
from portal.auth.session import fresh_confirmation_required, signin_settings
from portal.database import request_session
from portal.i18n import BABEL_LOCALES, current_language, local_today, localise
from portal.models import Subject
from portal.policy import requests as lifecycle
from portal.rights.mail import compose_request_mail
from portal.services import audit
from portal.services import export as service
from portal.services.outbox import utcnow
from portal.services.overview import build_overview
from portal.services.requests import RequestRefused, change_status, requests_of

blueprint = Blueprint("downloads", __name__, url_prefix="/me/downloads")

ANSWERS = {service.COPY: "access", service.PORTABLE: "portability"}  # the right each kind of download answers
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "csv": "application/zip"}
EXTENSIONS = {"json": "json", "csv": "zip"}


def _register():  # type: ignore[no-untyped-def]
    return current_app.extensions["portal.register"]


@blueprint.app_template_filter("basis_name")
def basis_name(basis_id: str) -> str:
    return localise(_register().bases[basis_id].name)


@blueprint.app_template_filter("export_column")
def export_column(column: str) -> str:
    return export_wording.column_label(column)


@blueprint.get("")
@fresh_confirmation_required
def index() -> str:
    session = request_session()
    overview = build_overview(session, current_user.email, register=_register())
    return render_template(
        "account/downloads.html", overview=overview,
        groups=service.portable_groups(session, overview, _register()),
        downloads=service.downloads_of(session, current_user.email), form=ButtonForm(),
        right=_register().rights["portability"], register=_register(),
    )


def _file_name(kind: str, fmt: str, now: dt.datetime) -> str:
    stem = "copy-of-my-data" if kind == service.COPY else "portable-export"
    day = to_user_timezone(now.replace(tzinfo=dt.UTC)).date()  # the date the person sees on the page
    return f"we-are-{stem}-{day:%Y-%m-%d}.{EXTENSIONS[fmt]}"


def _readme(kind: str, columns: dict[str, tuple[str, ...]]):  # type: ignore[no-untyped-def]
    def write(header: service.Header, digest: str, entries: list[service.ManifestEntry]) -> str:
        return export_wording.readme(kind, header.subject_email, header.as_dict()["generated_at"],
                                     header.statement_version, digest, entries, columns)
    return write


def _completed(download_id: int, kind: str, fmt: str, receipt: service.Receipt) -> None:
    """The last byte is out: record the digests, and answer the person's open request for this right."""
    session = request_session()
    now = utcnow()
    service.finish_download(session, download_id, receipt, now=now)
    audit.record(session, actor=audit.PERSON, action="downloaded", now=now, target=f"download:{download_id}",
                 details={"kind": kind, "format": fmt, "rows": receipt.rows,
                          "manifest_digest": receipt.manifest_digest},
                 subject_email=current_user.email)
    session.commit()
    right = ANSWERS[kind]
    language = session.scalar(select(Subject.language).where(Subject.email == current_user.email)) or "nl"
    with force_locale(BABEL_LOCALES[language]):  # the history is read in the person's language, like the mail
        note = _("Answered by your download of %(what)s (%(format)s) on %(moment)s UTC. Manifest digest (SHA-256): "
                 "%(digest)s.", what=_("the copy of your data") if kind == service.COPY else _("your portable export"),
                 format=fmt.upper(), moment=f"{now:%Y-%m-%d %H:%M}", digest=receipt.manifest_digest)
    for request in requests_of(session, current_user.email):
        if request.right == right and request.status in lifecycle.OPEN_STATES:
            try:
                change_status(session, request.id, to=lifecycle.COMPLETED, actor="system", note=note,
                              register=_register(), today=local_today(), now=now, notify=compose_request_mail,
                              sender_domain=signin_settings().sender_domain)
            except RequestRefused:  # moved on by someone else meanwhile
                session.rollback()
    current_app.extensions["portal.mail"].wake()


def _start(kind: str, fmt: str) -> tuple[int, service.Export]:
    session = request_session()
    now = utcnow()
    download = service.start_download(session, current_user.email, kind, fmt, register=_register(), now=now)
    export = service.build_export(session, current_user.email, kind, register=_register(),
                                  language=current_language(), now=now, download_id=download.id)
    return download.id, export


@blueprint.post("/<any(copy, portable):kind>.<any(json, csv):fmt>")
@fresh_confirmation_required(return_to="downloads.index")
def download(kind: str, fmt: str) -> Response:
    if not ButtonForm().validate_on_submit():
        abort(400)
    download_id, export = _start(kind, fmt)
    receipt = service.Receipt()
    columns = {table.name: table.columns for table in export.tables}
    chunks = (service.json_export(export, receipt) if fmt == "json"
              else service.zip_export(export, _readme(kind, columns), receipt))
    reading = request_session()  # closed when the request ended, before the stream: the tables open it again

    def stream() -> Iterator[bytes]:
        try:
            yield from chunks
            _completed(download_id, kind, fmt, receipt)
        finally:
            reading.close()  # give its connection back, also when the download is interrupted

    response = Response(stream_with_context(stream()), mimetype=MEDIA_TYPES[fmt])
    name = _file_name(kind, fmt, export.header.generated_at)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.post("/copy.html")
@fresh_confirmation_required(return_to="downloads.index")
def readable_copy() -> Response:
    """The copy as a page people read and print: the same tables as the machine formats.

    A form post like the other downloads: it is recorded and may answer a request, which a link that a
    browser prefetches or a reload repeats must not do.
    """
    if not ButtonForm().validate_on_submit():
        abort(400)
    download_id, export = _start(service.COPY, "html")
    receipt = service.Receipt()

    def tables() -> Iterator[tuple[service.Table, Iterator[service.Row]]]:
        for table in export.tables:
            yield table, (record for record, _line in service.digested(table, receipt))

    def page() -> Iterator[str]:
        context = {"export": export, "tables": tables(), "receipt": receipt, "wording": export_wording,
                   "seal": lambda: service.seal(receipt)}
        current_app.update_template_context(context)
        return current_app.jinja_env.get_template("account/copy.html").generate(context)

    reading = request_session()

    def stream() -> Iterator[bytes]:
        try:
            yield from service.hashed_text(page(), receipt)
            _completed(download_id, service.COPY, "html", receipt)
        finally:
            reading.close()

    return Response(stream_with_context(stream()), mimetype="text/html")
