"""The record of downloads: written when a download starts, completed with its digests after its last byte.

The copy lists the person's earlier downloads (`downloads_of`), and the downloads page shows them with
their digests, so that a person can check that what they hold is what the portal sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Download
from portal.policy import requests as lifecycle
from portal.policy.register import Register
from portal.services import audit
from portal.services.context import Context
from portal.services.requests import RequestRefused, change_status, requests_of

if TYPE_CHECKING:  # formats imports tables, which imports this module for `downloads_of`
    from portal.services.export.formats import Receipt


def start_download(session: Session, email: str, kind: str, fmt: str, *, register: Register,
                   now: dt.datetime) -> Download:
    """Record a download before its first byte, and commit: an interrupted one stays "not completed"."""
    download = Download(email=email, kind=kind, format=fmt, statement_version=register.statement.version,
                        started_at=now)
    session.add(download)
    session.commit()
    return download


def finish_download(session: Session, download_id: int, receipt: Receipt, *, now: dt.datetime) -> Download:
    """Complete the record of a download whose last byte is out with its digests and row count (not committed)."""
    download = session.get(Download, download_id)
    assert download is not None  # written when the download started
    download.completed_at = now
    download.manifest_digest = receipt.manifest_digest
    download.file_digest = receipt.file_digest
    download.rows = receipt.rows
    return download


def downloads_of(session: Session, email: str) -> list[Download]:
    """The person's downloads, newest first."""
    return list(session.scalars(
        select(Download).where(Download.email == email).order_by(Download.started_at.desc(), Download.id.desc())
    ))


ANSWERS = {"copy": "access", "portable": "portability"}  # the right each kind of download answers


def complete_download(session: Session, ctx: Context, *, email: str, download_id: int, kind: str, fmt: str,
                      receipt: Receipt) -> None:
    """The last byte is out: record the digests, and answer the person's open request for this right.

    The download is the answer: each open access (or portability) request of the person is completed by
    the portal, with a note in the person's language naming what they downloaded and its manifest digest.
    """
    finish_download(session, download_id, receipt, now=ctx.now)
    ctx.audit(session, "downloaded", target=f"download:{download_id}", subject_email=email,
              details={"kind": kind, "format": fmt, "rows": receipt.rows, "manifest_digest": receipt.manifest_digest})
    session.commit()
    open_requests = [r for r in requests_of(session, email)
                     if r.right == ANSWERS[kind] and r.status in lifecycle.OPEN_STATES]
    if not open_requests:
        return
    note = ctx.notifier.download_note(session, email, kind=kind, fmt=fmt, at=ctx.now,
                                      digest=receipt.manifest_digest) if ctx.notifier is not None else None
    answering = replace(ctx, actor=audit.SYSTEM)
    for request in open_requests:
        try:
            change_status(session, answering, request.id, to=lifecycle.COMPLETED, note=note)
        except RequestRefused:  # moved on by someone else meanwhile
            session.rollback()
