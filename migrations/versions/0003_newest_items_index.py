"""an index for the newest items of a category

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:37:34.373215
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('data_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_item_relation_category'))
        batch_op.create_index('ix_data_item_relation_category_recorded', ['relation_id', 'category', 'recorded', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('data_item', schema=None) as batch_op:
        batch_op.drop_index('ix_data_item_relation_category_recorded')
        batch_op.create_index(batch_op.f('ix_data_item_relation_category'), ['relation_id', 'category'], unique=False)

