"""Typed SQLAlchemy models: the people we hold data on and what we hold. No business rules here.

Kinds, categories, sources and purposes are register ids; the register (not the database) decides
which values are valid, and the import checks them against it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, MetaData, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Subject(Base):
    """A data subject, known by the e-mail address they prove control of."""

    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: trimmed, lower case
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="nl")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    relations: Mapped[list[Relation]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True, order_by="Relation.started"
    )
    consents: Mapped[list[Consent]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True, order_by="Consent.given"
    )


class Relation(Base):
    """One of the five relations of statement section 3 between a person and We Are."""

    __tablename__ = "relation"
    __table_args__ = (UniqueConstraint("subject_id", "kind", "started", name="subject_kind_started"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    started: Mapped[dt.date] = mapped_column(Date)
    ended: Mapped[dt.date | None] = mapped_column(Date)
    last_contact: Mapped[dt.date | None] = mapped_column(Date)
    # Set when a restriction request (Art. 18) was completed: the data are only stored, not otherwise used.
    restricted_since: Mapped[dt.date | None] = mapped_column(Date)

    subject: Mapped[Subject] = relationship(back_populates="relations")
    items: Mapped[list[DataItem]] = relationship(
        back_populates="relation", cascade="all, delete-orphan", passive_deletes=True
    )


class DataItem(Base):
    """One value we hold under a relation, with its category, where it came from and when."""

    __tablename__ = "data_item"
    __table_args__ = (
        # The fingerprint (SHA-256 of category, field, value, source, recorded) makes re-imports
        # idempotent without a unique index over long text, which PostgreSQL cannot index.
        UniqueConstraint("relation_id", "fingerprint", name="relation_fingerprint"),
        # Serves both the counts per category and "the newest items of a category" as index range scans.
        Index("ix_data_item_relation_category_recorded", "relation_id", "category", "recorded", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    relation_id: Mapped[int] = mapped_column(ForeignKey("relation.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    recorded: Mapped[dt.date] = mapped_column(Date)
    fingerprint: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(40))  # the company's system it came from (register id)

    relation: Mapped[Relation] = relationship(back_populates="items")


class Consent(Base):
    """A consent to one consent-based purpose: when it was given and, if so, withdrawn."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("subject_id", "purpose", "given", name="subject_purpose_given"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    given: Mapped[dt.date] = mapped_column(Date)
    withdrawn: Mapped[dt.date | None] = mapped_column(Date)
    renewed_on: Mapped[dt.date | None] = mapped_column(Date)  # confirmed again when we asked (talent pool)
    system: Mapped[str | None] = mapped_column(String(40))  # the company's system that keeps it (register id)

    subject: Mapped[Subject] = relationship(back_populates="consents")


class SignInToken(Base):
    """A one-time link (and its short code) proving control of an e-mail address.

    Only hashes are stored: a copy of the database cannot be used to sign in. Expiry and spending live
    here, not in a signed link, so that they hold across restarts and several server processes.
    """

    __tablename__ = "sign_in_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(32))  # with the secret key, derives the link and the code
    purpose: Mapped[str] = mapped_column(String(20))  # "sign_in" or "confirm"
    email: Mapped[str] = mapped_column(String(254), index=True)
    language: Mapped[str] = mapped_column(String(2))
    next_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    spent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    failed_codes: Mapped[int] = mapped_column(default=0)


