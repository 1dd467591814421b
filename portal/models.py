"""Typed SQLAlchemy models: the people we hold data on and what we hold. No business rules here.

Kinds, categories, sources and purposes are register ids; the register (not the database) decides
which values are valid, and the import checks them against it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, MetaData, String, Text, UniqueConstraint, func
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
        Index("ix_data_item_relation_category", "relation_id", "category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    relation_id: Mapped[int] = mapped_column(ForeignKey("relation.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    recorded: Mapped[dt.date] = mapped_column(Date)
    fingerprint: Mapped[str] = mapped_column(String(64))

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

    subject: Mapped[Subject] = relationship(back_populates="consents")
