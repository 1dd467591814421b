"""Sentences for the overview, in the page's language: retention, legal basis and the rights' reasons.

The facts come from the policy functions (`retention_end`, `rights_for`); this module only says them.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from babel import dates as babel_dates
from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from portal import labels, state
from portal.i18n import BABEL_LOCALES, current_language, format_list
from portal.policy.register import Purpose, Register, RetentionRule
from portal.policy.retention import Pending, RetentionEnd
from portal.policy.rights import Reason, RightDecision, rights_for
from portal.services import audit
from portal.services.audit import AuditLine


def long_date(day: dt.date) -> str:
    """"12 March 2034" / "12 maart 2034" in the page's language."""
    return _formatted_date(day, "d MMMM y", current_language())


def short_date(day: dt.date) -> str:
    """"12 Mar 2034" / "12 mrt 2034" in the page's language: the dates of the items in a table."""
    return _formatted_date(day, "d MMM y", current_language())


@functools.lru_cache(maxsize=4096)
def _formatted_date(day: dt.date, pattern: str, language: str) -> str:
    # An overview shows tens of dates, most of them the same few: formatting one takes Babel about 40 µs.
    return babel_dates.format_date(day, pattern, locale=BABEL_LOCALES[language])


def retention_rule(rule: RetentionRule) -> str:
    """The rule in plain words, e.g. "10 years after our relation ended"."""
    language = current_language()
    period = rule.period.describe(language) if rule.period else ""
    if rule.kind == "after_relation_end":
        return _("%(period)s after our relation ended", period=period)
    if rule.kind == "after_last_contact":
        return _("%(period)s after our last contact with you", period=period)
    if rule.kind == "until_consent_withdrawn":
        return _("until you withdraw your consent")
    return _("as long as necessary; we read this as at most %(period)s after the activity", period=period)


def retention_sentence(rule: RetentionRule, end: RetentionEnd, today: dt.date) -> str:
    """When the data of a purpose go, with the rule: "Kept until 12 March 2034: 10 years after ..."."""
    words = retention_rule(rule)
    if end.until is not None and end.until <= today:
        return _("The period ended on %(date)s (%(rule)s): we no longer use your data for this purpose, and erase "
                 "them unless another purpose listed here still needs them.", date=long_date(end.until), rule=words)
    if end.until is not None:
        sentence = _("Kept until %(date)s: %(rule)s.", date=long_date(end.until), rule=words)
        if end.extended_by_consent and end.renewal_asked:
            sentence += " " + _("On %(asked)s we asked whether you want to renew that consent; without a renewal "
                                "we erase these data on %(date)s.", asked=long_date(end.renewal_asked),
                                date=long_date(end.until))
        elif end.extended_by_consent and end.renewal_due:
            sentence += " " + _("You agreed that we keep your data longer; on %(date)s we will ask whether you "
                                "want to renew that consent.", date=long_date(end.renewal_due))
        return sentence
    if end.pending is Pending.RELATION_RUNNING:
        return _("Kept while our relation runs, then %(rule)s. No end date yet: the relation has not ended.",
                 rule=words)
    if end.pending is Pending.NO_CONTACT_RECORDED:
        return _("Kept %(rule)s. No end date yet: we have no date of a last contact.", rule=words)
    return _("Kept as long as your consent stands. You can withdraw it at any time; then we stop.")


def right_reason(decision: RightDecision, register: Register) -> str:
    """Why a right applies to a purpose, or why not, in one sentence."""
    return _reason(decision.reason, decision.purpose.basis, decision.qualifying_bases, current_language(), register)


@functools.lru_cache(maxsize=256)
def _reason(reason: Reason, basis_id: str, qualifying: tuple[str, ...], language: str, register: Register) -> str:
    # The same few sentences recur for every purpose of every person: build each once per language.
    basis = register.bases[basis_id].name.in_language(language).lower()
    if reason is Reason.ALWAYS:
        return _("Applies: you can always use this right.")
    if reason is Reason.BY_LAW:
        return _("You may ask; we must grant it in the cases and to the extent the law provides.")
    if reason is Reason.BASIS_QUALIFIES:
        return _("Applies: this purpose rests on %(basis)s.", basis=basis)
    if reason is Reason.BASIS_EXCLUDED:
        bases = format_list([register.bases[b].name.in_language(language).lower() for b in qualifying])
        return _("Does not apply here: this right exists only for processing that rests on %(bases)s, and this "
                 "purpose rests on %(basis)s.", bases=bases, basis=basis)
    if reason is Reason.DIRECT_MARKETING:
        return _("Applies: this purpose is direct marketing. You can always object to it, without giving reasons.")
    return _("Does not apply here: this purpose is not direct marketing.")


def kept_in(systems: tuple[str, ...]) -> str:
    """Where a category's items are kept, e.g. "Kept in our CRM and our accounting."; empty for none."""
    return _kept_in(systems, current_language(), state.register()) if systems else ""


