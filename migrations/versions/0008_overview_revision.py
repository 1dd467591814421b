"""the overview's revision per person and generation shared by all; when a session's view was last audited

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overview_noted_at', sa.DateTime(), nullable=True))
    generation = op.create_table('overview_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_overview_generation'))
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table('overview_generation')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_column('overview_noted_at')
    with op.batch_alter_table('subject', schema=None) as batch_op:
        batch_op.drop_column('revision')
