"""add meeting reports (versions), team minutes, private calendar feeds and meeting notices

Revision ID: 0018_meetrep
Revises: 0017_meetings
Create Date: 2026-12-07 12:10:00
"""

import sqlalchemy as sa
from alembic import op

import ptap.core.models

revision = "0018_meetrep"
down_revision = "0017_meetings"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, ptap.core.models.UTCDateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, **kw: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), **kw
    )


def upgrade():
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        _at("created_at"),
        _fk("calendar_feeds", "user_id", "users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
        sa.UniqueConstraint("user_id", name=op.f("uq_calendar_feeds_user_id")),
    )
    op.create_table(
        "meeting_minutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("pdf_status", sa.String(length=12), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        _at("requested_at"),
        _at("pdf_ready_at", nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        _fk("meeting_minutes", "meeting_id", "meetings"),
        _fk("meeting_minutes", "requested_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_minutes")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_meeting_minutes_meeting_id")),
    )
    op.create_table(
        "meeting_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        _at("sent_at"),
        _fk("meeting_notices", "meeting_id", "meetings"),
        _fk("meeting_notices", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_notices")),
        sa.UniqueConstraint(
            "meeting_id", "user_id", "kind", "sequence", name="uq_meeting_notices_key"
        ),
    )
    op.create_index(op.f("ix_meeting_notices_user_id"), "meeting_notices", ["user_id"])
    op.create_table(
        "meeting_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("correction_reason", sa.Text(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        _at("approved_at", nullable=True),
        sa.Column("pdf_status", sa.String(length=12), nullable=False),
        _at("pdf_ready_at", nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        _at("filing_requested_at", nullable=True),
        _fk("meeting_reports", "approved_by_id", "users"),
        _fk("meeting_reports", "created_by_id", "users"),
        _fk("meeting_reports", "item_id", "meeting_agenda_items"),
        _fk("meeting_reports", "meeting_id", "meetings"),
        _fk("meeting_reports", "patient_id", "patients"),
        _fk("meeting_reports", "replaces_id", "meeting_reports"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_reports")),
        sa.UniqueConstraint("item_id", "version", name="uq_meeting_reports_item_version"),
    )
    op.create_index(op.f("ix_meeting_reports_meeting_id"), "meeting_reports", ["meeting_id"])
    op.create_index(op.f("ix_meeting_reports_patient_id"), "meeting_reports", ["patient_id"])
    op.create_index("ix_meeting_reports_pdf_status", "meeting_reports", ["pdf_status", "id"])
    op.create_index(
        "uq_meeting_reports_one_draft",
        "meeting_reports",
        ["item_id"],
        unique=True,
        sqlite_where=sa.text("status = 'draft'"),
        postgresql_where=sa.text("status = 'draft'"),
    )


def downgrade():
    op.drop_table("meeting_reports")
    op.drop_table("meeting_notices")
    op.drop_table("meeting_minutes")
    op.drop_table("calendar_feeds")
