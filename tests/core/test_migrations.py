"""The Alembic migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ptap import create_app
from ptap.core.models import include_name
from ptap.extensions import db

PG_URL = os.environ.get("PTAP_TEST_DATABASE_URL", "")


@pytest.fixture
def empty_database_url(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"ptap_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def test_migrations_match_models(empty_database_url):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == []
        with db.engine.connect() as conn:
            triggers = _trigger_names(conn)
        assert triggers  # append-only triggers are installed by the migration too
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        db.engine.dispose()


def _trigger_names(conn):
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'").all()
    return conn.exec_driver_sql(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
        "AND NOT tgisinternal"
    ).all()
