"""the back office: staff, audience of sessions, decisions on requests, restriction, the audit trail

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = "audit_entry is append-only"


def upgrade() -> None:
    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_email'))
    )
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(length=10), server_default='person', nullable=False))
    with op.batch_alter_table('relation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restricted_since', sa.Date(), nullable=True))
    with op.batch_alter_table('requested_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision', sa.String(length=10), nullable=True))
    with op.batch_alter_table('rights_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fee_cents', sa.Integer(), nullable=True))
        # The queue: open requests of a right by answer date, counted and ordered from the index alone.
        batch_op.create_index('ix_rights_request_queue', ['status', 'right', 'due_on', 'extended_due_on', 'id'],
                              unique=False)

    op.create_table('audit_entry',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('personal_digest', sa.String(length=64), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entry'))
    )
    op.create_table('audit_personal',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('subject_email', sa.String(length=254), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['audit_entry.seq'], name=op.f('fk_audit_personal_seq_audit_entry')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_personal'))
    )
    with op.batch_alter_table('audit_personal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_personal_subject_email'), ['subject_email'], unique=False)
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.execute(sa.text(f"INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, '{GENESIS}')"))

    # The database itself refuses to change or remove an audit entry: not even a bug in our code can.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
            FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()
        """)
        op.execute("""
            CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
            FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()
        """)
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_entry_no_{event.lower()} BEFORE {event} ON audit_entry
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entry_no_truncate ON audit_entry")
        op.execute("DROP TRIGGER audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION audit_entry_append_only()")
    else:
        op.execute("DROP TRIGGER audit_entry_no_update")
        op.execute("DROP TRIGGER audit_entry_no_delete")
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_personal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_personal_subject_email'))
    op.drop_table('audit_personal')
    op.drop_table('audit_entry')
    with op.batch_alter_table('rights_request', schema=None) as batch_op:
        batch_op.drop_index('ix_rights_request_queue')
        batch_op.drop_column('fee_cents')
    with op.batch_alter_table('requested_change', schema=None) as batch_op:
        batch_op.drop_column('decision')
    with op.batch_alter_table('relation', schema=None) as batch_op:
        batch_op.drop_column('restricted_since')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_column('audience')
    op.drop_table('staff')
