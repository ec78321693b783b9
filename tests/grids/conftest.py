"""Fixtures of the grids tests: a team, its coordinator and professionals, an outsider, a
patient followed by the team, and the published frailty-screening grid."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ptap.audit.services import AuditContext
from ptap.grids import services
from ptap.grids.demo_grids import FRAILTY_SCREENING, HOME_SITUATION
from tests.factories import add_member, make_patient, make_team, make_user, valid_rpps


def ctx(user) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=user.email)


@dataclass
class World:
    team: object
    other_team: object
    coord: object
    coord2: object
    nurse: object
    physician: object
    outsider: object
    patient: object
    grid: object


@pytest.fixture
def world(db) -> World:
    team, other_team = make_team("DAC Lyon"), make_team("DAC Vienne")
    coord = make_user(role="coordinator", profession="care_coordinator")
    coord2 = make_user(role="coordinator", profession="care_coordinator")
    nurse = make_user(profession="nurse")
    physician = make_user(profession="physician", rpps=valid_rpps(911))
    outsider = make_user(role="coordinator", profession="physician", rpps=valid_rpps(912))
    add_member(team, coord, "coordinator")
    add_member(team, coord2, "coordinator")
    add_member(team, nurse)
    add_member(team, physician)
    add_member(other_team, outsider, "coordinator")
    patient = make_patient(team, coord)
    grid = services.create_grid(coord, "reperage-fragilite", FRAILTY_SCREENING, ctx(coord))
    services.publish_grid(coord, grid, ctx(coord))
    db.session.commit()
    return World(team, other_team, coord, coord2, nurse, physician, outsider, patient, grid)


#: Answers of the frailty grid scoring 7 (alerting band "Fragilité probable", 6 and more).
HIGH = {
    "vit-seul": True,
    "perte-poids": True,
    "fatigue": True,
    "marche": True,
    "memoire": False,
    "sorties": "rares",
}
#: Answers scoring 1 ("Pas de fragilité repérée").
LOW = {
    "vit-seul": True,
    "perte-poids": False,
    "fatigue": False,
    "marche": False,
    "memoire": False,
    "sorties": "regulieres",
}
__all__ = ["HIGH", "HOME_SITUATION", "LOW", "World", "ctx"]
