"""Pathway reads: the template library, circle professions, and patients' pathway timelines."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import OPEN_STATUSES, load_content
from ptap.care_plans.models import CarePlan
from ptap.care_teams import access
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import CareTeam, Patient
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


def get_template(template_id: int) -> PathwayTemplate:
    """Return a template or raise NotFound."""
    template = db.session.get(PathwayTemplate, template_id)
    if template is None:
        raise NotFound("Modèle de parcours introuvable.")
    return template


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
    """Where a step of a running pathway stands."""

    DONE = "done"
    DUE = "due"
    LATE = "late"


STEP_STATE_LABELS = {StepState.DONE: "Fait", StepState.DUE: "À venir", StepState.LATE: "En retard"}


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
    #: Whether a signed assessment of the step's grid exists since the pathway started.
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


def step_rows(
    steps: list[dict[str, Any]],
    open_keys: set[str],
    today: date,
    *,
    started_on: date | None = None,
    signed: dict[str, datetime] | None = None,
    grids: dict[str, GridRef] | None = None,
) -> list[StepRow]:
    """Compute the steps' states: done when none of its actions is open in the plan and, for a
    step with a grid, an assessment of that grid was signed since the pathway started (`signed`:
    last signature by grid key); late when its due date has passed undone, due otherwise."""
    rows = []
    for step in steps:
        due = date.fromisoformat(step["due_on"])
        still_open = sum(1 for k in step["action_keys"] if k in open_keys)
        key = step.get("grid_key")
        when = (signed or {}).get(key) if key else None
        grid_done = bool(
            when is not None and (started_on is None or clock.paris_day(when) >= started_on)
        )
        if not still_open and (not key or grid_done):
            state = StepState.DONE
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


def open_action_keys(draft: dict[str, Any]) -> set[str]:
    """Return the keys of the open actions of a plan draft."""
    return {a.key for _, a in load_content(draft).actions() if a.status in OPEN_STATUSES}


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
    open_keys = open_action_keys(draft or {})
    keys = {k for pathway, _ in rows for k in step_grid_keys(pathway.steps)}
    grids = grid_queries.grid_refs(sorted(keys), patient_id) if keys else {}
    signed = {k: g.last_signed_at for k, g in grids.items() if g.last_signed_at is not None}
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
                open_keys,
                today,
                started_on=pathway.started_on,
                signed=signed,
                grids=grids,
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
            open_action_keys(draft),
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


def signed_by_patient(rows: Any) -> dict[int, dict[str, datetime]]:
    """For rows (patient id, steps, ...): each patient's last signature of each grid their
    pathways' steps name (one query, none without grids)."""
    keys = {k for row in rows for k in step_grid_keys(row[1])}
    patient_ids = sorted({row[0] for row in rows})
    found: dict[int, dict[str, datetime]] = defaultdict(dict)
    for (patient_id, key), when in grid_queries.last_signed_at(patient_ids, sorted(keys)).items():
        found[patient_id][key] = when
    return dict(found)
