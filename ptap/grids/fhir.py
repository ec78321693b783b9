"""Grids as FHIR R4 Questionnaires, assessments as QuestionnaireResponses (export and import).

Imports are parsed with the fhir.resources R4B models first (R4B is R4 for these two
resources), then mapped; whatever PTAP cannot represent (conditional items, repeating items,
value sets, free-choice answers, nested groups...) is refused with its path and the reason.
Points, the score and thresholds travel in PTAP extensions; choice points use the standard
`ordinalValue` extension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.questionnaire import Questionnaire, QuestionnaireItem
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from ptap.core.errors import InvalidInput
from ptap.grids.definition import (
    KEY_RE,
    GridDefinition,
    ItemType,
    clean_answers,
    parse_definition,
)

PTAP_FHIR = "https://ptap.example/fhir"
EXT = f"{PTAP_FHIR}/StructureDefinition"
KEY_SYSTEM = f"{PTAP_FHIR}/grid-key"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
POINTS_YES, POINTS_NO = f"{EXT}/grid-points-yes", f"{EXT}/grid-points-no"
SCORE_ITEM, THRESHOLD, SCORE = f"{EXT}/grid-score-item", f"{EXT}/grid-threshold", f"{EXT}/score"
STATUS_TO_FHIR = {"draft": "draft", "published": "active", "retired": "retired"}
TYPE_TO_FHIR = {
    ItemType.YESNO: "boolean",
    ItemType.CHOICE: "choice",
    ItemType.NUMBER: "decimal",
    ItemType.DATE: "date",
    ItemType.TEXT: "text",
}
TYPE_FROM_FHIR = {
    "boolean": ItemType.YESNO,
    "choice": ItemType.CHOICE,
    "decimal": ItemType.NUMBER,
    "integer": ItemType.NUMBER,
    "date": ItemType.DATE,
    "text": ItemType.TEXT,
    "string": ItemType.TEXT,
}


def questionnaire_url(key: str) -> str:
    """Return the canonical URL of a grid's Questionnaire (what pathway steps reference)."""
    return f"{PTAP_FHIR}/Questionnaire/{key}"


def grid_key_from_canonical(canonical: str) -> str | None:
    """Return the grid key of a PTAP Questionnaire canonical (`url` or `url|version`), or None
    when the canonical is not a PTAP Questionnaire."""
    url = canonical.partition("|")[0]
    prefix = questionnaire_url("")
    if not url.startswith(prefix):
        return None
    key = url.removeprefix(prefix)
    return key if KEY_RE.match(key) else None


# --- export --------------------------------------------------------------------------------


def questionnaire(key: str, definition: GridDefinition, number: int, status: str) -> dict[str, Any]:
    """Return the grid version as a FHIR Questionnaire (JSON)."""
    extensions: list[dict[str, Any]] = [
        {"url": SCORE_ITEM, "valueString": k} for k in definition.score_items
    ]
    for band in definition.thresholds:
        parts: list[dict[str, Any]] = [{"url": "label", "valueString": band.label}]
        if band.min is not None:
            parts.append({"url": "min", "valueInteger": band.min})
        if band.max is not None:
            parts.append({"url": "max", "valueInteger": band.max})
        parts.append({"url": "alert", "valueBoolean": band.alert})
        parts.extend({"url": "action", "valueString": a} for a in band.actions)
        extensions.append({"url": THRESHOLD, "extension": parts})
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "url": questionnaire_url(key),
        "identifier": [{"system": KEY_SYSTEM, "value": key}],
        "title": definition.title,
        "status": STATUS_TO_FHIR.get(status, "draft"),
        "subjectType": ["Patient"],
        "item": [_group(n, section) for n, section in enumerate(definition.sections)],
    }
    if number:
        resource["version"] = str(number)
    if definition.description:
        resource["description"] = definition.description
    if extensions:
        resource["extension"] = extensions
    return resource


def _group(n: int, section: Any) -> dict[str, Any]:
    return {
        "linkId": f"section-{n + 1}",
        "text": section.title,
        "type": "group",
        "item": [_question(item) for item in section.items],
    }


