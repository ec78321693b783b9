"""keep on each support request the intake targets it was received under

Revision ID: 0016_fixintake
Revises: 0015_fixmon
Create Date: 2026-12-07 09:50:00

A team's targets apply to the requests received after they are set; the clocks must show the
target their deadline was computed from, and a correction of a request must not re-date it
with today's targets. Existing requests are backfilled with their team's current targets (the
defaults for a team that set none): the targets in force at their reception were not kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_fixintake"
down_revision = "0015_fixmon"
branch_labels = None
depends_on = None

#: Column on support_requests → (column on team_intake_targets, default target).
COLUMNS = {
    "first_answer_target_days": ("first_answer_working_days", 2),
    "evaluation_target_days": ("evaluation_working_days", 10),
    "ppcs_target_days": ("ppcs_days", 60),
}


def upgrade():
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        for column, (_, default) in COLUMNS.items():
            batch_op.add_column(
                sa.Column(column, sa.Integer(), nullable=False, server_default=str(default))
            )
    for column, (source, _) in COLUMNS.items():
        op.execute(
            f"UPDATE support_requests SET {column} = ("  # noqa: S608 - constant names
            f"SELECT t.{source} FROM team_intake_targets t "
            "WHERE t.team_id = support_requests.team_id) "
            "WHERE team_id IN (SELECT team_id FROM team_intake_targets)"
        )


def downgrade():
    with op.batch_alter_table("support_requests", schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
