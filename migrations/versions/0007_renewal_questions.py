"""renewal questions and renewals of talent-pool consent; the statement version each person last saw;
changes of a person's sign-in address

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('renewal_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('relation_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('asked_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['relation_id'], ['relation.id'], name=op.f('fk_renewal_question_relation_id_relation'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_renewal_question')),
    sa.UniqueConstraint('relation_id', 'purpose', 'asked_on', name='relation_purpose_asked')
    )
    with op.batch_alter_table('renewal_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_renewal_question_relation_id'), ['relation_id'], unique=False)
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewed_on', sa.Date(), nullable=True))
    # Erasing data items looks up the proposals that name them (ON DELETE SET NULL): without an index,
    # each deleted item scans every proposal.
    with op.batch_alter_table('requested_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requested_change_data_item_id'), ['data_item_id'], unique=False)
    op.create_table('statement_seen',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_statement_seen'))
    )
    op.create_table('address_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('old_email', sa.String(length=254), nullable=False),
    sa.Column('new_email', sa.String(length=254), nullable=False),
    sa.Column('sign_in_token_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['sign_in_token_id'], ['sign_in_token.id'],
                            name=op.f('fk_address_change_sign_in_token_id_sign_in_token'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address_change'))
    )
    with op.batch_alter_table('address_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_address_change_old_email'), ['old_email'], unique=False)
        batch_op.create_index(batch_op.f('ix_address_change_new_email'), ['new_email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('requested_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requested_change_data_item_id'))
    op.drop_table('address_change')
    op.drop_table('statement_seen')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_column('renewed_on')
    with op.batch_alter_table('renewal_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_renewal_question_relation_id'))
    op.drop_table('renewal_question')