class AuthSession(Base):
    """A signed-in session kept on the server, so that it can be ended: the cookie only holds its key."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    confirmed_at: Mapped[dt.datetime] = mapped_column(DateTime)  # last proof of control of the address
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))
    # "person" for a data subject, "staff" for the back office: one never opens the other's pages.
    audience: Mapped[str] = mapped_column(String(10), default="person", server_default="person")
    overview_noted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # last view written to the audit trail


class OutboxMail(Base):
    """A mail written in the same transaction as the action that caused it, delivered afterwards."""

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_mail_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # Set for sign-in mails: their link and code are filled in only when sent (see services/tokens.py).
    # A pending sign-in mail goes with its attempt: without the attempt it could only be sent unfilled.
    sign_in_token_id: Mapped[int | None] = mapped_column(ForeignKey("sign_in_token.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))


class RightsRequest(Base):
    """A request to exercise one of the rights of statement 2.4, and where it stands.

    Requests belong to the verified address (not only to a known subject: anyone may ask, also to hear
    that we hold nothing). Actions that take effect at once (withdrawing consent, objecting to direct
    marketing) are recorded here too, completed on arrival, so that they appear in the person's history.
    """

    __tablename__ = "rights_request"
    __table_args__ = (
        UniqueConstraint("email", "idempotency_key", name="email_idempotency_key"),
        # The back office's queue: open requests of a right by answer date, from the index alone.
        Index("ix_rights_request_queue", "status", "right", "due_on", "extended_due_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    right: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str | None] = mapped_column(String(100))  # e.g. "relation:12", "purpose:customer.5"
    details: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    received_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    extended_due_on: Mapped[dt.date | None] = mapped_column(Date)
    statement_version: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    fee_cents: Mapped[int | None] = mapped_column()  # a reasonable fee asked for (statement 2.4), in euro cents

    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestEvent.id"
    )
    changes: Mapped[list[RequestedChange]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestedChange.id"
    )


# The back office's queue (migration 0010): its default selection, open requests of the rights staff
# answer, the earliest answer date first, counted, skipped and ordered from this index alone (INCLUDE).
# It holds only open requests, so it stays the size of the queue while closed ones pile up over the years.
# PostgreSQL only: SQLite cannot reflect an index on an expression (and sorts a test's rows fast enough).
Index("ix_rights_request_open_due", func.coalesce(RightsRequest.extended_due_on, RightsRequest.due_on),
      RightsRequest.id, postgresql_include=["right", "due_on", "extended_due_on"],
      postgresql_where=text("status IN ('carrying_out', 'extended', 'in_progress', 'received', 'waiting') "
                            "AND \"right\" IN ('access', 'erasure', 'objection', 'portability', 'rectification', "
                            "'restriction')"),
      ).ddl_if(dialect="postgresql")


class RequestEvent(Base):
    """One step in a request's history: who, when, the state it moved to, and what was said."""

    __tablename__ = "request_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_request.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))  # "person", "staff:<address>" or "system"
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)

    request: Mapped[RightsRequest] = relationship(back_populates="events")


class RequestedChange(Base):
    """For rectification: a value as we hold it and the value the person proposes, side by side."""

    __tablename__ = "requested_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_request.id", ondelete="CASCADE"), index=True)
    # Indexed: every erased data item looks up the proposals naming it (ON DELETE SET NULL).
    data_item_id: Mapped[int | None] = mapped_column(ForeignKey("data_item.id", ondelete="SET NULL"), index=True)
    field: Mapped[str] = mapped_column(String(100))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(10))  # "approved" or "rejected" when completed

    request: Mapped[RightsRequest] = relationship(back_populates="changes")


class MarketingObjection(Base):
    """An objection to direct marketing (Art. 21(2)): absolute while it stands, lifted only by the person.

    Kept apart from consents so that no import of consents can silently switch marketing back on.
    """

    __tablename__ = "marketing_objection"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    objected_at: Mapped[dt.datetime] = mapped_column(DateTime)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Download(Base):
    """A copy or portable export the person downloaded: when, which, and the digests they can check.

    Written when the download starts and completed when its last byte is out, so that an interrupted
    download is visible as such and never counts as an answer to a request.
    """

    __tablename__ = "download"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "copy" or "portable"
    format: Mapped[str] = mapped_column(String(10))  # "json", "csv" or "html"
    statement_version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    manifest_digest: Mapped[str | None] = mapped_column(String(64))
    file_digest: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int | None] = mapped_column()


class Staff(Base):
    """Someone at the company who works the back office: the data protection manager, or a reader."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(10))  # "dpo" decides, "viewer" only reads
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """One line of the append-only audit trail; never updated or deleted (the database refuses it).

    `entry_hash` is the SHA-256 of the previous entry's hash and this entry's content, so a changed,
    removed or inserted entry breaks the chain (`verify-audit`). Personal data (whose data, from which
    address) live apart in `AuditPersonal`, covered here only by `personal_digest`: erasing a person
    deletes those rows, and the chain still verifies.
    """

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(300))  # "person", "staff:<address>" or "system"
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(100))  # e.g. "request:12"; never personal data
    details: Mapped[str] = mapped_column(Text)  # canonical JSON without personal data
    personal_digest: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditPersonal(Base):
    """The personal part of an audit entry: removable on erasure without touching the entry itself."""

    __tablename__ = "audit_personal"

    seq: Mapped[int] = mapped_column(ForeignKey("audit_entry.seq"), primary_key=True)
    subject_email: Mapped[str | None] = mapped_column(String(254), index=True)
    data: Mapped[str] = mapped_column(Text)  # canonical JSON, e.g. {"ip": "..."}
    salt: Mapped[str] = mapped_column(String(32))  # so that the digest cannot confirm a guessed value


class AuditHead(Base):
    """The end of the chain, in one row: appending locks it, so entries are chained one at a time."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column()
    entry_hash: Mapped[str] = mapped_column(String(64))


