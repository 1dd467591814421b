"""Register ids and request states as words in the current language: one place for pages and mails alike.

A mail is composed under the person's language (`force_locale`), a page under the reader's; both call
these. `init_app` makes them available to every template.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import state
from portal.database import request_session
from portal.i18n import localise
from portal.models import Relation
from portal.policy.erasure import Kept
from portal.services.decisions import KeptGroup

STATUS_LABELS = {
    "received": _l("received"), "in_progress": _l("in progress"), "extended": _l("extended"),
    "waiting": _l("waiting for you"), "carrying_out": _l("being carried out in our systems"),
    "completed": _l("completed"), "refused": _l("refused"),
}
# The person's pages and mails say "waiting for you"; the manager reads the same state from the other side.
STAFF_STATUS_LABELS = {"waiting": _l("waiting for the person's answer")}


def right_label(right: str) -> str:
    """The name of a right or of an action taken at once, in the current language."""
    register = state.register()
    if right in register.rights:
        return localise(register.rights[right].name)
    return {
        "consent_given": _("Consent given"),
        "consent_renewed": _("Consent renewed"),
        "direct_marketing_objection_lifted": _("Objection to direct marketing lifted"),
    }.get(right, right)


def status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status  # translates only the one label asked for


def staff_status_label(status: str) -> str:
    label = STAFF_STATUS_LABELS.get(status)
    return str(label) if label is not None else status_label(status)


def scope_label(scope: str | None, session: Session | None = None) -> str:
    """What a request is about, in words: a purpose, a relation, all data, or the marketing purposes."""
    register = state.register()
    if not scope:
        return ""
    kind, _sep, value = scope.partition(":")
    if kind == "purpose" and value in register.purposes:
        purpose = register.purposes[value]
        return (f"{localise(register.relations[purpose.relation].name)} {purpose.numeral}: "
                f"{localise(purpose.description)}")
    if kind == "purposes":
        return _("every direct-marketing purpose")
    if kind == "relation":
        relation = (session or request_session()).get(Relation, int(value)) if value.isdigit() else None
        return (_("Only my data as: %(relation)s", relation=localise(register.relations[relation.kind].name))
                if relation is not None else "")
    if kind == "all":
        return _("All data you hold about me")
    return ""


def category_name(category_id: str) -> str:
    """A register category id as its name in the current language."""
    return localise(state.register().categories[category_id].name)


def relation_name(relation_id: str) -> str:
    """A register relation id (customer, supplier, ...) as its name in the current language."""
    return localise(state.register().relations[relation_id].name)


def basis_name(basis_id: str) -> str:
    return localise(state.register().bases[basis_id].name)


def kept_reason(group: KeptGroup) -> str:
    """Why an erasure keeps some data, as the person and the manager read it."""
    until = format_date(group.until, "d MMMM y") if group.until else None
    if group.kept is Kept.RELATION_RUNS:
        return _("needed to carry out our agreement while the relation runs")
    if until:
        return _("the law obliges us to keep these records, until %(date)s", date=until)
    return _("the law obliges us to keep these records, until their retention date")


def init_app(app: Flask) -> None:
    for function in (right_label, status_label, staff_status_label, scope_label, kept_reason):
        app.add_template_global(function)
    for function in (category_name, relation_name, basis_name):
        app.add_template_filter(function)
