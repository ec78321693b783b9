"""Pathway reads: the template library, circle professions, and patients' pathway timelines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import OPEN_STATUSES, ActionStatus, load_content
from ptap.care_plans.models import CarePlan
from ptap.care_teams import access
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.core import clock
from ptap.core.errors import NotFound
from ptap.core.policy import can
from ptap.extensions import db
from ptap.grids import queries as grid_queries
from ptap.grids.queries import GridRef
from ptap.pathways.models import PathwayTemplate, PathwayTemplateVersion, PatientPathway


def circle_by_profession(patient: Patient) -> dict[str, list[int]]:
    """Map each profession code to the ids of the patient's circle members who have it."""
    ids = sorted({m.user_id for m in team_queries.circle(patient)})
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(User.profession, User.id).where(User.id.in_(ids)).order_by(User.id)
    )
    result: dict[str, list[int]] = defaultdict(list)
    for profession, user_id in rows:
        result[profession].append(user_id)
    return dict(result)


def visible_templates(user_id: int) -> sa.Select[Any]:
    """Select the templates of the user's teams and of those teams' territories."""
    teams = access.active_team_ids(user_id)
    territories = sa.select(CareTeam.territory_id).where(CareTeam.id.in_(teams))
    return sa.select(PathwayTemplate).where(
        sa.or_(
            PathwayTemplate.team_id.in_(teams),
            PathwayTemplate.territory_id.in_(territories),
        )
    )


def list_templates(
    user_id: int, *, search: str = "", published_only: bool = False
) -> list[PathwayTemplate]:
    """Return the library the user sees, filtered by a word of the theme or title."""
    stmt = visible_templates(user_id).order_by(PathwayTemplate.theme, PathwayTemplate.title)
    if search.strip():
        like = f"%{search.strip().lower()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(PathwayTemplate.theme).like(like),
                sa.func.lower(PathwayTemplate.title).like(like),
            )
        )
    if published_only:
        stmt = stmt.where(
            PathwayTemplate.current_version_id.is_not(None), PathwayTemplate.retired_at.is_(None)
        )
    return list(db.session.scalars(stmt))


def usable_templates(user_id: int, patient_id: int) -> list[PathwayTemplate]:
    """Return the published templates the user sees that the patient's current teams own or
    share through their territory (one query, `permissions.usable_for_patient` for many)."""
    teams = sa.select(Enrolment.team_id).where(
        Enrolment.patient_id == patient_id, Enrolment.ended_at.is_(None)
    )
    territories = sa.select(CareTeam.territory_id).where(
        CareTeam.id.in_(teams), CareTeam.active.is_(True)
    )
    stmt = (
        visible_templates(user_id)
        .where(
            PathwayTemplate.current_version_id.is_not(None),
            PathwayTemplate.retired_at.is_(None),
            sa.or_(
                PathwayTemplate.team_id.in_(teams),
                PathwayTemplate.territory_id.in_(territories),
            ),
        )
        .order_by(PathwayTemplate.theme, PathwayTemplate.title)
    )
    return list(db.session.scalars(stmt))


def get_readable_template(user: Any, template_id: int) -> PathwayTemplate:
    """Return a template the user may read; NotFound otherwise (no existence leak)."""
    template = db.session.get(PathwayTemplate, template_id)
    if template is None or not can(user, "pathway_templates.read", template):
        raise NotFound("Modèle de parcours introuvable.")
    return template


def list_template_versions(template_id: int) -> list[PathwayTemplateVersion]:
    """Return a template's published versions, newest first."""
    return list(
        db.session.scalars(
            sa.select(PathwayTemplateVersion)
            .where(PathwayTemplateVersion.template_id == template_id)
            .order_by(PathwayTemplateVersion.number.desc())
        )
    )


class StepState(StrEnum):
    """Where a step of a pathway stands."""

    DONE = "done"
    DUE = "due"
    LATE = "late"
    #: The pathway was stopped before the step was done.
    STOPPED = "stopped"


STEP_STATE_LABELS = {
    StepState.DONE: "Fait",
    StepState.DUE: "À venir",
    StepState.LATE: "En retard",
    StepState.STOPPED: "Arrêté",
}


