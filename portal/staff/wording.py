"""A task in words, in the reader's language: exactly what the owner of a system or recipient must do.

The facts are the instruction's payload (register ids, dates, values) and the register's names; this
module only says them, for the back office's pages and the owners' daily mail alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from portal import labels, state
from portal.i18n import format_list, localise
from portal.services.tasks import Task


def _lower(name: str) -> str:
    """A register name inside a sentence: "Contact information" -> "contact information"."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def _what(entries: list[dict[str, Any]]) -> str:
    """Data per relation, e.g. "the contact information and correspondence (customer)"."""
    by_relation: dict[str, list[str]] = {}
    for entry in entries:
        names = by_relation.setdefault(entry["relation"], [])
        name = _lower(labels.category_name(entry["category"]))
        if name not in names:
            names.append(name)
    return "; ".join(_("the %(categories)s (as %(relation)s)", categories=format_list(names),
                       relation=_lower(labels.relation_name(relation)))
                     for relation, names in by_relation.items())


def _kept(entries: list[dict[str, Any]]) -> str:
    parts = []
    for entry in entries:
        what = _("the %(category)s", category=_lower(labels.category_name(entry["category"])))
        reason = (_("needed while our agreement runs") if entry.get("reason") == "relation_runs"
                  else _("the law obliges us to keep them"))
        if entry.get("until"):
            parts.append(_("%(what)s until %(date)s: %(reason)s", what=what, reason=reason,
                           date=format_date(dt.date.fromisoformat(entry["until"]), "d MMMM y")))
        else:
            parts.append(_("%(what)s: %(reason)s", what=what, reason=reason))
    return "; ".join(parts)


def _purposes(ids: list[str]) -> str:
    register = state.register()
    return format_list([f"“{labels.scope_label('purpose:' + p)}”" for p in ids if p in register.purposes]
                       or ids)


def _changes(changes: list[dict[str, Any]]) -> str:
    return "; ".join(_("change %(field)s from “%(old)s” to “%(new)s”", field=c["field"], old=c.get("old") or "—",
                       new=c.get("new") or "—") for c in changes)


def task_text(task: Task) -> str:
    """What the task asks, in one or two sentences."""
    event, data = task.instruction.event_type, task.data
    email = data.get("subject", {}).get("email") or task.instruction.subject_email
    where = localise(task.party_name)
    if task.instruction.party_kind == "recipient":
        return _recipient_text(event, data, email, where)
    if event in ("data.erased", "data.retention_erased"):
        text = _("Erase %(what)s of %(email)s in %(system)s.", what=_what(data.get("erase", [])), email=email,
                 system=where)
        if data.get("keep"):
            text += " " + _("Keep %(kept)s.", kept=_kept(data["keep"]))
        return text
    if event == "data.restricted":
        return _("Restrict %(what)s of %(email)s in %(system)s: only store them, use them for nothing else.",
                 what=_what(data.get("restrict", [])), email=email, system=where)
    if event == "data.rectified":
        return _("Correct the data of %(email)s in %(system)s: %(changes)s.", email=email, system=where,
                 changes=_changes(data.get("changes", [])))
    if event in ("subject.address_changed", "subject.address_change_undone"):
        return _("Change the e-mail address %(old)s to %(new)s in %(system)s.", old=email,
                 new=data.get("new_email") or "—", system=where)
    purposes = _purposes(data.get("purposes", []))
    if event == "consent.withdrawn":
        return _("%(email)s withdrew their consent to %(purposes)s: record it in %(system)s and stop using their "
                 "data for it.", email=email, purposes=purposes, system=where)
    if event in ("consent.given", "consent.renewed"):
        return _("%(email)s gave their consent to %(purposes)s: record it in %(system)s.", email=email,
                 purposes=purposes, system=where)
    if event == "marketing.objected":
        return _("Stop direct marketing to %(email)s in %(system)s (%(purposes)s).", email=email, system=where,
                 purposes=purposes)
    if event == "marketing.objection_lifted":
        return _("%(email)s lifted their objection to direct marketing (%(purposes)s): record it in %(system)s.",
                 email=email, purposes=purposes, system=where)
    if event == "objection.upheld":
        return _("Stop using the data of %(email)s in %(system)s for %(purposes)s: their objection was upheld.",
                 email=email, system=where, purposes=purposes)
    return event


def _recipient_text(event: str, data: dict[str, Any], email: str, recipient: str) -> str:
    if event == "data.erased":
        what = _("we erased %(what)s of %(email)s", what=_what(data.get("erase", [])), email=email)
        return _("Send the notice of this erasure to: %(recipient)s (%(what)s).", recipient=recipient, what=what)
    if event == "data.restricted":
        what = _("we restricted %(what)s of %(email)s", what=_what(data.get("restrict", [])), email=email)
        return _("Send the notice of this restriction to: %(recipient)s (%(what)s).", recipient=recipient, what=what)
    what = _("we corrected the data of %(email)s: %(changes)s", email=email, changes=_changes(data.get("changes", [])))
    return _("Send the notice of this rectification to: %(recipient)s (%(what)s).", recipient=recipient, what=what)


def progress_text(task: Task) -> str:
    """How far one system or recipient is with a request's decision."""
    instruction = task.instruction
    if instruction.status == "done":
        return _("done by %(who)s on %(moment)s", who=_done_by(instruction.done_by or ""),
                 moment=format_date(instruction.done_at, "d MMM y") if instruction.done_at else "")
    if instruction.status == "failed":
        return _("delivery failed: %(error)s", error=instruction.last_error or "—")
    if instruction.status == "accepted":
        return _("received by the system, waiting for its confirmation")
    if task.is_manual:
        return _("waiting for %(owner)s", owner=task.owner)
    return _("being sent to the system")


def _done_by(by: str) -> str:
    kind, _sep, who = by.partition(":")
    if kind == "system":
        return _("the system itself")
    return who or by