def _question(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"linkId": item.key, "text": item.label, "type": TYPE_TO_FHIR[item.type]}
    if item.required:
        out["required"] = True
    if item.type == ItemType.YESNO:
        out["extension"] = [
            {"url": POINTS_YES, "valueInteger": item.points_yes},
            {"url": POINTS_NO, "valueInteger": item.points_no},
        ]
    if item.type == ItemType.CHOICE:
        out["answerOption"] = [
            {
                "valueCoding": {"code": o.code, "display": o.label},
                "extension": [{"url": ORDINAL, "valueDecimal": o.points}],
            }
            for o in item.options
        ]
    return out


def questionnaire_response(
    *,
    key: str,
    number: int,
    definition: GridDefinition,
    answers: dict[str, Any],
    status: str,
    patient_id: int,
    author_id: int,
    authored: datetime,
    score: int | None,
) -> dict[str, Any]:
    """Return an assessment as a FHIR QuestionnaireResponse (JSON)."""
    groups = []
    for n, section in enumerate(definition.sections):
        items = [
            {"linkId": i.key, "text": i.label, "answer": [_value(i, answers[i.key])]}
            for i in section.items
            if i.key in answers
        ]
        if items:
            groups.append({"linkId": f"section-{n + 1}", "text": section.title, "item": items})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{questionnaire_url(key)}|{number}",
        "status": "completed" if status == "signed" else "in-progress",
        "subject": {"reference": f"Patient/{patient_id}"},
        "author": {"reference": f"Practitioner/{author_id}"},
        "authored": authored.isoformat(),
        "item": groups,
    }
    if score is not None:
        resource["extension"] = [{"url": SCORE, "valueInteger": score}]
    return resource


def _value(item: Any, value: Any) -> dict[str, Any]:
    if item.type == ItemType.YESNO:
        return {"valueBoolean": bool(value)}
    if item.type == ItemType.CHOICE:
        label = next((o.label for o in item.options if o.code == value), "")
        return {"valueCoding": {"code": value, "display": label}}
    if item.type == ItemType.NUMBER:
        return {"valueDecimal": value}
    if item.type == ItemType.DATE:
        return {"valueDate": value}
    return {"valueString": value}


# --- import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPlan:
    """What an import will create: a draft grid under `key` with this definition."""

    key: str
    definition: GridDefinition