@functools.lru_cache(maxsize=256)
def _kept_in(systems: tuple[str, ...], language: str, register: Register) -> str:
    # Register-derived and the same few for everybody, like the purposes' text: said once per language.
    names = [register.systems[system_id].name.in_language(language) for system_id in systems]
    return _("Kept in %(systems)s.", systems=format_list(names))


@dataclass(frozen=True)
class PurposeText:
    """What the overview says about a purpose from the register alone: its legal basis, the data it uses,
    who receives them, the clause of its retention rule and the eight rights with their reasons."""

    basis: Markup
    used_and_shared: Markup
    statement_link: Markup
    rights: Markup


def purpose_text(purpose: Purpose) -> PurposeText:
    """The register's text for one purpose in the page's language, rendered once per worker.

    It holds no personal data, so it never needs to be rendered again while the register is the same:
    what differs per person (consent dates, retention dates, whether the purpose is in use) is rendered
    around it on every view.
    """
    return _purpose_text(purpose.id, current_language(), state.register(),
                         request.script_root)


@functools.lru_cache(maxsize=256)
def _purpose_text(purpose_id: str, language: str, register: Register, _script_root: str) -> PurposeText:
    purpose = register.purposes[purpose_id]
    macros = current_app.jinja_env.get_template("account/_purpose_text.html").module
    rights = render_template(
        "account/_rights_list.html", decisions=rights_for(purpose_id, register=register), register=register,
        reason=lambda decision: right_reason(decision, register), statement_url=url_for("public.statement"),
        rights_url=url_for("rights.overview"),
    )
    return PurposeText(  # a macro of an autoescaping environment returns Markup
        basis=macros.basis(purpose, register),  # type: ignore[attr-defined]
        used_and_shared=macros.used_and_shared(purpose, register),  # type: ignore[attr-defined]
        statement_link=macros.statement_link(purpose, register),  # type: ignore[attr-defined]
        rights=Markup(rights),  # noqa: S704  # nosec B704  # the output of an autoescaped template, not raw input
    )


def audit_action(line: AuditLine) -> str:
    """One audit entry in words, for the person's overview and the back office."""
    details = line.details
    if line.action.startswith("request_") and line.action != "request_viewed":
        number = (line.target or "").partition(":")[2]
        return _("request #%(number)s (%(right)s): %(status)s", number=number,
                 right=labels.right_label(str(details.get("right", ""))),
                 status=labels.status_label(str(details.get("status", ""))))
    if line.action == "downloaded":
        what = _("a copy of the data") if details.get("kind") == "copy" else _("a portable export")
        return _("downloaded %(what)s (%(format)s)", what=what, format=str(details.get("format", "")).upper())
    if line.action == "data_erased":
        return _("erased %(count)s data items", count=details.get("items_erased", 0))
    if line.action == "retention_erased":
        count = sum(int(part.get("items", 0)) for part in details.get("erased", []))
        return _("erased %(count)s data items whose retention period had ended", count=count)
    if line.action == "data_rectified":
        return _("corrected %(count)s values", count=details.get("values_changed", 0))
    return {
        "sign_in_link_requested": _("asked for a sign-in link"),
        "signed_in": _("signed in"),
        "signed_out": _("signed out"),
        "overview_viewed": _("looked at the overview of the data"),
        "request_viewed": _("looked at a request and the data it concerns"),
        "download_started": _("started a download"),
        "data_restricted": _("restricted the processing of the data"),
        "sessions_ended": _("ended every session of this address"),
        "renewal_asked": _("asked whether you want to renew your consent to stay in the talent pool"),
        "refusal_ground": _("recorded the ground of a refusal"),
        "address_change_asked": _("asked to change the sign-in address"),
        "address_changed": _("changed the sign-in address"),
        "address_change_undone": _("undid a change of the sign-in address"),
        "staff_created": _("gave access to the back office"),
        "staff_changed": _("changed access to the back office"),
        "mail_retried": _("sent a failed mail again"),
        "instruction_confirmed": _("confirmed that a change was carried out in one of our systems"),
        "instruction_retried": _("sent an instruction to one of our systems again"),
        "queue_exported": _("exported the list of requests"),
    }.get(line.action, line.action)


def audit_actor(line: AuditLine) -> str:
    """Who did it, as the person reads it."""
    if line.actor == audit.PERSON:
        return _("you")
    if line.actor == audit.SYSTEM:
        return _("the portal, automatically")
    return _("%(email)s (our staff)", email=line.actor.removeprefix("staff:"))


def actor_label(actor: str) -> str:
    """Who took a step in a request's history, for the back office."""
    if actor == audit.PERSON:
        return _("the person")
    if actor == audit.SYSTEM:
        return _("the portal, automatically")
    return actor.removeprefix("staff:")
