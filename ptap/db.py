"""Engine settings per backend: SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def install_engine_hooks(app: Flask) -> None:
    """Apply per-connection pragmas to the app's SQLite engine."""
    from ptap.extensions import db

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not sa.event.contains(
            engine, "connect", _sqlite_pragmas
        ):
            sa.event.listen(engine, "connect", _sqlite_pragmas)
