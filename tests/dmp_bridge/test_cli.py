"""`ptap dmp validate`, `ptap dmp send-pending` and `ptap dmp status` as a user runs them."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest
import setuptools
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

from ptap.cli import main
from ptap.dmp_bridge.models import DmpSubmission, SubmissionStatus
from tests.dmp_bridge import synthetic
from tests.factories import add_member, make_patient, make_team, make_user

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(app):
    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    return invoke


def test_validate_accepts_a_conformant_cda_and_an_iti41_request(run):
    result = run(
        "dmp",
        "validate",
        str(FIXTURES / "PPCS_CDA-R2-N1_example.xml"),
        str(FIXTURES / "ITI41_PPCS_new_submission_example.xml"),
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("PPCS") >= 1


def test_validate_names_the_schematron_defect_and_exits_1(run, tmp_path):
    broken = (FIXTURES / "PPCS_CDA-R2-N1_example.xml").read_text(encoding="utf-8")
    # The INS birth-name trait is mandatory when an INS is given (ASIP-STRUCT-MIN).
    broken = broken.replace('<family qualifier="BR">PAT-TROIS</family>', "")
    target = tmp_path / "broken.xml"
    target.write_text(broken, encoding="utf-8")
    result = run("dmp", "validate", str(target))
    assert result.exit_code == 1
    assert "broken.xml" in result.output
    assert "error" in result.output.lower() or "erreur" in result.output.lower()


def test_send_pending_and_status_file_the_queued_documents(run, app, db, dmp):
    coordinator = make_user(profession="care_coordinator")
    team = make_team()
    add_member(team, coordinator, "coordinator")
    patient = make_patient(team, coordinator)
    synthetic.register()
    synthetic.queue(3, [patient.id], team.id, coordinator.id)
    db.session.commit()
    result = run("dmp", "send-pending", "--until-idle")
    assert result.exit_code == 0, result.output
    assert "filed=3" in result.output
    assert len(dmp.documents) == 3
    statuses = set(db.session.scalars(sa.select(DmpSubmission.status)))
    assert statuses == {SubmissionStatus.FILED}
    status = run("dmp", "status")
    assert "filed" in status.output and "3" in status.output


def test_simulator_command_says_it_is_a_development_tool_when_not_installed(run, monkeypatch):
    # A production install has no ptap.devtools: make its import fail as it would there.
    monkeypatch.setitem(sys.modules, "ptap.devtools", None)
    monkeypatch.setitem(sys.modules, "ptap.devtools.dmp_simulator", None)

    result = run("dmp-simulator", "--port", "0")

    assert result.exit_code == 1
    assert "outil de développement" in result.output
    assert "installations de production" in result.output


def test_the_wheel_leaves_the_simulator_out_and_keeps_the_bridge():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    find = config["tool"]["setuptools"]["packages"]["find"]

    packages = set(
        setuptools.find_packages(str(ROOT), include=find["include"], exclude=find["exclude"])
    )

    assert {"ptap", "ptap.dmp_bridge", "ptap.dmp_bridge.conformance"} <= packages
    assert not {p for p in packages if p.startswith("ptap.devtools")}
    # The editable install still has it (make run, make test).
    assert importlib.util.find_spec("ptap.devtools.dmp_simulator") is not None