def _parse(model: Any, raw: Any, kind: str) -> Any:
    if not isinstance(raw, dict):
        raise InvalidInput(f"La ressource FHIR {kind} doit être un objet JSON.", field="resource")
    if raw.get("resourceType") != kind:
        raise InvalidInput(
            f"Une ressource FHIR {kind} est attendue (resourceType).",
            field="resource.resourceType",
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__") or "resource"
        raise InvalidInput(
            f"La ressource FHIR {kind} n'est pas valide (R4) : élément « {path} » refusé.",
            field=f"resource.{path}",
        ) from None


def _refuse(path: str, reason: str) -> InvalidInput:
    return InvalidInput(
        f"PTAP ne sait pas représenter {reason} ({path}).", field=f"resource.{path}"
    )


def _key_of(link_id: str, path: str) -> str:
    key = re.sub(r"[^a-z0-9_-]+", "-", link_id.lower()).strip("-")[:60]
    if not KEY_RE.match(key):
        raise _refuse(f"{path}.linkId", f"l'identifiant « {link_id} »")
    return key


def _ext(extensions: Any, url: str) -> list[Any]:
    return [e for e in (extensions or []) if e.url == url]


def parse_questionnaire(raw: Any, key: str = "") -> ImportPlan:
    """Parse and map a FHIR Questionnaire; refuse, with the reason, what PTAP cannot hold."""
    q = _parse(Questionnaire, raw, "Questionnaire")
    if q.modifierExtension:
        raise _refuse("modifierExtension", "une extension modificatrice")
    if not key:
        key = next((i.value for i in q.identifier or [] if i.system == KEY_SYSTEM), "") or ""
    if not key and q.name:
        key = _key_of(q.name, "name")
    if not key:
        raise InvalidInput(
            "Indiquez la clé de la grille : le questionnaire n'en porte pas (identifier).",
            field="key",
        )
    sections: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for n, item in enumerate(q.item or []):
        path = f"item[{n}]"
        if item.type == "group":
            _check_plain(item, path)
            questions = [
                _import_question(child, f"{path}.item[{c}]")
                for c, child in enumerate(item.item or [])
            ]
            sections.append(
                {"title": item.text or f"Section {len(sections) + 1}", "items": questions}
            )
        else:
            loose.append(_import_question(item, path))
    if loose:  # questions outside any group: one section of their own
        sections.append({"title": q.title or "Questions", "items": loose})
    score_items = [
        _key_of(e.valueString or "", f"extension[{SCORE_ITEM}]")
        for e in _ext(q.extension, SCORE_ITEM)
    ]
    thresholds = [_import_threshold(e) for e in _ext(q.extension, THRESHOLD)]
    try:
        definition = parse_definition(
            {
                "title": q.title or q.name or key,
                "description": str(q.description or ""),
                "sections": sections,
                "score_items": score_items,
                "thresholds": thresholds,
            }
        )
    except InvalidInput as exc:
        raise InvalidInput(f"Questionnaire refusé : {exc.message}", field=exc.field) from None
    return ImportPlan(key=key, definition=definition)


def _check_plain(item: QuestionnaireItem, path: str) -> None:
    if item.modifierExtension:
        raise _refuse(f"{path}.modifierExtension", "une extension modificatrice")
    if item.enableWhen:
        raise _refuse(f"{path}.enableWhen", "une question conditionnelle (enableWhen)")
    if item.repeats:
        raise _refuse(f"{path}.repeats", "un élément répétable (repeats)")


def _import_question(item: QuestionnaireItem, path: str) -> dict[str, Any]:
    _check_plain(item, path)
    if item.type == "group":
        raise _refuse(path, "un groupe dans un groupe")
    kind = TYPE_FROM_FHIR.get(item.type or "")
    if kind is None:
        raise _refuse(f"{path}.type", f"un élément de type « {item.type} »")
    if item.answerValueSet:
        raise _refuse(f"{path}.answerValueSet", "une liste de réponses externe (answerValueSet)")
    if item.initial:
        raise _refuse(f"{path}.initial", "une réponse préremplie (initial)")
    out: dict[str, Any] = {
        "key": _key_of(item.linkId or "", path),
        "label": item.text or item.linkId,
        "type": str(kind),
        "required": bool(item.required),
    }
    if kind == ItemType.YESNO:
        for url, name in ((POINTS_YES, "points_yes"), (POINTS_NO, "points_no")):
            found = _ext(item.extension, url)
            out[name] = found[0].valueInteger if found else 0
    if kind == ItemType.CHOICE:
        options = []
        for o, option in enumerate(item.answerOption or []):
            coding = option.valueCoding
            if coding is None or not coding.code:
                raise _refuse(f"{path}.answerOption[{o}]", "une option sans code (valueCoding)")
            points = _ext(option.extension, ORDINAL)
            value = points[0].valueDecimal if points else 0
            if value != int(value):
                raise _refuse(f"{path}.answerOption[{o}]", "des points décimaux")
            options.append(
                {
                    "code": _key_of(coding.code, path),
                    "label": coding.display or coding.code,
                    "points": int(value),
                }
            )
        out["options"] = options
    return out


def _import_threshold(ext: Any) -> dict[str, Any]:
    band: dict[str, Any] = {"actions": []}
    for part in ext.extension or []:
        if part.url == "label":
            band["label"] = part.valueString
        elif part.url in ("min", "max"):
            band[part.url] = part.valueInteger
        elif part.url == "alert":
            band["alert"] = bool(part.valueBoolean)
        elif part.url == "action":
            band["actions"].append(part.valueString)
    return band


@dataclass(frozen=True)
class ResponseTarget:
    """What a QuestionnaireResponse names: the grid key, its version number, and the
    patient id of its `subject` (None when it names none)."""

    key: str
    number: int
    patient_id: int | None


def response_target(raw: Any) -> ResponseTarget:
    """Parse a QuestionnaireResponse (R4B model) and return the grid version and the patient
    it names; refuse a canonical that is not a PTAP grid with its version, or a subject that
    is not a Patient."""
    qr = _parse(QuestionnaireResponse, raw, "QuestionnaireResponse")
    if qr.modifierExtension:
        raise _refuse("modifierExtension", "une extension modificatrice")
    canonical = str(qr.questionnaire or "")
    key = grid_key_from_canonical(canonical) if canonical else None
    if key is None:
        raise InvalidInput(
            "Le champ « questionnaire » doit nommer une grille PTAP "
            f"({questionnaire_url('<clé>')}|<version>).",
            field="resource.questionnaire",
        )
    version = canonical.partition("|")[2]
    if not version.isdecimal() or len(version) > 9:
        raise InvalidInput(
            "Le champ « questionnaire » doit nommer la version de la grille (…|<numéro>).",
            field="resource.questionnaire",
        )
    patient_id = None
    if qr.subject is not None:
        ref = str(qr.subject.reference or "")
        kind, _, ident = ref.partition("/")
        if kind != "Patient" or not ident.isdecimal() or len(ident) > 12:
            raise InvalidInput(
                "Le champ « subject » doit désigner un patient PTAP (Patient/<id>).",
                field="resource.subject",
            )
        patient_id = int(ident)
    return ResponseTarget(key=key, number=int(version), patient_id=patient_id)


#: The FHIR answer value[x] each item type takes.
ANSWER_TYPES = {
    ItemType.YESNO: ("valueBoolean",),
    ItemType.CHOICE: ("valueCoding",),
    ItemType.NUMBER: ("valueDecimal", "valueInteger"),
    ItemType.DATE: ("valueDate",),
    ItemType.TEXT: ("valueString",),
}
ANSWER_LABELS = {
    ItemType.YESNO: "valueBoolean (oui/non)",
    ItemType.CHOICE: "valueCoding (une des options)",
    ItemType.NUMBER: "valueDecimal ou valueInteger (un nombre)",
    ItemType.DATE: "valueDate (une date)",
    ItemType.TEXT: "valueString (un texte)",
}


def parse_questionnaire_response(raw: Any, definition: GridDefinition) -> dict[str, Any]:
    """Parse a FHIR QuestionnaireResponse and return its answers checked against the grid:
    an answer to an item the grid lacks, of another type than the item's, repeated or with
    nested items is refused with its path."""
    qr = _parse(QuestionnaireResponse, raw, "QuestionnaireResponse")
    answers: dict[str, Any] = {}
    paths: dict[str, str] = {}
    stack = [(item, f"item[{n}]") for n, item in enumerate(qr.item or [])]
    while stack:
        item, path = stack.pop(0)
        stack.extend((child, f"{path}.item[{c}]") for c, child in enumerate(item.item or []))
        if not item.answer:
            continue
        target = definition.item(item.linkId or "")
        if target is None:
            raise InvalidInput(
                f"La grille n'a pas d'élément « {item.linkId} » ({path}.linkId).",
                field=f"resource.{path}.linkId",
            )
        if len(item.answer) > 1:
            raise _refuse(f"{path}.answer", "plusieurs réponses à un élément")
        answer = item.answer[0]
        if answer.item:
            raise _refuse(f"{path}.answer[0].item", "des éléments sous une réponse")
        value = _answer_value(answer)
        allowed = ANSWER_TYPES[ItemType(target.type)]
        if value is None or not any(getattr(answer, name) is not None for name in allowed):
            raise InvalidInput(
                f"« {target.label} » : réponse attendue en {ANSWER_LABELS[ItemType(target.type)]}"
                f" ({path}.answer[0]).",
                field=f"resource.{path}.answer[0]",
            )
        answers[target.key] = value
        paths[target.key] = f"resource.{path}.answer[0]"
    try:
        return clean_answers(definition, answers)
    except InvalidInput as exc:
        key = (exc.field or "").removeprefix("answers.")
        raise InvalidInput(exc.message, field=paths.get(key, exc.field)) from None


def _answer_value(answer: Any) -> Any:
    if answer.valueBoolean is not None:
        return answer.valueBoolean
    if answer.valueCoding is not None:
        return answer.valueCoding.code
    for name in ("valueDecimal", "valueInteger", "valueString"):
        value = getattr(answer, name, None)
        if value is not None:
            return float(value) if name == "valueDecimal" else value
    if answer.valueDate is not None:  # a partial date ("2024") stays text: refused later
        day = answer.valueDate
        return day.isoformat() if hasattr(day, "isoformat") else str(day)
    return None
