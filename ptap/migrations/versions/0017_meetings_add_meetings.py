"""add multidisciplinary meetings, their agenda, participants, decisions and quorum; the
provenance of a care-plan version

Revision ID: 0017_meetings
Revises: 0016_fixintake
Create Date: 2026-12-07 11:45:00

care_plan_versions is append-only (triggers): its new columns are added with ALTER TABLE ADD
COLUMN (never a batch copy, which would drop the triggers on SQLite) and default to "".
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_meetings"
down_revision = "0016_fixintake"
branch_labels = None
depends_on = None

PROVENANCE = (("provenance_kind", 20), ("provenance_ref", 80), ("provenance_label", 200))


def _fk(table, column, target):
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _pk(table):
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _id():
    return sa.Column("id", sa.Integer(), nullable=False)


def _at(name, nullable=False):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table(
        "meetings",
        _id(),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        _at("starts_at"),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("video_url", sa.String(length=500), nullable=False),
        sa.Column("chair_id", sa.Integer(), nullable=False),
        sa.Column("secretary_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_item_id", sa.Integer(), nullable=True),
        sa.Column("ical_sequence", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("closed_at", nullable=True),
        _fk("meetings", "team_id", "care_teams"),
        _fk("meetings", "chair_id", "users"),
        _fk("meetings", "secretary_id", "users"),
        _fk("meetings", "created_by_id", "users"),
        _pk("meetings"),
    )
    op.create_index("ix_meetings_team_starts", "meetings", ["team_id", "starts_at"])

    op.create_table(
        "meeting_agenda_items",
        _id(),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("plan_version_id", sa.Integer(), nullable=True),
        _at("decided_at", nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        _fk("meeting_agenda_items", "meeting_id", "meetings"),
        _fk("meeting_agenda_items", "patient_id", "patients"),
        _fk("meeting_agenda_items", "plan_version_id", "care_plan_versions"),
        _fk("meeting_agenda_items", "decided_by_id", "users"),
        _fk("meeting_agenda_items", "added_by_id", "users"),
        _pk("meeting_agenda_items"),
        sa.UniqueConstraint(
            "meeting_id", "patient_id", name=op.f("uq_meeting_agenda_items_meeting_id")
        ),
    )
    op.create_index(
        op.f("ix_meeting_agenda_items_patient_id"), "meeting_agenda_items", ["patient_id"]
    )

    op.create_table(
        "meeting_participants",
        _id(),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("attendance", sa.String(length=10), nullable=False),
        sa.Column("profession", sa.String(length=80), nullable=False),
        sa.Column("profession_code", sa.String(length=40), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        _fk("meeting_participants", "meeting_id", "meetings"),
        _fk("meeting_participants", "user_id", "users"),
        _fk("meeting_participants", "invitation_id", "circle_invitations"),
        _pk("meeting_participants"),
        sa.UniqueConstraint(
            "meeting_id", "user_id", name=op.f("uq_meeting_participants_meeting_id")
        ),
    )
    op.create_index(op.f("ix_meeting_participants_user_id"), "meeting_participants", ["user_id"])

    op.create_table(
        "meeting_guest_patients",
        _id(),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        _fk("meeting_guest_patients", "participant_id", "meeting_participants"),
        _fk("meeting_guest_patients", "patient_id", "patients"),
        _fk("meeting_guest_patients", "invitation_id", "circle_invitations"),
        _pk("meeting_guest_patients"),
        sa.UniqueConstraint(
            "participant_id", "patient_id", name=op.f("uq_meeting_guest_patients_participant_id")
        ),
    )

    op.create_table(
        "meeting_decisions",
        _id(),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("plan_version_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        _at("recorded_at"),
        _fk("meeting_decisions", "item_id", "meeting_agenda_items"),
        _fk("meeting_decisions", "plan_version_id", "care_plan_versions"),
        _fk("meeting_decisions", "recorded_by_id", "users"),
        _pk("meeting_decisions"),
        sa.UniqueConstraint("item_id", "position", name=op.f("uq_meeting_decisions_item_id")),
    )

    op.create_table(
        "meeting_quorums",
        _id(),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("min_present", sa.Integer(), nullable=False),
        sa.Column("min_professions", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        _at("updated_at"),
        _fk("meeting_quorums", "team_id", "care_teams"),
        _fk("meeting_quorums", "updated_by_id", "users"),
        _pk("meeting_quorums"),
        sa.UniqueConstraint("team_id", name=op.f("uq_meeting_quorums_team_id")),
    )

    # Plain ALTER TABLE ADD COLUMN on both backends: the append-only triggers stay in place.
    for name, length in PROVENANCE:
        op.add_column(
            "care_plan_versions",
            sa.Column(name, sa.String(length=length), nullable=False, server_default=""),
        )


def downgrade():
    for name, _ in reversed(PROVENANCE):
        # SQLite >= 3.35 drops a column in place (a batch copy would lose the triggers).
        op.drop_column("care_plan_versions", name)
    op.drop_table("meeting_quorums")
    op.drop_table("meeting_decisions")
    op.drop_table("meeting_guest_patients")
    op.drop_index(op.f("ix_meeting_participants_user_id"), table_name="meeting_participants")
    op.drop_table("meeting_participants")
    op.drop_index(op.f("ix_meeting_agenda_items_patient_id"), table_name="meeting_agenda_items")
    op.drop_table("meeting_agenda_items")
    op.drop_index("ix_meetings_team_starts", table_name="meetings")
    op.drop_table("meetings")
