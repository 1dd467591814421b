"""The privacy statement as data: load `register.toml` into frozen dataclasses and check it.

The register is the single source of truth for every promise of the statement. Code reads purposes,
legal bases, retention rules, recipients and rights from here; nothing else restates them. Loading
validates every cross-reference and fails with `RegisterError` listing each problem, so an
inconsistent register stops the portal at start-up instead of misinforming a person.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from portal.policy.text import LANGUAGES, Period, Text

REGISTER_PATH = Path(__file__).with_name("register.toml")
FORMAT = "portal-register/1"

RELATION_IDS = ("customer", "supplier", "visitor", "applicant", "participant")
CATEGORY_IDS = (
    "contact", "correspondence", "payment", "delivery", "online", "recruitment", "participation", "media",
)
SOURCE_IDS = ("provided", "observed", "third_party", "public", "derived")
BASIS_IDS = ("contract", "pre_contract", "legitimate_interest", "consent")
RIGHT_IDS = (
    "access", "rectification", "erasure", "restriction", "objection", "withdrawal",
    "direct_marketing_objection", "portability",
)
RETENTION_KINDS = ("after_relation_end", "after_last_contact", "until_consent_withdrawn", "as_long_as_necessary")
CLAUSE_KINDS = ("text", "item", "derived")
DERIVED_LISTS = ("categories", "purposes", "legal_bases", "recipients")
DELIVERY_KINDS = ("webhook", "manual")
RIGHT_CONDITIONS = ("always", "by_law", "bases", "direct_marketing")
_CLAUSE_SLUG = re.compile(r"^(\.[a-z0-9_]+)+$")


class RegisterError(Exception):
    """The register is inconsistent; `problems` lists every problem found, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("The policy register is inconsistent:\n- " + "\n- ".join(problems))


@dataclass(frozen=True)
class Section:
    id: str
    title: Text

    @property
    def level(self) -> int:
        return self.id.count(".") + 1


@dataclass(frozen=True)
class Clause:
    id: str
    section: str
    kind: str
    text: Text
    show: str | None = None
    relation: str | None = None


@dataclass(frozen=True)
class Source:
    id: str
    name: Text
    clause: str
    interpretation: Text | None = None


@dataclass(frozen=True)
class Category:
    id: str
    name: Text
    description: Text
    special_care: Text | None = None


@dataclass(frozen=True)
class Basis:
    id: str
    name: Text
    article: str
    statement_wording: Text
    plain: Text


@dataclass(frozen=True)
class Recipient:
    id: str
    name: Text
    clause: str
    outside_eea_possible: bool = False
    notice: Notice | None = None  # Art. 19: how a recipient of the purposes concerned is told of a change


@dataclass(frozen=True)
class Notice:
    """How a party hears what the portal decided: a signed webhook, or a task for its owner in the back office."""

    delivery: str  # "webhook" or "manual"
    owner: str  # the address at the company that answers for it: tasks and failed deliveries go there
    url: str | None = None  # webhook: where events are posted (https)


@dataclass(frozen=True)
class System:
    """One of the company's systems that holds personal data: what it holds, who answers for it, how it hears."""

    id: str
    name: Text  # as it reads after "in": "ons CRM" / "our CRM"
    holds: tuple[tuple[str, str], ...]  # (relation, category) pairs
    consents: tuple[str, ...]  # consent purposes whose consents it keeps
    notice: Notice

    def holds_data(self, relation: str, category: str) -> bool:
        return (relation, category) in self.holds

    @property
    def secret_variable(self) -> str:
        """The environment variable holding this system's webhook signing secret."""
        return f"PORTAL_SYSTEM_{self.id.upper()}_SECRET"


@dataclass(frozen=True)
class Safeguard:
    id: str
    text: Text


@dataclass(frozen=True)
class Transfers:
    clause: str
    safeguards: tuple[Safeguard, ...]


@dataclass(frozen=True)
class ConsentExtension:
    """Consent to a purpose lengthens the retention, after which the person is asked to renew."""

    purpose: str
    period: Period
    then: str
    answer_within: Period | None = None  # after the renewal question: erased when not renewed by then


