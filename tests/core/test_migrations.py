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


def test_outbox_migration_renumbers_only_filings_never_attempted(empty_database_url):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="0005")
        submissions = sa.table(
            "dmp_submissions",
            *(sa.column(c) for c in ("id", "set_id", "patient_id", "kind", "operation")),
            *(sa.column(c) for c in ("source_ref", "title", "version_number", "document_oid")),
            *(sa.column(c) for c in ("confidentiality", "status", "status_reason", "error_code")),
            *(sa.column(c) for c in ("attempts", "budget_used", "next_attempt_at", "claimed_by")),
            *(sa.column(c) for c in ("requested_at", "updated_at", "entry_uuid")),
            sa.column("submission_set_oid"),
        )
        now = "2026-12-07 06:00:00+00:00"
        common = {
            "set_id": 1, "patient_id": 1, "kind": "ppcs", "operation": "file", "title": "t",
            "version_number": 1, "confidentiality": "normal", "status_reason": "",
            "error_code": "", "budget_used": 0, "next_attempt_at": now, "claimed_by": "",
            "requested_at": now, "updated_at": now, "entry_uuid": "",
        }  # fmt: skip
        with db.engine.connect() as conn:
            # Parent rows are beside the point: foreign keys are not checked for this insert.
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            else:
                conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(
                sa.insert(submissions),
                [
                    {**common, "id": 1, "source_ref": "a", "document_oid": "1.2.3.2.1",
                     "submission_set_oid": "", "status": "pending", "attempts": 0},
                    {**common, "id": 2, "source_ref": "b", "document_oid": "1.2.3.2.2",
                     "submission_set_oid": "1.2.3.2.2.1", "status": "failed", "attempts": 1},
                ],
            )  # fmt: skip
            conn.commit()
        upgrade()
        with db.engine.connect() as conn:
            rows = dict(
                conn.execute(
                    sa.select(submissions.c.id, submissions.c.document_oid).order_by("id")
                ).all()
            )
            set_oids = conn.execute(sa.select(submissions.c.submission_set_oid)).scalars().all()
        assert rows[1].startswith("2.25.") and rows[2] == "1.2.3.2.2"
        assert all(s.startswith("2.25.") or s == "1.2.3.2.2.1" for s in set_oids)
        downgrade(revision="base")
        db.engine.dispose()


def test_intake_targets_migration_backfills_requests_with_their_team_targets(
    empty_database_url,
):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="0014_auditbench")
        now = "2026-12-07 06:00:00+00:00"
        targets = sa.table(
            "team_intake_targets",
            *(sa.column(c) for c in ("team_id", "first_answer_working_days")),
            *(sa.column(c) for c in ("evaluation_working_days", "ppcs_days", "updated_at")),
        )
        requests = sa.table(
            "support_requests",
            *(sa.column(c) for c in ("id", "team_id", "received_at", "requester_kind")),
            *(sa.column(c) for c in ("requester_name", "requester_contact", "channel")),
            *(sa.column(c) for c in ("person_summary", "problem_categories", "urgent")),
            *(sa.column(c) for c in ("status", "answer_note", "first_answer_due_at")),
            *(sa.column(c) for c in ("evaluation_due_at", "ppcs_due_at", "outcome_note")),
            *(sa.column(c) for c in ("created_by_id", "created_at", "updated_at")),
        )
        common = {
            "received_at": now, "requester_kind": "gp", "requester_name": "",
            "requester_contact": "", "channel": "phone", "person_summary": "",
            "problem_categories": "medical", "urgent": False, "status": "received",
            "answer_note": "", "first_answer_due_at": now, "evaluation_due_at": now,
            "ppcs_due_at": now, "outcome_note": "", "created_by_id": 1, "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        with db.engine.connect() as conn:
            # Parent rows are beside the point: foreign keys are not checked for this insert.
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            else:
                conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(
                sa.insert(targets),
                [{"team_id": 1, "first_answer_working_days": 3, "evaluation_working_days": 15,
                  "ppcs_days": 45, "updated_at": now}],
            )  # fmt: skip
            conn.execute(
                sa.insert(requests),
                [{**common, "id": 1, "team_id": 1}, {**common, "id": 2, "team_id": 2}],
            )
            conn.commit()
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, first_answer_target_days, evaluation_target_days, ppcs_target_days "
                "FROM support_requests ORDER BY id"
            ).all()
        assert [tuple(r) for r in rows] == [(1, 3, 15, 45), (2, 2, 10, 60)]
        downgrade(revision="base")
        db.engine.dispose()


def test_mssante_migration_gives_queued_mail_distinct_message_ids(empty_database_url):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="0018_meetrep")
        now = "2026-12-07 06:00:00+00:00"
        outbox = sa.table(
            "mail_outbox",
            *(sa.column(c) for c in ("id", "recipient", "subject", "body", "status")),
            *(sa.column(c) for c in ("attempts", "next_attempt_at", "last_error", "claimed_by")),
            sa.column("created_at"),
        )
        common = {
            "recipient": "a@example.test", "subject": "PTAP", "body": "Bonjour",
            "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": "",
            "claimed_by": "", "created_at": now,
        }  # fmt: skip
        with db.engine.connect() as conn:
            conn.execute(sa.insert(outbox), [{**common, "id": 1}, {**common, "id": 2}])
            conn.commit()
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, message_id, kind, delivery_started_at FROM mail_outbox ORDER BY id"
            ).all()
        assert [tuple(r) for r in rows] == [
            (1, "<mail-1@ptap.invalid>", "notification", None),
            (2, "<mail-2@ptap.invalid>", "notification", None),
        ]
        downgrade(revision="0018_meetrep")
        db.engine.dispose()


