"""Small SQL helpers shared by domains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ptap.extensions import db


def insert_if_absent(model: type[Any], **values: Any) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if the row was inserted.

    Used to claim something exactly once (a reminder, a sequence slot). No savepoint: on
    SQLite, pysqlite opens no transaction for SAVEPOINT, so releasing one taken before any
    write commits everything so far; and a rolled-back savepoint is noise for the others.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(model).values(**values).on_conflict_do_nothing().returning(model.id)
    return db.session.execute(stmt).scalar() is not None


def insert_many_if_absent(
    model: type[Any], rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> set[tuple[Any, ...]]:
    """One multi-row INSERT ... ON CONFLICT DO NOTHING; return the `key` values of the rows
    inserted (claimed by this call), so a batch of claims costs one statement."""
    if not rows:
        return set()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(model)
        .values([dict(row) for row in rows])
        .on_conflict_do_nothing()
        .returning(*(getattr(model, column) for column in key))
    )
    return {tuple(row) for row in db.session.execute(stmt)}