@dataclass(frozen=True)
class RetentionRule:
    id: str
    kind: str
    clause: str
    period: Period | None = None
    consent_purpose: str | None = None
    consent_extension: ConsentExtension | None = None
    counted_from: str | None = None
    interpretation: Text | None = None


@dataclass(frozen=True)
class RelationCategory:
    id: str
    examples: Text


@dataclass(frozen=True)
class Relation:
    id: str
    section: str
    name: Text
    summary: Text
    categories: tuple[RelationCategory, ...]
    # The statement words some bases per section ("de sollicitant heeft toestemming gegeven ...");
    # where it does, that wording is shown instead of the basis's general one.
    basis_wording: Mapping[str, Text] = field(default_factory=dict)

    def wording_of(self, basis: Basis) -> Text:
        return self.basis_wording.get(basis.id, basis.statement_wording)

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(category.id for category in self.categories)


@dataclass(frozen=True)
class Purpose:
    id: str
    relation: str
    numeral: str
    description: Text
    basis: str
    categories: tuple[str, ...]
    recipients: tuple[str, ...]
    retention: str
    direct_marketing: bool = False
    interest: Text | None = None
    interpretation: Text | None = None


@dataclass(frozen=True)
class Right:
    id: str
    name: Text
    article: str
    clause: str
    applies: str
    bases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # where the right covers only data from some sources (portability)
    keeps_while_running: tuple[str, ...] = ()  # erasure: bases whose data stay while the relation runs
    keeps_categories: tuple[str, ...] = ()  # erasure: categories the law obliges us to keep until retention ends
    interpretation: Text | None = None


@dataclass(frozen=True)
class Handling:
    response_time: Period
    extension: Period
    extension_notice_within: Period
    response_clause: str
    fee_clause: str
    verification_clause: str
    channels_clause: str


@dataclass(frozen=True)
class Party:
    """The controller or the supervisory authority: who they are and how to reach them."""

    name: Text
    street: str
    postcode: str
    city: Text
    email: str
    website: str
    clause: str
    short_name: str | None = None
    country: Text | None = None
    enterprise_number: str | None = None
    postal_attention: Text | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Interpretation:
    """A reading of the statement that is not literal and applies across the register."""

    id: str
    text: Text


@dataclass(frozen=True)
class Version:
    """One version of the register: when it came into force, what changed, and where an old one is kept."""

    version: str
    date: dt.date
    summary: Text
    archive: str | None = None  # for earlier versions: their register file, relative to this one


@dataclass(frozen=True)
class Statement:
    version: str
    date: dt.date
    original_language: str
    title: Text
    translation_note: Text
    history: tuple[Version, ...] = ()

    def changes_since(self, version: str) -> list[Version]:
        """The versions after `version`, oldest first (all of them when `version` is unknown)."""
        known = [v.version for v in self.history]
        if version not in known:
            return list(self.history)
        return list(self.history[known.index(version) + 1:])

    @property
    def in_force_since(self) -> dt.date | None:
        return self.history[-1].date if self.history else None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one register per process
class Register:
    statement: Statement
    controller: Party
    authority: Party
    sections: tuple[Section, ...]
    clauses: Mapping[str, Clause]
    sources: Mapping[str, Source]
    categories: Mapping[str, Category]
    bases: Mapping[str, Basis]
    recipients: Mapping[str, Recipient]
    transfers: Transfers
    retention: Mapping[str, RetentionRule]
    relations: Mapping[str, Relation]
    purposes: Mapping[str, Purpose]
    rights: Mapping[str, Right]
    handling: Handling
    interpretations: tuple[Interpretation, ...] = ()
    systems: Mapping[str, System] = field(default_factory=dict)
    _clause_order: tuple[str, ...] = field(default=(), repr=False)

    def ordered_clauses(self) -> list[Clause]:
        """Every clause, in statement order."""
        return [self.clauses[cid] for cid in self._clause_order]

    def clauses_in(self, section_id: str) -> list[Clause]:
        """The clauses of one section, in statement order."""
        return [self.clauses[cid] for cid in self._clause_order if self.clauses[cid].section == section_id]

    def purposes_of(self, relation_id: str) -> list[Purpose]:
        """The purposes of one relation, in the statement's order (I, II, ...)."""
        return [purpose for purpose in self.purposes.values() if purpose.relation == relation_id]

    def consent_purposes(self) -> list[Purpose]:
        """Purposes that rest on consent: the only ones a consent record may name."""
        return [purpose for purpose in self.purposes.values() if purpose.basis == "consent"]

    def purposes_using(self, relation_id: str, category_id: str) -> list[Purpose]:
        """The purposes for which a data item of this relation and category is processed."""
        return [p for p in self.purposes_of(relation_id) if category_id in p.categories]

    def systems_holding(self, relation_id: str, category_id: str) -> list[System]:
        """The company's systems that keep data of this relation and category."""
        return [system for system in self.systems.values() if system.holds_data(relation_id, category_id)]

    def systems_keeping_consent(self, purpose_id: str) -> list[System]:
        """The company's systems that keep consents to this purpose."""
        return [system for system in self.systems.values() if purpose_id in system.consents]


