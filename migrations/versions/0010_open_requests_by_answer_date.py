"""the back office's queue: open requests by answer date, from one index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The queue's default selection as it stands at this revision: the open states, the rights staff answer.
OPEN_STAFF_REQUESTS = ("status IN ('extended', 'in_progress', 'received', 'waiting') AND "
                       "\"right\" IN ('access', 'erasure', 'objection', 'portability', 'rectification', 'restriction')")


def upgrade() -> None:
    # PostgreSQL only: SQLite (tests, a laptop) sorts a few thousand rows fast enough and cannot reflect
    # an index on an expression, so the migration tests could not compare it there.
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.create_index('ix_rights_request_open_due', 'rights_request',
                    [sa.text('coalesce(extended_due_on, due_on)'), 'id'], unique=False,
                    postgresql_where=sa.text(OPEN_STAFF_REQUESTS),
                    postgresql_include=['right', 'due_on', 'extended_due_on'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_rights_request_open_due', table_name='rights_request')