class RenewalQuestion(Base):
    """We asked a person whether to renew the consent that keeps their data longer (the talent pool)."""

    __tablename__ = "renewal_question"
    __table_args__ = (UniqueConstraint("relation_id", "purpose", "asked_on", name="relation_purpose_asked"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    relation_id: Mapped[int] = mapped_column(ForeignKey("relation.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    asked_on: Mapped[dt.date] = mapped_column(Date)


class StatementSeen(Base):
    """The version of the statement a person last saw in the portal: to tell them, once, what changed."""

    __tablename__ = "statement_seen"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    version: Mapped[str] = mapped_column(String(40))
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AddressChange(Base):
    """A person changing the address they sign in with: asked, confirmed from the new address, or undone.

    The old address is told when the change is made and may undo it (it was not them); the record also
    lets the person's audit view follow them from their old address to the new one.
    """

    __tablename__ = "address_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    old_email: Mapped[str] = mapped_column(String(254), index=True)
    new_email: Mapped[str] = mapped_column(String(254), index=True)
    sign_in_token_id: Mapped[int | None] = mapped_column(ForeignKey("sign_in_token.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Instruction(Base):
    """What one of the company's systems (or a recipient, Art. 19) must do after a change took effect.

    Written in the transaction of the change, like a mail, and carried out afterwards: a webhook system
    is sent `payload` signed (Standard Webhooks, `event_id` as its webhook-id, so a repeat is recognised);
    a manual one is a task for its owner in the back office. `status`: pending (to be sent or done),
    accepted (the webhook answered 202 and will confirm later), done, or failed (a webhook that kept
    failing; the back office retries it).
    """

    __tablename__ = "instruction"
    __table_args__ = (Index("ix_instruction_due", "status", "delivery", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    party_kind: Mapped[str] = mapped_column(String(10))  # "system" or "recipient"
    party: Mapped[str] = mapped_column(String(40))  # its register id
    delivery: Mapped[str] = mapped_column(String(10))  # "webhook" or "manual"
    event_type: Mapped[str] = mapped_column(String(40))  # e.g. "data.erased"
    subject_email: Mapped[str] = mapped_column(String(254), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("rights_request.id", ondelete="SET NULL"), index=True)
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, exactly as signed and sent
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_by: Mapped[str | None] = mapped_column(String(300))  # "system:<id>" or "staff:<address>"


class Suppression(Base):
    """What was erased or stopped, so that no import brings it back: keyed by a keyed hash of the address.

    One row per relation and category erased (`category` set), or per purpose whose consent was withdrawn
    or whose marketing was objected to (`purpose` set). `on` is the company's day it happened: a relation
    that started later, or a consent given later, is new and imported.
    """

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(64), index=True)  # HMAC-SHA256 of the address
    relation: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(20))
    purpose: Mapped[str | None] = mapped_column(String(20))
    systems: Mapped[str] = mapped_column(String(300))  # the systems told, comma-separated register ids
    reason: Mapped[str] = mapped_column(String(30))  # erasure, retention, consent_withdrawn, marketing_objection
    request_id: Mapped[int | None] = mapped_column()  # kept after the request's own record is gone
    on: Mapped[dt.date] = mapped_column(Date)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # a marketing objection the person lifted


class ApiToken(Base):
    """A bearer token with which one system pushes its data (`POST /api/v1/subjects`); only its hash is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(40), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OwnerReminder(Base):
    """The day a system's owner was last mailed their open tasks: at most one such mail a day."""

    __tablename__ = "owner_reminder"

    owner: Mapped[str] = mapped_column(String(254), primary_key=True)
    sent_on: Mapped[dt.date] = mapped_column(Date)
