"""A DMP filing queued by a request is sent by the job with that request's id in its logs."""

import logging

import pytest
from prometheus_client import REGISTRY

from ptap import dmp_bridge
from ptap.core.logs import RequestIdFilter, _start_request
from ptap.dmp_bridge import outbox
from ptap.dmp_bridge.models import SubmissionStatus
from tests.dmp_bridge import synthetic
from tests.factories import add_member, make_patient, make_team, make_user


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture():
    handler = Capture()
    logger = logging.getLogger("ptap")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _delivered() -> float:
    return REGISTRY.get_sample_value("ptap_messages_delivered_total", {"kind": "dmp"}) or 0.0


def test_the_dmp_job_logs_with_the_request_id_and_counts_the_delivery(app, db, dmp, capture):
    coordinator = make_user(profession="care_coordinator")
    team = make_team()
    add_member(team, coordinator, "coordinator")
    patient = make_patient(team, coordinator)
    synthetic.register()
    db.session.commit()
    with app.test_request_context("/", headers={"X-Request-ID": "proxy-dmp-7"}):
        _start_request()
        row = dmp_bridge.request_filing(
            kind=dmp_bridge.DocumentKind.PPCS,
            set_key="synthetic:set",
            source_ref="synthetic:1",
            patient_id=patient.id,
            team_id=team.id,
            title="Essai 1",
            requested_by_id=coordinator.id,
        )
        db.session.commit()
    assert row.request_id == "proxy-dmp-7"
    before = _delivered()
    outbox.send_due(dmp)
    db.session.expire_all()
    assert row.status == SubmissionStatus.FILED
    filed = [r for r in capture.records if "filed" in r.getMessage()]
    assert [r.request_id for r in filed] == ["proxy-dmp-7"]  # type: ignore[attr-defined]
    assert _delivered() - before == 1
