"""Many data items for one relation in a single statement: for long categories, paged pages and query counts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from portal.models import DataItem


def add_items(session, relation_id: int, count: int, category: str = "correspondence") -> None:
    session.execute(insert(DataItem), [
        {"relation_id": relation_id, "category": category, "field": "e-mail", "value": f"Message {n}",
         "source": "provided", "recorded": dt.date(2020, 1, 1) + dt.timedelta(days=n % 2000),
         "fingerprint": f"{relation_id}-{category}-{n}"}
        for n in range(count)
    ])
    session.commit()
