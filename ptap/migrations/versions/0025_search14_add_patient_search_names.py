"""add the patients' search key over all their names (used, birth, first names)

Revision ID: 0025_search14
Revises: 0024_rniv
Create Date: 2026-12-07 12:00:00

The patient search matches any part of any name, in any order, accent- and case-insensitive,
the same way on SQLite and PostgreSQL: the services keep a normalised copy of every word of
the names (ptap.care_teams.identity.names_search_key) rather than relying on a
database-specific unaccent(). Existing records are backfilled here with a frozen copy of that
function (a migration must not change when the application code does).
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0025_search14"
down_revision = "0024_rniv"
branch_labels = None
depends_on = None

patients = sa.table(
    "patients",
    sa.column("id", sa.Integer),
    sa.column("used_name", sa.String),
    sa.column("birth_name", sa.String),
    sa.column("first_names", sa.String),
    sa.column("used_first_name", sa.String),
    sa.column("search_names", sa.String),
)

LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def _words(value: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", value.translate(LIGATURES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Z]+", " ", plain.upper()).split()


def names_search_key(*names: str) -> str:
    words: list[str] = []
    for name in names:
        parts = _words(name)
        glued = ["".join(parts)] if len(parts) > 1 else []
        words += [w for w in (*parts, *glued) if w not in words]
    return f" {' '.join(words)} " if words else ""


def upgrade():
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_names", sa.String(length=1000), nullable=False, server_default="")
        )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            patients.c.id,
            patients.c.used_name,
            patients.c.birth_name,
            patients.c.first_names,
            patients.c.used_first_name,
        )
    ).all()
    for row in rows:
        key = names_search_key(
            row.used_name or "", row.birth_name or "", row.first_names or "",
            row.used_first_name or "",
        )  # fmt: skip
        conn.execute(patients.update().where(patients.c.id == row.id).values(search_names=key))


def downgrade():
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("search_names")
