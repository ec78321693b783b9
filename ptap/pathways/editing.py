"""The no-JavaScript template editor's form <-> content mapping.

Each step is one fieldset: title, delay, what it counts from, grid key, its problems (one per
line, optionally "social : …") and its actions (one per line: "Objectif | Action | Profession").
Keys of problems, objectives and actions are kept by matching text with the previous draft, so
saving an unchanged form changes nothing (and publishing it creates no version).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ptap.accounts.models import PROFESSION_LABELS, Profession
from ptap.care_plans.content import DIMENSION_LABELS, Dimension
from ptap.pathways.content import OffsetFrom

_DIMENSIONS = {label.lower(): d.value for d, label in DIMENSION_LABELS.items()} | {
    d.value: d.value for d in Dimension
}


def _profession_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for profession, label in PROFESSION_LABELS.items():
        aliases[profession.value] = profession.value
        aliases[label.lower()] = profession.value
        aliases[label.split("·")[0].lower()] = profession.value
    return aliases


PROFESSIONS = _profession_aliases()


def profession_code(text: str) -> str:
    """Return the profession code of a code or French label (unknown text kept as typed)."""
    return PROFESSIONS.get(text.strip().lower(), text.strip())


def _profession_label(code: str) -> str:
    try:
        return PROFESSION_LABELS[Profession(code)]
    except ValueError:
        return code


def _dimension_label(code: str) -> str:
    try:
        return DIMENSION_LABELS[Dimension(code)]
    except ValueError:
        return code


def step_fields(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the steps of a content dict (maybe not valid yet) as the editor's values."""
    rows = []
    for step in data.get("steps", []):
        problems = "\n".join(
            f"{_dimension_label(p.get('dimension', ''))} : {p.get('description', '')}"
            for p in step.get("problems", [])
        )
        actions = "\n".join(
            f"{o.get('title', '')} | {a.get('what', '')} | "
            f"{_profession_label(a.get('profession', ''))}"
            for o in step.get("objectives", [])
            for a in o.get("actions", [])
        )
        rows.append(
            {
                "key": step.get("key", ""),
                "title": step.get("title", ""),
                "offset_days": str(step.get("offset_days", "")),
                "offset_from": step.get("offset_from", OffsetFrom.START.value),
                "grid_key": step.get("grid_key") or "",
                "problems": problems,
                "actions": actions,
            }
        )
    return rows


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _step_data(form: Mapping[str, str], i: int, previous: dict[str, Any]) -> dict[str, Any]:
    prefix = f"steps-{i}-"
    old_problems = {p["description"]: p for p in previous.get("problems", [])}
    old_objectives = {o["title"]: o for o in previous.get("objectives", [])}
    problems = []
    for line in _lines(form.get(prefix + "problems", "")):
        head, sep, tail = line.partition(":")
        dimension = _DIMENSIONS.get(head.strip().lower()) if sep else None
        description = tail.strip() if dimension else line
        problem: dict[str, Any] = {"dimension": dimension or "medical", "description": description}
        if description in old_problems:
            problem["key"] = old_problems[description]["key"]
            problem["priority"] = old_problems[description].get("priority", "medium")
        problems.append(problem)
    objectives: dict[str, dict[str, Any]] = {}
    for line in _lines(form.get(prefix + "actions", "")):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            parts = ["", line, ""] if len(parts) < 3 else parts[:2] + [" ".join(parts[2:])]
        title, what, profession = parts
        old = old_objectives.get(title, {})
        objective = objectives.setdefault(title, {"title": title, "actions": []})
        if "key" in old:
            objective["key"] = old["key"]
        action: dict[str, Any] = {"what": what, "profession": profession_code(profession)}
        match = next((a for a in old.get("actions", []) if a["what"] == what), None)
        if match:
            action["key"] = match["key"]
            action["action_type"] = match.get("action_type", "care")
        objective["actions"].append(action)
    raw_offset = form.get(prefix + "offset_days", "").strip()
    step: dict[str, Any] = {
        "title": form.get(prefix + "title", ""),
        "offset_days": int(raw_offset) if raw_offset.lstrip("-").isdecimal() else raw_offset,
        "offset_from": form.get(prefix + "offset_from", OffsetFrom.START.value),
        "grid_key": form.get(prefix + "grid_key", "").strip() or None,
        "problems": problems,
        "objectives": list(objectives.values()),
    }
    if form.get(prefix + "key"):
        step["key"] = form[prefix + "key"]
    return step


def content_from_form(form: Mapping[str, str], previous: dict[str, Any]) -> dict[str, Any]:
    """Build the content dict from the editor's fields (validated afterwards by the service)."""
    old_steps = {s["key"]: s for s in previous.get("steps", [])}
    count = int(form.get("step_count", "0") or 0) if form.get("step_count", "").isdecimal() else 0
    steps = []
    for i in range(min(count, 100)):
        old = old_steps.get(form.get(f"steps-{i}-key", ""), {})
        steps.append(_step_data(form, i, old))
    return {
        "title": form.get("title", ""),
        "theme": form.get("theme", ""),
        "audience": form.get("audience", ""),
        "sources": form.get("sources", ""),
        "steps": steps,
    }


def apply_op(data: dict[str, Any], op: str) -> dict[str, Any]:
    """Apply a structural button: add a step, move one up or down, remove one."""
    steps = data["steps"]
    if op == "add_step":
        steps.append({"title": "", "offset_days": 0, "problems": [], "objectives": []})
    name, _, raw = op.partition("-")
    if raw.isdecimal() and int(raw) < len(steps):
        i = int(raw)
        if name == "up" and i > 0:
            steps[i - 1], steps[i] = steps[i], steps[i - 1]
        elif name == "down" and i + 1 < len(steps):
            steps[i + 1], steps[i] = steps[i], steps[i + 1]
        elif name == "remove":
            del steps[i]
    return data


def form_field(error_field: str) -> str:
    """Map a content error path (steps.1.objectives.0.actions.2.profession) to the editor's
    field id (steps-1-actions)."""
    parts = error_field.split(".")
    if parts[0] != "steps" or len(parts) < 3 or not parts[1].isdecimal():
        return parts[0] if parts[0] in {"title", "theme", "audience", "sources"} else "title"
    name = parts[2]
    if name in {"objectives", "actions"}:
        name = "actions"
    elif name not in {"title", "offset_days", "offset_from", "grid_key", "problems"}:
        name = "title"
    return f"steps-{parts[1]}-{name}"