@dataclass(frozen=True)
class StepRow:
    """One step of a patient's pathway, with its state."""

    key: str
    title: str
    due_on: date
    state: StepState
    open_actions: int
    grid_key: str | None
    #: The step's grid (None without one, or if the grid no longer exists).
    grid: GridRef | None = None
    #: Whether a signature of the step's grid counts for this step (see `step_rows`).
    grid_done: bool = False

    @property
    def state_label(self) -> str:
        """The state in French."""
        return STEP_STATE_LABELS[self.state]


@dataclass(frozen=True)
class PathwayRow:
    """One pathway of a patient and its timeline."""

    id: int
    template_id: int
    title: str
    theme: str
    version_number: int
    started_on: date
    stopped: bool
    steps: list[StepRow]

    @property
    def late_count(self) -> int:
        """How many steps are late."""
        return sum(1 for s in self.steps if s.state == StepState.LATE)


def _grid_matches(
    steps: list[dict[str, Any]], started_on: date | None, signed: Mapping[str, Sequence[datetime]]
) -> list[bool]:
    """Tell, step by step, whether a signature of the step's grid counts for it.

    A signature counts for a step when it was signed (Paris day) on or after the due date of
    the previous step naming the same grid (the pathway's start for the first one), and each
    signature counts for one step only: a day-1 evaluation never completes the month-3
    re-evaluation of the same grid.
    """
    window: dict[str, date] = {}
    used: dict[str, set[int]] = defaultdict(set)
    result = []
    for step in steps:
        key = step.get("grid_key")
        if not key:
            result.append(False)
            continue
        since = window.get(key, started_on or date.min)
        match = next(
            (
                i
                for i, when in enumerate(signed.get(key, ()))
                if i not in used[key] and clock.paris_day(when) >= since
            ),
            None,
        )
        if match is not None:
            used[key].add(match)
        window[key] = date.fromisoformat(step["due_on"])
        result.append(match is not None)
    return result


def step_rows(
    steps: list[dict[str, Any]],
    statuses: Mapping[str, str],
    today: date,
    *,
    started_on: date | None = None,
    signed: Mapping[str, Sequence[datetime]] | None = None,
    grids: dict[str, GridRef] | None = None,
    stopped: bool = False,
) -> list[StepRow]:
    """Compute the steps' states from the plan draft's action statuses (`statuses`, by key).

    A step is done only when every one of its actions is in the draft with status "done" and,
    for a step with a grid, a signature of that grid counts for it (`_grid_matches`; `signed`:
    each grid key's signatures, oldest first). A cancelled or deleted action never makes its
    step done. A step with neither actions nor grid is never done (the services refuse such
    steps; an older one stays "à venir" / "en retard", never falsely "fait"). Otherwise: the
    step of a stopped pathway is "arrêté", late when its due date has passed, due before.
    """
    rows = []
    matches = _grid_matches(steps, started_on, signed or {})
    for step, grid_done in zip(steps, matches, strict=True):
        due = date.fromisoformat(step["due_on"])
        keys = step["action_keys"]
        still_open = sum(1 for k in keys if statuses.get(k) in OPEN_STATUSES)
        key = step.get("grid_key")
        actions_done = all(statuses.get(k) == ActionStatus.DONE for k in keys)
        if (keys or key) and actions_done and (not key or grid_done):
            state = StepState.DONE
        elif stopped:
            state = StepState.STOPPED
        elif due < today:
            state = StepState.LATE
        else:
            state = StepState.DUE
        grid = (grids or {}).get(key) if key else None
        rows.append(
            StepRow(step["key"], step["title"], due, state, still_open, key, grid, grid_done)
        )
    return rows


def step_grid_keys(steps: list[dict[str, Any]]) -> set[str]:
    """Return the grid keys of a pathway's steps."""
    return {s["grid_key"] for s in steps if s.get("grid_key")}


def action_statuses(draft: dict[str, Any]) -> dict[str, str]:
    """Return the status of each action of a plan draft, by action key."""
    return {a.key: a.status for _, a in load_content(draft).actions()}


