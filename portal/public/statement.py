"""The statement page's content, built from the register in one language.

The statement is never copied by hand: prose comes from the register's clauses, and the lists of
section 3 (categories, purposes, legal bases, recipients) are derived from the register's
structured data, so the page cannot drift from the rules the portal applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.policy.register import Clause, Register


@dataclass(frozen=True)
class Block:
    """A paragraph (`kind == "p"`, one line) or a bulleted list (`kind == "ul"`, one line per item)."""

    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class BasisGroup:
    """Purposes of one relation that share a legal basis, as the statement groups them."""

    wording: str
    basis_name: str
    article: str
    numerals: tuple[str, ...]
    interests: tuple[tuple[str, str], ...]  # (numeral, interest) for legitimate interest


@dataclass(frozen=True)
class Entry:
    """One clause on the page, or a run of consecutive 'item' clauses shown as one list."""

    kind: str  # "text" | "items" | "derived"
    ids: tuple[str, ...]
    blocks: tuple[tuple[Block, ...], ...]
    show: str | None = None
    derived: tuple[object, ...] = ()


@dataclass(frozen=True)
class SectionView:
    id: str
    level: int
    title: str
    entries: list[Entry] = field(default_factory=list)


def text_blocks(text: str) -> tuple[Block, ...]:
    """Split a register text into paragraphs and lists (lines starting with "- " are list items)."""
    blocks: list[Block] = []
    for chunk in text.split("\n\n"):
        lines = [line.strip() for line in chunk.strip().splitlines() if line.strip()]
        paragraph: list[str] = []
        items: list[str] = []
        for line in lines:
            if line.startswith("- "):
                if paragraph:
                    blocks.append(Block("p", (" ".join(paragraph),)))
                    paragraph = []
                items.append(line[2:].strip())
            else:
                if items:
                    blocks.append(Block("ul", tuple(items)))
                    items = []
                paragraph.append(line)
        if paragraph:
            blocks.append(Block("p", (" ".join(paragraph),)))
        if items:
            blocks.append(Block("ul", tuple(items)))
    return tuple(blocks)


def derived_list(register: Register, clause: Clause, language: str) -> tuple[object, ...]:
    """The list a derived clause shows, built from the register's data for its relation."""
    relation_id = clause.relation or ""
    purposes = register.purposes_of(relation_id)
    if clause.show == "categories":
        return tuple(
            (register.categories[item.id].name.in_language(language), item.examples.in_language(language))
            for item in register.relations[relation_id].categories
        )
    if clause.show == "purposes":
        return tuple((p.numeral, p.description.in_language(language)) for p in purposes)
    if clause.show == "legal_bases":
        groups: dict[str, list[tuple[str, str | None]]] = {}
        for purpose in purposes:
            interest = purpose.interest.in_language(language) if purpose.interest else None
            groups.setdefault(purpose.basis, []).append((purpose.numeral, interest))
        relation = register.relations[relation_id]
        return tuple(
            BasisGroup(
                wording=relation.wording_of(register.bases[basis]).in_language(language),
                basis_name=register.bases[basis].name.in_language(language),
                article=register.bases[basis].article,
                numerals=tuple(numeral for numeral, _ in members),
                interests=tuple((numeral, interest) for numeral, interest in members if interest),
            )
            for basis, members in groups.items()
        )
    if clause.show == "recipients":
        seen: dict[str, str] = {}
        for purpose in purposes:
            for recipient in purpose.recipients:
                seen.setdefault(recipient, register.recipients[recipient].name.in_language(language))
        return tuple(seen.values())
    return ()


def statement_view(register: Register, language: str) -> list[SectionView]:
    """Every section of the statement with its clauses, in order, in `language`."""
    sections: list[SectionView] = []
    for section in register.sections:
        view = SectionView(id=section.id, level=section.level, title=section.title.in_language(language))
        for clause in register.clauses_in(section.id):
            blocks = text_blocks(clause.text.in_language(language))
            last = view.entries[-1] if view.entries else None
            if clause.kind == "item" and last is not None and last.kind == "items":
                view.entries[-1] = Entry("items", last.ids + (clause.id,), last.blocks + (blocks,))
            elif clause.kind == "item":
                view.entries.append(Entry("items", (clause.id,), (blocks,)))
            elif clause.kind == "derived":
                view.entries.append(Entry(
                    "derived", (clause.id,), (blocks,), show=clause.show,
                    derived=derived_list(register, clause, language),
                ))
            else:
                view.entries.append(Entry("text", (clause.id,), (blocks,)))
        sections.append(view)
    return sections


@dataclass(frozen=True)
class Reading:
    """One way the portal reads the statement beyond its letter, and what it concerns."""

    concerns: str  # "general" | "source" | "right" | "retention" | "purpose"
    subject: str
    clause: str | None
    text: str
    section: str | None = None


def readings(register: Register, language: str) -> list[Reading]:
    """Every interpretation the register records, general ones first, in `language`."""
    found = [Reading("general", "", None, i.text.in_language(language)) for i in register.interpretations]
    found += [
        Reading("source", s.name.in_language(language), s.clause, s.interpretation.in_language(language),
                register.clauses[s.clause].section)
        for s in register.sources.values() if s.interpretation
    ]
    found += [
        Reading("right", r.name.in_language(language), r.clause, r.interpretation.in_language(language),
                register.clauses[r.clause].section)
        for r in register.rights.values() if r.interpretation
    ]
    for rule in register.retention.values():
        if rule.interpretation:
            users = [p for p in register.purposes.values() if p.retention == rule.id]
            subject = register.relations[users[0].relation].name.in_language(language)
            found.append(Reading("retention", subject, rule.clause, rule.interpretation.in_language(language),
                                 register.clauses[rule.clause].section))
    for purpose in register.purposes.values():
        if purpose.interpretation:
            relation = register.relations[purpose.relation]
            subject = f"{relation.name.in_language(language)} {purpose.numeral}"
            purposes_clause = f"{relation.section}.purposes"
            found.append(Reading("purpose", subject, purposes_clause, purpose.interpretation.in_language(language),
                                 relation.section))
    return found
