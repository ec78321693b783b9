"""Who may see and handle support requests; rules registered in the core policy.

Requests carry identifying free text before any consent: only the receiving team's members
see them (need-to-know); triage, closure, conversion and targets belong to its coordinators.
Administrators and ARS analysts never see a request (monitoring counts coded columns only).
"""

from __future__ import annotations

from typing import Any

from ptap.care_teams import access
from ptap.care_teams.models import CareTeam
from ptap.core.policy import Actor, is_clinician, rule
from ptap.intake.models import SupportRequest


def _member(user: Actor, team_id: int) -> bool:
    return is_clinician(user) and access.is_team_member(user.id, team_id)


def _coordinator(user: Actor, team_id: int) -> bool:
    return is_clinician(user) and access.is_team_coordinator(user.id, team_id)


@rule("requests.list")
def _list_requests(user: Actor, _obj: Any) -> bool:
    """The request pages: clinicians (the list shows only their own teams' requests)."""
    return is_clinician(user)


@rule("request.register")
def _register(user: Actor, team: CareTeam | None) -> bool:
    """Any member of the receiving team takes a call and records it."""
    if team is None:
        return is_clinician(user)
    return _member(user, team.id)


@rule("request.read")
def _read(user: Actor, req: SupportRequest | None) -> bool:
    if req is None:
        return is_clinician(user)
    return _member(user, req.team_id)


@rule("request.answer")
def _answer(user: Actor, req: SupportRequest | None) -> bool:
    """Record a first answer or edit the request: any member of the team."""
    if req is None:
        return is_clinician(user)
    return _member(user, req.team_id)


@rule("request.handle")
def _handle(user: Actor, req: SupportRequest | None) -> bool:
    """Triage, evaluation, closure and conversion to an enrolment: the team's coordinators."""
    if req is None:
        return is_clinician(user)
    return _coordinator(user, req.team_id)


@rule("intake.targets")
def _targets(user: Actor, team: CareTeam | None) -> bool:
    """A team's intake targets: its coordinators."""
    if team is None:
        return is_clinician(user)
    return _coordinator(user, team.id)