def list_patient_pathways(
    patient_id: int, today: date, *, include_stopped: bool = True
) -> list[PathwayRow]:
    """Return the patient's pathways with their step timelines (two queries, any count; a
    third when a step has an assessment grid)."""
    stmt = (
        sa.select(PatientPathway, PathwayTemplateVersion)
        .join(
            PathwayTemplateVersion, PathwayTemplateVersion.id == PatientPathway.template_version_id
        )
        .where(PatientPathway.patient_id == patient_id)
        .order_by(PatientPathway.stopped_at.is_not(None), PatientPathway.started_on.desc())
    )
    if not include_stopped:
        stmt = stmt.where(PatientPathway.stopped_at.is_(None))
    rows = db.session.execute(stmt).all()
    if not rows:
        return []
    draft = db.session.scalar(sa.select(CarePlan.draft).where(CarePlan.patient_id == patient_id))
    statuses = action_statuses(draft or {})
    keys = {k for pathway, _ in rows for k in step_grid_keys(pathway.steps)}
    grids = grid_queries.grid_refs(sorted(keys), patient_id) if keys else {}
    signed = {k: g.signatures for k, g in grids.items()}
    return [
        PathwayRow(
            id=pathway.id,
            template_id=pathway.template_id,
            title=version.content.get("title", ""),
            theme=version.content.get("theme", ""),
            version_number=version.number,
            started_on=pathway.started_on,
            stopped=pathway.stopped_at is not None,
            steps=step_rows(
                pathway.steps,
                statuses,
                today,
                started_on=pathway.started_on,
                signed=signed,
                grids=grids,
                stopped=pathway.stopped_at is not None,
            ),
        )
        for pathway, version in rows
    ]


def get_patient_pathway(patient_id: int, pathway_id: int) -> PatientPathway:
    """Return a pathway of this patient or raise NotFound."""
    pathway = db.session.get(PatientPathway, pathway_id)
    if pathway is None or pathway.patient_id != patient_id:
        raise NotFound("Parcours introuvable.")
    return pathway


def late_steps_by_patient(patient_ids: list[int], today: date) -> dict[int, tuple[int, date, str]]:
    """For the patients with late pathway steps: (how many, the oldest due date, its step's
    title), in one query whatever the number of patients, a second when steps name grids (the
    dashboard's alert)."""
    if not patient_ids:
        return {}
    rows = db.session.execute(
        sa.select(
            PatientPathway.patient_id,
            PatientPathway.steps,
            PatientPathway.started_on,
            CarePlan.draft,
        )
        .join(CarePlan, CarePlan.id == PatientPathway.plan_id)
        .where(PatientPathway.patient_id.in_(patient_ids), PatientPathway.stopped_at.is_(None))
    ).all()
    signed = signed_by_patient(rows)
    found: dict[int, tuple[int, date, str]] = {}
    for patient_id, steps, started_on, draft in rows:
        timeline = step_rows(
            steps,
            action_statuses(draft),
            today,
            started_on=started_on,
            signed=signed.get(patient_id, {}),
        )
        late = [s for s in timeline if s.state == StepState.LATE]
        if not late:
            continue
        oldest = min(late, key=lambda s: s.due_on)
        count, when, title = found.get(patient_id, (0, oldest.due_on, oldest.title))
        if oldest.due_on < when:
            when, title = oldest.due_on, oldest.title
        found[patient_id] = (count + len(late), when, title)
    return found


def signed_by_patient(rows: Any) -> dict[int, dict[str, list[datetime]]]:
    """For rows (patient id, steps, ...): each patient's signatures (oldest first) of each grid
    their pathways' steps name (one query, none without grids)."""
    keys = {k for row in rows for k in step_grid_keys(row[1])}
    patient_ids = sorted({row[0] for row in rows})
    found: dict[int, dict[str, list[datetime]]] = defaultdict(dict)
    for (patient_id, key), when in grid_queries.signatures(patient_ids, sorted(keys)).items():
        found[patient_id][key] = when
    return dict(found)
