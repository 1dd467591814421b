"""What every table and column of an export means, in the person's language.

One place for the words: the README.txt in a CSV zip, the readable copy's headings and the downloads
page all read them from here. A test checks that every column the exports write is explained.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from portal.services.export.formats import ManifestEntry

TABLES = {
    "subject": (_l("You"), _l("The e-mail address and name we know you by.")),
    "relations": (_l("Your relations with us"), _l("Each relation of section 3 of the statement that applies to you.")),
    "purposes": (_l("Purposes"), _l("Why we process your data under each relation: the legal basis, who receives "
                                    "the data and until when we keep them.")),
    "categories": (_l("Where your data are kept"), _l("Per relation and category of data: how many values we "
                                                       "hold and in which of our systems we keep them.")),
    "data_items": (_l("Data we hold"), _l("Every value we hold about you, one per row.")),
    "consents": (_l("Consents"), _l("The consents you gave, and when you withdrew them.")),
    "marketing_objections": (_l("Objections to direct marketing"),
                             _l("When you objected to direct marketing, and when you lifted the objection.")),
    "requests": (_l("Your requests"), _l("The requests you made to exercise your rights, and where they stand.")),
    "request_events": (_l("History of your requests"), _l("Every step of every request: who, when and what was said.")),
    "requested_changes": (_l("Changes you asked for"), _l("For rectification: the value we held and the value you "
                                                          "proposed.")),
    "downloads": (_l("Your downloads"), _l("The copies and exports you downloaded before this one.")),
}

COLUMNS = {
    "email": (_l("E-mail address"), _l("The address you sign in with.")),
    "name": (_l("Name"), _l("Your name as we hold it.")),
    "language": (_l("Language"), _l("The language we write to you in: nl (Dutch) or en (English).")),
    "relation_id": (_l("Relation number"), _l("Our number for this relation; the other tables refer to it.")),
    "relation": (_l("Relation"), _l("The kind of relation: customer, supplier, visitor, applicant or participant.")),
    "relation_name": (_l("Relation name"), _l("The kind of relation in words.")),
    "started": (_l("Started"), _l("When the relation began (YYYY-MM-DD).")),
    "ended": (_l("Ended"), _l("When the relation ended; empty while it runs.")),
    "last_contact": (_l("Last contact"), _l("The last contact we recorded.")),
    "kept_until": (_l("Kept until"), _l("The date until which we keep these data under the statement's retention "
                                        "rules; empty when that date depends on an event that has not happened "
                                        "yet (for example the end of the relation).")),
    "purpose": (_l("Purpose"), _l("The purpose's number in the register (for example customer.2).")),
    "description": (_l("Description"), _l("The purpose in the words of the statement.")),
    "legal_basis": (_l("Legal basis"), _l("The legal basis: contract, pre_contract (steps before a contract), "
                                          "legitimate_interest or consent.")),
    "legal_basis_name": (_l("Legal basis in words"), _l("The legal basis in words.")),
    "legitimate_interest": (_l("Our legitimate interest"), _l("For a legitimate interest: the interest we pursue.")),
    "recipients": (_l("Recipients"), _l("Who may receive these data, separated by semicolons.")),
    "outside_eea_possible": (_l("Possibly outside the EEA"), _l("true when a recipient may process the data "
                                                                "outside the European Economic Area, under the "
                                                                "safeguards of statement 2.3.")),
    "retention_rule": (_l("Retention rule"), _l("The retention rule of the register that applies.")),
    "retention_until": (_l("Kept until"), _l("Until when we keep the data for this purpose; empty when not known "
                                             "yet.")),
    "in_use": (_l("In use"), _l("false when we no longer process for this purpose (a withdrawn consent, an "
                                "objection to direct marketing).")),
    "restricted_since": (_l("Restricted since"), _l("Since when processing is restricted at your request "
                                                    "(Article 18 GDPR): we then only store the data; empty when "
                                                    "not restricted.")),
    "restricted": (_l("Restricted"), _l("true when processing of this value is restricted at your request: we only "
                                        "store it.")),
    "item_id": (_l("Item number"), _l("Our number for this value.")),
    "category": (_l("Category"), _l("The category of data (contact, correspondence, payment, delivery, online, "
                                    "recruitment, participation, media).")),
    "field": (_l("Field"), _l("What the value is, for example phone or invoice.")),
    "value": (_l("Value"), _l("The value itself. A value starting with =, +, -, @ or a tab is written with a "
                              "leading apostrophe so that spreadsheet programs do not run it as a formula.")),
    "source": (_l("Source"), _l("Where we got it: provided (from you), observed (from your use of our services), "
                                "third_party, public or derived (made by us).")),
    "recorded": (_l("Recorded"), _l("When we recorded the value.")),
    "items": (_l("Values"), _l("How many values of this category we hold under this relation.")),
    "systems": (_l("Systems"), _l("Our systems that keep them (crm, accounting, recruitment, newsletter, events, "
                                  "analytics), separated by semicolons.")),
    "kept_in": (_l("Kept in"), _l("Those systems in words, separated by semicolons.")),
    "purposes": (_l("Purposes"), _l("The purposes we process this value for, separated by semicolons.")),
    "legal_bases": (_l("Legal bases"), _l("The legal bases of those purposes.")),
    "portable": (_l("In the portable export"), _l("true when the right to data portability covers this value.")),
    "given": (_l("Given"), _l("When you gave the consent.")),
    "withdrawn": (_l("Withdrawn"), _l("When you withdrew it; empty while it stands.")),
    "objected_at": (_l("Objected"), _l("When you objected (UTC).")),
    "lifted_at": (_l("Lifted"), _l("When you lifted the objection (UTC); empty while it stands.")),
    "request_id": (_l("Request number"), _l("Our number for the request.")),
    "right": (_l("Right"), _l("The right exercised, or the action taken at once.")),
    "scope": (_l("Scope"), _l("What the request is about: all data, one relation or one purpose.")),
    "details": (_l("Details"), _l("What you wrote with the request.")),
    "status": (_l("Status"), _l("received, in_progress, extended, waiting, completed or refused.")),
    "received_on": (_l("Received"), _l("The day we received the request.")),
    "due_on": (_l("Answer due"), _l("The day we must answer by (one month, statement 2.4).")),
    "extended_due_on": (_l("Extended to"), _l("The later date when we extended the period.")),
    "closed_at": (_l("Closed"), _l("When the request was completed or refused (UTC).")),
    "statement_version": (_l("Statement version"), _l("The version of the privacy statement in force at the time.")),
    "at": (_l("When"), _l("When the step happened (UTC).")),
    "actor": (_l("By"), _l("Who took the step: person (you), staff:<address> or system.")),
    "note": (_l("Note"), _l("What was said with the step, for example reasons.")),
    "old_value": (_l("Value we held"), _l("The value as we held it.")),
    "new_value": (_l("Value proposed"), _l("The value you proposed.")),
    "started_at": (_l("Started"), _l("When the download started (UTC).")),
    "completed_at": (_l("Completed"), _l("When its last byte was sent (UTC); empty when it was interrupted.")),
    "kind": (_l("Kind"), _l("copy (right of access) or portable (right to data portability).")),
    "format": (_l("Format"), _l("json, csv or html.")),
    "manifest_digest": (_l("Manifest digest"), _l("The SHA-256 of the download's manifest.")),
    "file_digest": (_l("File digest"), _l("The SHA-256 of the downloaded file as a whole.")),
}


def column_label(column: str) -> str:
    return str(COLUMNS[column][0])


def table_title(table: str) -> str:
    return str(TABLES[table][0])


def readme(kind: str, subject_email: str, generated_at: str, statement_version: str, manifest_digest: str,
           entries: list[ManifestEntry], columns: dict[str, tuple[str, ...]]) -> str:
    """The README.txt of a CSV zip: what it is, how to check it, and every file and column explained."""
    title = _("Copy of your personal data") if kind == "copy" else _("Portable export of your personal data")
    lines = [
        title, "=" * len(title), "",
        _("For: %(email)s", email=subject_email),
        _("Made on: %(moment)s (UTC)", moment=generated_at),
        _("Privacy statement version: %(version)s", version=statement_version), "",
        _("Each table is a CSV file (RFC 4180, UTF-8, comma-separated, first row the column names)."),
        _("manifest.json lists every file with its number of rows and its SHA-256."),
        _("The SHA-256 of manifest.json is: %(digest)s", digest=manifest_digest),
        _("To check: compute the SHA-256 of manifest.json (for example with \"sha256sum manifest.json\") and "
          "compare it with the line above and with your download history in the portal; then compute the SHA-256 "
          "of each CSV file and compare it with manifest.json."), "",
    ]
    if kind == "portable":
        lines += [_("This export holds only the data you gave us or that arose from your use of our services, "
                    "where we process them on your consent or on a contract with you (right to data portability, "
                    "Article 20 GDPR). The copy of your data holds everything."), ""]
    for entry in entries:
        table = entry.name.removesuffix(".csv")
        title_, description = TABLES[table]
        lines += [f"{entry.name} ({ngettext('%(num)d row', '%(num)d rows', entry.rows)})", f"  {title_}: {description}"]
        for column in columns[table]:
            label, explained = COLUMNS[column]
            lines.append(f"  - {column} ({label}): {explained}")
        lines.append("")
    return "\r\n".join(lines) + "\r\n"
