"""Declarative base, naming convention and column types shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry

from ptap.core import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC (from :mod:`ptap.core.clock`)."""
    return clock.now()


#: Schema objects written by hand in migrations and DDL listeners, that the models do not map
#: (full-text virtual tables and their shadow tables, expression indexes). Domains add to it;
#: autogenerate and the migration test skip them (`include_name`).
UNMAPPED_SCHEMA_NAMES: set[str] = set()


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic `include_name` hook: skip the hand-written objects of UNMAPPED_SCHEMA_NAMES."""
    if name is None or type_ not in ("table", "index"):
        return True
    return not any(name == n or name.startswith(n + "_") for n in UNMAPPED_SCHEMA_NAMES)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: use ptap.core.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every PTAP model; constraint names follow NAMING_CONVENTION."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class TimestampMixin:
    """Adds created_at, set once at insert."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def append_only_ddl(table: str, dialect: str) -> list[str]:
    """Return the statements that make `table` refuse UPDATE and DELETE on this dialect."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ]
    return []


def make_append_only(table: sa.Table) -> None:
    """Install the append-only triggers whenever `table` is created by create_all."""

    def install(target: sa.Table, connection: sa.Connection, **_: object) -> None:
        for statement in append_only_ddl(target.name, connection.dialect.name):
            connection.exec_driver_sql(statement)

    sa.event.listen(table, "after_create", install)
