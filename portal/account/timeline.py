"""The geometry of the timeline picture: each relation as a bar, then how long its data are kept.

Pure arithmetic on dates; the template draws the SVG from it and prints the same facts as text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WIDTH = 900
LABEL_WIDTH = 250
RIGHT_MARGIN = 30
ROW_HEIGHT = 44
TOP = 36
BAR_HEIGHT = 16


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    relation_x1: float
    relation_x2: float
    ongoing: bool
    kept_x2: float | None  # end of retention, when known
    kept_pending: bool  # retention end depends on something that has not happened yet


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    chart_x1: float
    chart_x2: float
    today_x: float
    ticks: list[tuple[float, int]]
    rows: list[Row]


@dataclass(frozen=True)
class Span:
    label: str
    started: dt.date
    ended: dt.date | None
    kept_until: dt.date | None


def build_timeline(spans: list[Span], today: dt.date) -> Timeline | None:
    """Lay out one row per relation between the first start and the last known retention date."""
    if not spans:
        return None
    first_year = min(span.started for span in spans).year
    last_date = max([today] + [s.kept_until for s in spans if s.kept_until] + [s.ended for s in spans if s.ended])
    last_year = last_date.year + 1
    if last_date >= dt.date(last_date.year, 10, 1):
        last_year += 1  # room for the mark of an end not known yet
    start, end = dt.date(first_year, 1, 1), dt.date(last_year, 1, 1)
    x1, x2 = float(LABEL_WIDTH), float(WIDTH - RIGHT_MARGIN)
    days = (end - start).days

    def x(day: dt.date) -> float:
        return round(x1 + (x2 - x1) * (day - start).days / days, 1)

    step = max(1, -(-(last_year - first_year) // 8))  # at most about eight year labels
    ticks = [(x(dt.date(year, 1, 1)), year) for year in range(first_year, last_year + 1, step)]
    rows = []
    for index, span in enumerate(spans):
        relation_end = span.ended or today
        rows.append(Row(
            label=span.label, y=TOP + index * ROW_HEIGHT, relation_x1=x(span.started),
            relation_x2=max(x(relation_end), x(span.started) + 2), ongoing=span.ended is None,
            kept_x2=x(span.kept_until) if span.kept_until else None, kept_pending=span.kept_until is None,
        ))
    return Timeline(width=WIDTH, height=int(TOP + len(spans) * ROW_HEIGHT + 10), chart_x1=x1, chart_x2=x2,
                    today_x=x(today), ticks=ticks, rows=rows)
