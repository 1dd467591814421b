"""Bilingual texts and periods: the two value types the register is made of."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class Text:
    """A text of the register in Dutch (the statement's original) and English (our translation)."""

    nl: str
    en: str

    def in_language(self, language: str) -> str:
        """The text in `language`; anything but English gets the Dutch original."""
        return self.en if language == "en" else self.nl


@dataclass(frozen=True)
class Period:
    """A calendar period such as "10 years" or "4 weeks", added to dates the way people count.

    Years and months move the calendar date (31 January + 1 month = 28 or 29 February: the last day
    of a shorter month), weeks and days count days.
    """

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    def after(self, start: dt.date) -> dt.date:
        """The date this period after `start`."""
        month_index = start.month - 1 + self.months + 12 * self.years
        year = start.year + month_index // 12
        month = month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day) + dt.timedelta(weeks=self.weeks, days=self.days)

    @property
    def is_empty(self) -> bool:
        return not (self.years or self.months or self.weeks or self.days)

    def describe(self, language: str) -> str:
        """Plain words, e.g. "10 jaar" or "4 weeks"."""
        names = {
            "nl": {"years": ("jaar", "jaar"), "months": ("maand", "maanden"),
                   "weeks": ("week", "weken"), "days": ("dag", "dagen")},
            "en": {"years": ("year", "years"), "months": ("month", "months"),
                   "weeks": ("week", "weeks"), "days": ("day", "days")},
        }["en" if language == "en" else "nl"]
        joiner = " and " if language == "en" else " en "
        parts = []
        for unit in ("years", "months", "weeks", "days"):
            amount = getattr(self, unit)
            if amount:
                singular, plural = names[unit]
                parts.append(f"{amount} {singular if amount == 1 else plural}")
        return joiner.join(parts)
