"""the company's systems hear every decision: instructions, suppressions, API tokens, owner reminders

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:36:40

A request decided and waiting for the company's systems is `carrying_out`: still open, so the queue's
partial index (0010) takes that state in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


OPEN_BEFORE = "status IN ('extended', 'in_progress', 'received', 'waiting')"
OPEN_NOW = "status IN ('carrying_out', 'extended', 'in_progress', 'received', 'waiting')"
STAFF_RIGHTS = ("\"right\" IN ('access', 'erasure', 'objection', 'portability', 'rectification', "
                "'restriction')")


def _queue_index(open_states: str) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return  # as in 0010: PostgreSQL only
    op.drop_index('ix_rights_request_open_due', table_name='rights_request')
    op.create_index('ix_rights_request_open_due', 'rights_request',
                    [sa.text('coalesce(extended_due_on, due_on)'), 'id'], unique=False,
                    postgresql_where=sa.text(f"{open_states} AND {STAFF_RIGHTS}"),
                    postgresql_include=['right', 'due_on', 'extended_due_on'])


def upgrade() -> None:
    _queue_index(OPEN_NOW)
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_system'), ['system'], unique=False)

    op.create_table('owner_reminder',
    sa.Column('owner', sa.String(length=254), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('owner', name=op.f('pk_owner_reminder'))
    )
    op.create_table('suppression',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_key', sa.String(length=64), nullable=False),
    sa.Column('relation', sa.String(length=20), nullable=True),
    sa.Column('category', sa.String(length=20), nullable=True),
    sa.Column('purpose', sa.String(length=20), nullable=True),
    sa.Column('systems', sa.String(length=300), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('on', sa.Date(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('lifted_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppression'))
    )
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppression_subject_key'), ['subject_key'], unique=False)

    op.create_table('instruction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('party_kind', sa.String(length=10), nullable=False),
    sa.Column('party', sa.String(length=40), nullable=False),
    sa.Column('delivery', sa.String(length=10), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('subject_email', sa.String(length=254), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('done_by', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['rights_request.id'], name=op.f('fk_instruction_request_id_rights_request'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruction')),
    sa.UniqueConstraint('event_id', name=op.f('uq_instruction_event_id'))
    )
    with op.batch_alter_table('instruction', schema=None) as batch_op:
        batch_op.create_index('ix_instruction_due', ['status', 'delivery', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_instruction_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instruction_subject_email'), ['subject_email'], unique=False)

    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('system', sa.String(length=40), nullable=True))

    with op.batch_alter_table('data_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('system', sa.String(length=40), nullable=True))



def downgrade() -> None:
    _queue_index(OPEN_BEFORE)
    with op.batch_alter_table('data_item', schema=None) as batch_op:
        batch_op.drop_column('system')

    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_column('system')

    with op.batch_alter_table('instruction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instruction_subject_email'))
        batch_op.drop_index(batch_op.f('ix_instruction_request_id'))
        batch_op.drop_index('ix_instruction_due')

    op.drop_table('instruction')
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppression_subject_key'))

    op.drop_table('suppression')
    op.drop_table('owner_reminder')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_system'))

    op.drop_table('api_token')
