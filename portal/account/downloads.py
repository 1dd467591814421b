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
from flask_babel import to_user_timezone
from flask_login import current_user

from portal import state
from portal.account import export_wording
from portal.auth.forms import ButtonForm
from portal.auth.session import fresh_confirmation_required
from portal.clock import utcnow
from portal.database import request_session
from portal.i18n import current_language
from portal.services.export.downloads import complete_download, downloads_of, start_download
from portal.services.export.formats import ManifestEntry, Receipt, digested, hashed_text, json_export, seal, zip_export
from portal.services.export.tables import COPY, Export, Header, Row, Table, build_export, portable_groups
from portal.services.overview import build_overview

blueprint = Blueprint("downloads", __name__, url_prefix="/me/downloads")

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "csv": "application/zip"}
EXTENSIONS = {"json": "json", "csv": "zip"}


@blueprint.app_template_filter("export_column")
def export_column(column: str) -> str:
    return export_wording.column_label(column)


@blueprint.get("")
@fresh_confirmation_required
def index() -> str:
    session = request_session()
    overview = build_overview(session, current_user.email, register=state.register())
    return render_template(
        "account/downloads.html", overview=overview,
        groups=portable_groups(session, overview, state.register()),
        downloads=downloads_of(session, current_user.email), form=ButtonForm(),
        right=state.register().rights["portability"], register=state.register(),
    )


def _file_name(kind: str, fmt: str, now: dt.datetime) -> str:
    stem = "copy-of-my-data" if kind == COPY else "portable-export"
    day = to_user_timezone(now.replace(tzinfo=dt.UTC)).date()  # the date the person sees on the page
    return f"we-are-{stem}-{day:%Y-%m-%d}.{EXTENSIONS[fmt]}"


def _readme(kind: str, columns: dict[str, tuple[str, ...]]):  # type: ignore[no-untyped-def]
    def write(header: Header, digest: str, entries: list[ManifestEntry]) -> str:
        return export_wording.readme(kind, header.subject_email, header.as_dict()["generated_at"],
                                     header.statement_version, digest, entries, columns)
    return write


def _completed(download_id: int, kind: str, fmt: str, receipt: Receipt) -> None:
    complete_download(request_session(), state.context(), email=current_user.email, download_id=download_id,
                      kind=kind, fmt=fmt, receipt=receipt)
    state.mail().wake()


def _start(kind: str, fmt: str) -> tuple[int, Export]:
    session = request_session()
    now = utcnow()
    download = start_download(session, current_user.email, kind, fmt, register=state.register(), now=now)
    export = build_export(session, current_user.email, kind, register=state.register(),
                          language=current_language(), now=now, download_id=download.id)
    return download.id, export


@blueprint.post("/<any(copy, portable):kind>.<any(json, csv):fmt>")
@fresh_confirmation_required(return_to="downloads.index")
def download(kind: str, fmt: str) -> Response:
    if not ButtonForm().validate_on_submit():
        abort(400)
    download_id, export = _start(kind, fmt)
    receipt = Receipt()
    columns = {table.name: table.columns for table in export.tables}
    chunks = (json_export(export, receipt) if fmt == "json"
              else zip_export(export, _readme(kind, columns), receipt))
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
    download_id, export = _start(COPY, "html")
    receipt = Receipt()

    def tables() -> Iterator[tuple[Table, Iterator[Row]]]:
        for table in export.tables:
            yield table, (record for record, _line in digested(table, receipt))

    def page() -> Iterator[str]:
        context = {"export": export, "tables": tables(), "receipt": receipt, "wording": export_wording,
                   "seal": lambda: seal(receipt)}
        current_app.update_template_context(context)
        return current_app.jinja_env.get_template("account/copy.html").generate(context)

    reading = request_session()

    def stream() -> Iterator[bytes]:
        try:
            yield from hashed_text(page(), receipt)
            _completed(download_id, COPY, "html", receipt)
        finally:
            reading.close()

    return Response(stream_with_context(stream()), mimetype="text/html")