def test_rniv_migration_downgrades_hand_qualified_identities(empty_database_url, capfd):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="0019_letters")
        now = "2026-12-07 06:00:00+00:00"
        columns = (
            *("id", "birth_name", "used_name", "first_names", "used_first_name", "birth_year"),
            *("sex", "birthplace_code", "identity_status", "identity_check_method"),
            *("identity_checked_at", "identity_checked_by_id", "search_birth_name"),
            *("search_used_name", "address", "postal_code", "city", "phone", "email"),
            *("gp_name", "sharing_consent", "dmp_opposition", "updated_at", "created_at"),
        )
        patients = sa.table("patients", *(sa.column(c) for c in columns))
        common = {
            "used_name": "", "first_names": "MARIE", "used_first_name": "", "birth_year": 1940,
            "sex": "F", "birthplace_code": "69381", "identity_checked_at": now,
            "identity_checked_by_id": 7, "search_birth_name": "X", "search_used_name": "",
            "address": "", "postal_code": "", "city": "", "phone": "", "email": "",
            "gp_name": "", "sharing_consent": False, "dmp_opposition": False,
            "updated_at": now, "created_at": now,
        }  # fmt: skip
        rows = [
            (1, "qualified", "insi_and_document"),
            (2, "qualified", "passport"),
            (3, "validated", "identity_card"),
            (4, "recovered", "insi"),
            (5, "provisional", ""),
        ]
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            else:
                conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(
                sa.insert(patients),
                [
                    {**common, "id": i, "birth_name": f"P{i}", "identity_status": status,
                     "identity_check_method": method}
                    for i, status, method in rows
                ],
            )  # fmt: skip
            conn.commit()
        capfd.readouterr()
        upgrade()  # alembic's own logging configuration writes its log to stderr
        assert "2 hand-qualified identities downgraded to 'validée'" in capfd.readouterr().err
        with db.engine.connect() as conn:
            result = conn.exec_driver_sql(
                "SELECT id, identity_status, identity_check_method, document_type, "
                "document_checked_by_id, insi_checked_at FROM patients ORDER BY id"
            ).all()
        assert [tuple(r) for r in result] == [
            (1, "validated", "unrecorded", "unrecorded", 7, None),
            (2, "validated", "passport", "passport", 7, None),
            (3, "validated", "identity_card", "identity_card", 7, None),
            (4, "provisional", "", "", None, None),
            (5, "provisional", "", "", None, None),
        ]
        downgrade(revision="base")
        db.engine.dispose()


def test_referent_migration_backfills_open_enrolments_of_current_coordinators(
    empty_database_url,
):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="0022_fix12")
        memberships = sa.table(
            "team_memberships",
            *(sa.column(c) for c in ("id", "team_id", "user_id", "role", "starts_on", "ends_on")),
        )
        enrolments = sa.table(
            "enrolments",
            *(sa.column(c) for c in ("id", "patient_id", "team_id", "requested_on")),
            *(sa.column(c) for c in ("requester_kind", "requester_name", "problem_categories")),
            *(sa.column(c) for c in ("enrolled_at", "enrolled_by_id", "ended_at")),
            *(sa.column(c) for c in ("end_reason", "end_note")),
        )
        now = "2026-01-05 09:00:00+00:00"
        common = {
            "patient_id": 1, "requested_on": "2026-01-05", "requester_kind": "gp",
            "requester_name": "", "problem_categories": "medical", "enrolled_at": now,
            "end_reason": "", "end_note": "",
        }  # fmt: skip
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            else:
                conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(
                sa.insert(memberships),
                [
                    # 10 still coordinates team 1; 11 left team 1; 12 is a mere member.
                    {"id": 1, "team_id": 1, "user_id": 10, "role": "coordinator",
                     "starts_on": "2020-01-01", "ends_on": None},
                    {"id": 2, "team_id": 1, "user_id": 11, "role": "coordinator",
                     "starts_on": "2020-01-01", "ends_on": "2021-01-01"},
                    {"id": 3, "team_id": 1, "user_id": 12, "role": "member",
                     "starts_on": "2020-01-01", "ends_on": None},
                ],
            )  # fmt: skip
            conn.execute(
                sa.insert(enrolments),
                [
                    {**common, "id": 1, "team_id": 1, "enrolled_by_id": 10, "ended_at": None},
                    {**common, "id": 2, "patient_id": 3, "team_id": 1, "enrolled_by_id": 11,
                     "ended_at": None},
                    {**common, "id": 3, "patient_id": 4, "team_id": 1, "enrolled_by_id": 12,
                     "ended_at": None},
                    {**common, "id": 4, "patient_id": 5, "team_id": 2, "enrolled_by_id": 10,
                     "ended_at": None},
                    {**common, "id": 5, "team_id": 1, "enrolled_by_id": 10, "ended_at": now,
                     "patient_id": 6},
                ],
            )  # fmt: skip
            conn.commit()
        upgrade(revision="0028_referent")
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, referent_id FROM enrolments ORDER BY id").all()
        assert [tuple(r) for r in rows] == [(1, 10), (2, None), (3, None), (4, None), (5, None)]
        downgrade(revision="base")
        db.engine.dispose()


def test_grids_migration_installs_the_immutability_triggers(empty_database_url):
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="0037_grids")
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                sql = "SELECT name FROM sqlite_master WHERE type='trigger'"
            else:
                sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            names = {row[0] for row in conn.exec_driver_sql(sql)}
        assert any(n.startswith("assessment_grid_versions_no_") for n in names)
        assert any(n.startswith("assessments_signed_no_") for n in names)
        downgrade(revision="0033_dmpread")
        assert "assessments" not in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