class _Reader:
    """Turns raw TOML into dataclasses while collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def text(self, raw: Any, where: str) -> Text:
        if not isinstance(raw, dict) or set(raw) != set(LANGUAGES):
            self.problems.append(f"{where}: needs exactly the languages nl and en")
            return Text(nl="", en="")
        for language in LANGUAGES:
            if not isinstance(raw[language], str) or not raw[language].strip():
                self.problems.append(f"{where}.{language}: is empty")
        return Text(nl=str(raw["nl"]).strip(), en=str(raw["en"]).strip())

    def optional_text(self, raw: Any, where: str) -> Text | None:
        return None if raw is None else self.text(raw, where)

    def period(self, raw: Any, where: str) -> Period:
        allowed = {"years", "months", "weeks", "days"}
        if not isinstance(raw, dict) or not raw or not set(raw) <= allowed:
            self.problems.append(f"{where}: a period needs years, months, weeks or days")
            return Period()
        if not all(isinstance(v, int) and v >= 0 for v in raw.values()):
            self.problems.append(f"{where}: period amounts must be whole numbers of zero or more")
            return Period()
        period = Period(**raw)
        if period.is_empty:
            self.problems.append(f"{where}: the period is zero")
        return period

    def required(self, raw: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in raw:
            self.problems.append(f"{where}: missing '{key}'")
            return None
        return raw[key]


def parse_register(data: Mapping[str, Any]) -> Register:
    """Build and validate a `Register` from parsed TOML; raise `RegisterError` listing every problem."""
    r = _Reader()
    if data.get("format") != FORMAT:
        raise RegisterError([f"format must be '{FORMAT}', found {data.get('format')!r}"])
    try:
        register = _build(r, data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        r.problems.append(f"malformed register near {exc!r}")
        raise RegisterError(r.problems) from exc
    _check_references(r, register)
    if r.problems:
        raise RegisterError(r.problems)
    return register


def _party(r: _Reader, raw: Mapping[str, Any], where: str) -> Party:
    return Party(
        name=r.text(raw.get("name"), f"{where}.name") if isinstance(raw.get("name"), dict)
        else Text(nl=str(raw.get("name", "")), en=str(raw.get("name", ""))),
        street=str(r.required(raw, "street", where)),
        postcode=str(r.required(raw, "postcode", where)),
        city=r.text(raw.get("city"), f"{where}.city"),
        email=str(r.required(raw, "email", where)),
        website=str(r.required(raw, "website", where)),
        clause=str(r.required(raw, "clause", where)),
        short_name=raw.get("short_name"),
        country=r.optional_text(raw.get("country"), f"{where}.country"),
        enterprise_number=raw.get("enterprise_number"),
        postal_attention=r.optional_text(raw.get("postal_attention"), f"{where}.postal_attention"),
        phone=raw.get("phone"),
    )


_SYSTEM_ID = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def _notice(r: _Reader, raw: Mapping[str, Any], where: str) -> Notice:
    delivery, owner, url = raw.get("delivery"), raw.get("owner"), raw.get("url")
    if delivery not in DELIVERY_KINDS:
        r.problems.append(f"{where}: delivery must be one of {', '.join(DELIVERY_KINDS)}")
    if not isinstance(owner, str) or "@" not in owner:
        r.problems.append(f"{where}: owner must be the address of who answers for it at the company")
    if delivery == "webhook" and not (isinstance(url, str) and url.startswith("https://")):
        r.problems.append(f"{where}: a webhook needs an https url")
    if delivery == "manual" and url is not None:
        r.problems.append(f"{where}: a manual notice has no url")
    return Notice(delivery=str(delivery), owner=str(owner), url=url)


def _build(r: _Reader, data: Mapping[str, Any]) -> Register:
    raw_statement = data["statement"]
    statement = Statement(
        version=str(raw_statement["version"]),
        date=raw_statement["date"],
        original_language=raw_statement["original_language"],
        title=r.text(raw_statement["title"], "statement.title"),
        translation_note=r.text(raw_statement["translation_note"], "statement.translation_note"),
        history=tuple(
            Version(version=str(raw["version"]), date=raw["date"],
                    summary=r.text(raw.get("summary"), f"statement.history[{index}].summary"),
                    archive=raw.get("archive"))
            for index, raw in enumerate(raw_statement.get("history", []))
        ),
    )
    if statement.history and statement.history[-1].version != statement.version:
        r.problems.append("statement.history: the last version must be statement.version, the one in force")
    for version in statement.history[:-1]:
        if not version.archive or not (REGISTER_PATH.parent / version.archive).is_file():
            r.problems.append(f"statement.history: version {version.version} needs the archive of its register")
    if not isinstance(statement.date, dt.date):
        r.problems.append("statement.date: must be a date such as 2023-06-20")

    sections = tuple(
        Section(id=str(raw["id"]), title=r.text(raw["title"], f"section {raw['id']}.title"))
        for raw in data["section"]
    )
    clause_order: list[str] = []
    clauses: dict[str, Clause] = {}
    for raw in data["clause"]:
        cid = str(raw["id"])
        if cid in clauses:
            r.problems.append(f"clause {cid}: the id is used twice")
        clause_order.append(cid)
        clauses[cid] = Clause(
            id=cid, section=str(raw["section"]), kind=raw.get("kind", "text"),
            text=r.text(raw["text"], f"clause {cid}.text"),
            show=raw.get("show"), relation=raw.get("relation"),
        )

    sources = {
        str(raw["id"]): Source(
            id=str(raw["id"]), name=r.text(raw["name"], f"source {raw['id']}.name"), clause=raw["clause"],
            interpretation=r.optional_text(raw.get("interpretation"), f"source {raw['id']}.interpretation"),
        )
        for raw in data["source"]
    }
    categories = {
        cid: Category(
            id=cid, name=r.text(raw["name"], f"category {cid}.name"),
            description=r.text(raw["description"], f"category {cid}.description"),
            special_care=r.optional_text(raw.get("special_care"), f"category {cid}.special_care"),
        )
        for cid, raw in data["category"].items()
    }
    bases = {
        bid: Basis(
            id=bid, name=r.text(raw["name"], f"basis {bid}.name"), article=str(raw["article"]),
            statement_wording=r.text(raw["statement_wording"], f"basis {bid}.statement_wording"),
            plain=r.text(raw["plain"], f"basis {bid}.plain"),
        )
        for bid, raw in data["basis"].items()
    }
    recipients = {
        rid: Recipient(
            id=rid, name=r.text(raw["name"], f"recipient {rid}.name"), clause=raw["clause"],
            outside_eea_possible=bool(raw.get("outside_eea_possible", False)),
            notice=_notice(r, raw["notice"], f"recipient {rid}.notice") if "notice" in raw else None,
        )
        for rid, raw in data["recipient"].items()
    }
    systems = {
        sid: System(
            id=sid, name=r.text(raw.get("name"), f"system {sid}.name"),
            holds=tuple((str(relation), str(category)) for relation, categories in raw.get("holds", {}).items()
                        for category in categories),
            consents=tuple(str(p) for p in raw.get("consents", ())),
            notice=_notice(r, raw, f"system {sid}"),
        )
        for sid, raw in data.get("system", {}).items()
    }
    raw_transfers = data["transfers"]
    transfers = Transfers(
        clause=raw_transfers["clause"],
        safeguards=tuple(
            Safeguard(id=str(raw["id"]), text=r.text(raw["text"], f"transfers.safeguard {raw['id']}"))
            for raw in raw_transfers["safeguard"]
        ),
    )
    retention = {rid: _retention_rule(r, rid, raw) for rid, raw in data["retention"].items()}
    relations = {
        rid: Relation(
            id=rid, section=str(raw["section"]), name=r.text(raw["name"], f"relation {rid}.name"),
            summary=r.text(raw["summary"], f"relation {rid}.summary"),
            categories=tuple(
                RelationCategory(id=str(c["id"]), examples=r.text(c["examples"], f"relation {rid} {c['id']}"))
                for c in raw["category"]
            ),
            basis_wording={
                basis: r.text(text, f"relation {rid}.basis_wording.{basis}")
                for basis, text in raw.get("basis_wording", {}).items()
            },
        )
        for rid, raw in data["relation"].items()
    }
    purposes = {
        pid: Purpose(
            id=pid, relation=raw["relation"], numeral=raw["numeral"],
            description=r.text(raw["description"], f"purpose {pid}.description"),
            basis=raw["basis"], categories=tuple(raw["categories"]), recipients=tuple(raw["recipients"]),
            retention=raw["retention"], direct_marketing=bool(raw.get("direct_marketing", False)),
            interest=r.optional_text(raw.get("interest"), f"purpose {pid}.interest"),
            interpretation=r.optional_text(raw.get("interpretation"), f"purpose {pid}.interpretation"),
        )
        for pid, raw in data["purpose"].items()
    }
    rights = {
        rid: Right(
            id=rid, name=r.text(raw["name"], f"right {rid}.name"), article=str(raw["article"]),
            clause=raw["clause"], applies=raw["applies"], bases=tuple(raw.get("bases", ())),
            sources=tuple(raw.get("sources", ())),
            keeps_while_running=tuple(raw.get("keeps_while_running", ())),
            keeps_categories=tuple(raw.get("keeps_categories", ())),
            interpretation=r.optional_text(raw.get("interpretation"), f"right {rid}.interpretation"),
        )
        for rid, raw in data["right"].items()
    }
    raw_handling = data["handling"]
    handling = Handling(
        response_time=r.period(raw_handling["response_time"], "handling.response_time"),
        extension=r.period(raw_handling["extension"], "handling.extension"),
        extension_notice_within=r.period(raw_handling["extension_notice_within"], "handling.extension_notice_within"),
        response_clause=raw_handling["response_clause"],
        fee_clause=raw_handling["fee_clause"],
        verification_clause=raw_handling["verification_clause"],
        channels_clause=raw_handling["channels_clause"],
    )
    return Register(
        statement=statement,
        controller=_party(r, data["controller"], "controller"),
        authority=_party(r, data["authority"], "authority"),
        sections=sections, clauses=clauses, sources=sources, categories=categories, bases=bases,
        recipients=recipients, transfers=transfers, retention=retention, relations=relations,
        purposes=purposes, rights=rights, handling=handling, systems=systems, _clause_order=tuple(clause_order),
        interpretations=tuple(
            Interpretation(id=str(raw["id"]), text=r.text(raw["text"], f"interpretation {raw['id']}"))
            for raw in data.get("interpretation", [])
        ),
    )


def _retention_rule(r: _Reader, rid: str, raw: Mapping[str, Any]) -> RetentionRule:
    where = f"retention {rid}"
    extension = raw.get("consent_extension")
    return RetentionRule(
        id=rid, kind=raw["kind"], clause=raw["clause"],
        period=r.period(raw["period"], f"{where}.period") if "period" in raw else None,
        consent_purpose=raw.get("consent_purpose"),
        consent_extension=ConsentExtension(
            purpose=extension["purpose"], period=r.period(extension["period"], f"{where}.consent_extension"),
            then=extension["then"],
            answer_within=r.period(extension["answer_within"], f"{where}.consent_extension.answer_within")
            if "answer_within" in extension else None,
        ) if extension else None,
        counted_from=raw.get("counted_from"),
        interpretation=r.optional_text(raw.get("interpretation"), f"{where}.interpretation"),
    )


def _check_references(r: _Reader, reg: Register) -> None:  # noqa: C901 - one flat list of rules reads best
    problems = r.problems
    section_ids = [s.id for s in reg.sections]
    if len(set(section_ids)) != len(section_ids):
        problems.append("sections: a section id is used twice")
    interpretation_ids = [i.id for i in reg.interpretations]
    if len(set(interpretation_ids)) != len(interpretation_ids):
        problems.append("interpretations: an interpretation id is used twice")

    def need(kind: str, value: str | None, known: Mapping[str, Any] | list[str] | tuple[str, ...], where: str) -> None:
        if value not in known:
            problems.append(f"{where}: unknown {kind} {value!r}")

    def exact_ids(kind: str, found: Mapping[str, Any], expected: tuple[str, ...]) -> None:
        if set(found) != set(expected):
            missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
            problems.append(
                f"{kind}: ids must be exactly {', '.join(expected)} (missing {missing}, unexpected {extra})"
            )

    exact_ids("relations", reg.relations, RELATION_IDS)
    exact_ids("categories", reg.categories, CATEGORY_IDS)
    exact_ids("sources", reg.sources, SOURCE_IDS)
    exact_ids("bases", reg.bases, BASIS_IDS)
    exact_ids("rights", reg.rights, RIGHT_IDS)

    for clause in reg.clauses.values():
        where = f"clause {clause.id}"
        slug = clause.id.removeprefix(clause.section)
        if slug == clause.id or not _CLAUSE_SLUG.match(slug):
            problems.append(f"{where}: the id must be '<section>.<lowercase slug>' and start with its section")
        need("section", clause.section, section_ids, where)
        need("clause kind", clause.kind, CLAUSE_KINDS, where)
        if clause.kind == "derived":
            need("derived list", clause.show, DERIVED_LISTS, where)
            need("relation", clause.relation, reg.relations, where)
        elif clause.show or clause.relation:
            problems.append(f"{where}: only a derived clause has 'show' and 'relation'")

    for source in reg.sources.values():
        need("clause", source.clause, reg.clauses, f"source {source.id}")
    for recipient in reg.recipients.values():
        need("clause", recipient.clause, reg.clauses, f"recipient {recipient.id}")
    need("clause", reg.transfers.clause, reg.clauses, "transfers")
    for party, where in ((reg.controller, "controller"), (reg.authority, "authority")):
        need("clause", party.clause, reg.clauses, where)
    for key in ("response_clause", "fee_clause", "verification_clause", "channels_clause"):
        need("clause", getattr(reg.handling, key), reg.clauses, f"handling.{key}")

    for relation in reg.relations.values():
        where = f"relation {relation.id}"
        need("section", relation.section, section_ids, where)
        if not relation.categories:
            problems.append(f"{where}: lists no data categories")
        for category in relation.categories:
            need("category", category.id, reg.categories, where)
        if not reg.purposes_of(relation.id):
            problems.append(f"{where}: has no purpose")
        for basis in relation.basis_wording:
            if basis not in {p.basis for p in reg.purposes_of(relation.id)}:
                problems.append(f"{where}: words basis {basis!r}, which none of its purposes rests on")

    for purpose in reg.purposes.values():
        where = f"purpose {purpose.id}"
        need("relation", purpose.relation, reg.relations, where)
        need("basis", purpose.basis, reg.bases, where)
        need("retention rule", purpose.retention, reg.retention, where)
        if not re.fullmatch(rf"{re.escape(purpose.relation)}\.\d+", purpose.id):
            problems.append(f"{where}: the id must be '<relation>.<number>'")
        if not purpose.categories:
            problems.append(f"{where}: uses no data category")
        if not purpose.recipients:
            problems.append(f"{where}: names no recipient")
        owner = reg.relations.get(purpose.relation)
        for category_id in purpose.categories:
            if owner and category_id not in owner.category_ids:
                problems.append(f"{where}: category {category_id!r} is not listed for relation {purpose.relation!r}")
        for recipient_id in purpose.recipients:
            need("recipient", recipient_id, reg.recipients, where)
        if (purpose.basis == "legitimate_interest") != (purpose.interest is not None):
            problems.append(f"{where}: states an interest if and only if its basis is legitimate interest")
        rule = reg.retention.get(purpose.retention)
        if rule and rule.kind == "until_consent_withdrawn" and purpose.basis != "consent":
            problems.append(f"{where}: keeps data until consent is withdrawn but does not rest on consent")

    for rule in reg.retention.values():
        where = f"retention {rule.id}"
        need("retention kind", rule.kind, RETENTION_KINDS, where)
        need("clause", rule.clause, reg.clauses, where)
        if (rule.kind == "until_consent_withdrawn") == (rule.period is not None):
            problems.append(f"{where}: a period is required for every kind but until_consent_withdrawn")
        if rule.kind == "until_consent_withdrawn":
            consented = reg.purposes.get(rule.consent_purpose or "")
            if consented is None or consented.basis != "consent":
                problems.append(f"{where}: consent_purpose must name a purpose that rests on consent")
        if rule.kind == "as_long_as_necessary":
            if rule.interpretation is None:
                problems.append(f"{where}: 'as long as necessary' needs an interpretation saying how we read it")
            if rule.counted_from not in ("relation_end", "last_contact"):
                problems.append(f"{where}: counted_from must be relation_end or last_contact")
        if rule.consent_extension:
            extending = reg.purposes.get(rule.consent_extension.purpose)
            if extending is None or extending.basis != "consent":
                problems.append(f"{where}: consent_extension must name a purpose that rests on consent")
        if not any(p.retention == rule.id for p in reg.purposes.values()):
            problems.append(f"{where}: no purpose uses this rule")

    _check_systems(reg, problems)

    for right in reg.rights.values():
        where = f"right {right.id}"
        need("clause", right.clause, reg.clauses, where)
        need("condition", right.applies, RIGHT_CONDITIONS, where)
        if (right.applies == "bases") != bool(right.bases):
            problems.append(f"{where}: lists bases if and only if it applies by basis")
        for basis in right.bases:
            need("basis", basis, reg.bases, where)
        for source_id in right.sources:
            need("source", source_id, reg.sources, where)
        for basis in right.keeps_while_running:
            need("basis", basis, reg.bases, where)
        for category_id in right.keeps_categories:
            need("category", category_id, reg.categories, where)


def _check_systems(reg: Register, problems: list[str]) -> None:
    """Where systems are named, every kind of data and every consent lives in at least one of them."""
    for system in reg.systems.values():
        where = f"system {system.id}"
        if not _SYSTEM_ID.match(system.id):
            problems.append(f"{where}: the id must be lower case letters, digits and _ (it names a variable)")
        for relation, category in system.holds:
            if relation not in reg.relations or category not in reg.relations[relation].category_ids:
                problems.append(f"{where}: holds {relation}.{category}, which the register does not list")
        for purpose in system.consents:
            if purpose not in reg.purposes or reg.purposes[purpose].basis != "consent":
                problems.append(f"{where}: keeps consents to {purpose!r}, which is not a purpose resting on consent")
    if not reg.systems:
        return  # an archived register from before the systems were described
    for relation in reg.relations.values():
        for category in relation.category_ids:
            if not reg.systems_holding(relation.id, category):
                problems.append(f"relation {relation.id}: no system holds its {category} data")
    for purpose in reg.consent_purposes():
        if not reg.systems_keeping_consent(purpose.id):
            problems.append(f"purpose {purpose.id}: no system keeps its consents")
    told = {rid for purpose in reg.purposes.values() for rid in purpose.recipients}
    for rid in sorted(told):
        if rid in reg.recipients and reg.recipients[rid].notice is None:
            problems.append(f"recipient {rid}: needs a notice (Art. 19: it is told of rectifications and erasures)")


def load_register(path: Path | None = None) -> Register:
    """Read and validate a register file; raise `RegisterError` when it is inconsistent."""
    source = path or REGISTER_PATH
    try:
        with source.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise RegisterError([f"{source.name} is not valid TOML: {exc}"]) from exc
    return parse_register(data)


@cache
def archived_register(version: str) -> Register | None:
    """An earlier version of the register, as it was, or None when there is no such version."""
    entry = next((v for v in default_register().statement.history if v.version == version), None)
    if entry is None or not entry.archive:
        return None
    return load_register(REGISTER_PATH.parent / entry.archive)


@cache
def default_register() -> Register:
    """The register shipped with the portal, loaded once per process (it never changes at run time)."""
    return load_register()
