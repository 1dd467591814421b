"""rights requests, their history and objections to direct marketing

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:57:30.756080
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('marketing_objection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('objected_at', sa.DateTime(), nullable=False),
    sa.Column('lifted_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_objection'))
    )
    with op.batch_alter_table('marketing_objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marketing_objection_email'), ['email'], unique=False)

    op.create_table('rights_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('right', sa.String(length=40), nullable=False),
    sa.Column('scope', sa.String(length=100), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('extended_due_on', sa.Date(), nullable=True),
    sa.Column('statement_version', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_request')),
    sa.UniqueConstraint('email', 'idempotency_key', name='email_idempotency_key')
    )
    with op.batch_alter_table('rights_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_request_email'), ['email'], unique=False)

    op.create_table('request_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['rights_request.id'], name=op.f('fk_request_event_request_id_rights_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_event'))
    )
    with op.batch_alter_table('request_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_event_request_id'), ['request_id'], unique=False)

    op.create_table('requested_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('data_item_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['data_item_id'], ['data_item.id'], name=op.f('fk_requested_change_data_item_id_data_item'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['request_id'], ['rights_request.id'], name=op.f('fk_requested_change_request_id_rights_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requested_change'))
    )
    with op.batch_alter_table('requested_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requested_change_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('requested_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requested_change_request_id'))

    op.drop_table('requested_change')
    with op.batch_alter_table('request_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_event_request_id'))

    op.drop_table('request_event')
    with op.batch_alter_table('rights_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_request_email'))

    op.drop_table('rights_request')
    with op.batch_alter_table('marketing_objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marketing_objection_email'))

    op.drop_table('marketing_objection')
