"""the overview is rendered for every view: no revision per person, no shared generation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('overview_generation')
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.drop_column('revision')


def downgrade() -> None:
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
    generation = op.create_table('overview_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_overview_generation'))
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])
