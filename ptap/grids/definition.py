"""What a grid is made of (sections, items, score, thresholds), checked and scored without eval.

The score is a sum: each item listed in `score_items` adds the points of its answer (the chosen
option's points, or the yes/no points). Thresholds map a score range to a label, an alert flag
and actions to propose for the plan. A definition is plain JSON (stored as is in versions).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from ptap.core.errors import InvalidInput


class ItemType(StrEnum):
    """The kinds of question a grid can ask."""

    YESNO = "yesno"
    CHOICE = "choice"
    NUMBER = "number"
    DATE = "date"
    TEXT = "text"


ITEM_TYPE_LABELS = {
    ItemType.YESNO: "Oui / non",
    ItemType.CHOICE: "Choix",
    ItemType.NUMBER: "Nombre",
    ItemType.DATE: "Date",
    ItemType.TEXT: "Texte",
}
SCORED_TYPES = frozenset({ItemType.YESNO, ItemType.CHOICE})
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
MAX_POINTS = 1000
MAX_ITEMS = 200


@dataclass(frozen=True)
class Option:
    """One answer of a choice item, with the points it scores."""

    code: str
    label: str
    points: int = 0


@dataclass(frozen=True)
class Item:
    """One question; yes/no items carry `points_yes`/`points_no`, choice items their options."""

    key: str
    label: str
    type: str
    required: bool = False
    options: tuple[Option, ...] = ()
    points_yes: int = 0
    points_no: int = 0
    help: str = ""


@dataclass(frozen=True)
class Section:
    """A titled group of items."""

    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Threshold:
    """A score range (both ends included; None = open) with its label, alert and actions."""

    label: str
    min: int | None = None
    max: int | None = None
    alert: bool = False
    actions: tuple[str, ...] = ()

    def contains(self, score: int) -> bool:
        """Tell whether the score falls in this range."""
        return (self.min is None or score >= self.min) and (self.max is None or score <= self.max)


@dataclass(frozen=True)
class GridDefinition:
    """A whole grid: sections of items, the items summed into the score, and thresholds."""

    title: str
    description: str = ""
    sections: tuple[Section, ...] = ()
    score_items: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = field(default=())

    def items(self) -> list[Item]:
        """Return every item, in order."""
        return [item for section in self.sections for item in section.items]

    def item(self, key: str) -> Item | None:
        """Return the item with this key, if any."""
        return next((i for i in self.items() if i.key == key), None)

    def to_json(self) -> dict[str, Any]:
        """Return the definition as plain JSON (an empty help text is left out, so grids
        written before help texts existed keep the same JSON and hash)."""
        data = asdict(self)
        for section in data["sections"]:
            for item in section["items"]:
                if not item["help"]:
                    del item["help"]
        return data

    def content_hash(self) -> str:
        """Return the SHA-256 of the canonical JSON (what makes two versions equal)."""
        raw = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


# --- parsing and checking ------------------------------------------------------------------


def _text(raw: Any, field_name: str, what: str, limit: int, required: bool = True) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise InvalidInput(f"{what} doit être un texte.", field=field_name)
    value = " ".join(raw.split()) if limit <= 300 else raw.strip()
    if required and not value:
        raise InvalidInput(f"{what} est obligatoire.", field=field_name)
    if len(value) > limit:
        raise InvalidInput(f"{what} est trop long ({limit} caractères au plus).", field=field_name)
    return value


def _int(raw: Any, field_name: str, what: str, optional: bool = False) -> int | None:
    if raw is None or raw == "":
        if optional:
            return None
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInput(f"{what} doit être un nombre entier.", field=field_name)
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{what} doit être un nombre entier.", field=field_name) from None
    if abs(value) > MAX_POINTS:
        raise InvalidInput(f"{what} doit rester entre -1000 et 1000.", field=field_name)
    return value


def _list(raw: Any, field_name: str, what: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise InvalidInput(f"{what} doit être une liste.", field=field_name)
    return list(raw)


def _dict(raw: Any, field_name: str, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{what} doit être un objet.", field=field_name)
    return raw


def _option(raw: Any, where: str) -> Option:
    data = _dict(raw, where, "Une option")
    code = _text(data.get("code"), f"{where}.code", "Le code de l'option", 60)
    if not KEY_RE.match(code):
        raise InvalidInput(
            "Le code d'une option ne contient que des minuscules, chiffres, - et _.",
            field=f"{where}.code",
        )
    return Option(
        code=code,
        label=_text(data.get("label"), f"{where}.label", "Le libellé de l'option", 200),
        points=_int(data.get("points"), f"{where}.points", "Les points de l'option") or 0,
    )


def _item(raw: Any, where: str) -> Item:
    data = _dict(raw, where, "Un élément")
    key = _text(data.get("key"), f"{where}.key", "La clé de l'élément", 60)
    if not KEY_RE.match(key):
        raise InvalidInput(
            f"La clé « {key} » ne contient que des minuscules, chiffres, - et _.",
            field=f"{where}.key",
        )
    kind = data.get("type")
    if kind not in ItemType.__members__.values():
        raise InvalidInput(
            f"Le type de l'élément « {key} » est inconnu (oui/non, choix, nombre, date, texte).",
            field=f"{where}.type",
        )
    options = tuple(
        _option(o, f"{where}.options[{n}]")
        for n, o in enumerate(_list(data.get("options"), f"{where}.options", "Les options"))
    )
    if kind == ItemType.CHOICE:
        if len(options) < 2:
            raise InvalidInput(
                f"L'élément à choix « {key} » doit proposer au moins deux options.",
                field=f"{where}.options",
            )
        codes = [o.code for o in options]
        if len(set(codes)) != len(codes):
            raise InvalidInput(
                f"Deux options de l'élément « {key} » ont le même code.", field=f"{where}.options"
            )
    elif options:
        raise InvalidInput(
            f"Seul un élément à choix a des options (« {key} »).", field=f"{where}.options"
        )
    return Item(
        key=key,
        label=_text(data.get("label"), f"{where}.label", "Le libellé de l'élément", 300),
        type=str(kind),
        required=bool(data.get("required", False)),
        options=options,
        points_yes=_int(data.get("points_yes"), f"{where}.points_yes", "Les points de oui") or 0
        if kind == ItemType.YESNO
        else 0,
        points_no=_int(data.get("points_no"), f"{where}.points_no", "Les points de non") or 0
        if kind == ItemType.YESNO
        else 0,
        help=_text(data.get("help"), f"{where}.help", "L'aide de la question", 500, required=False),
    )


def _threshold(raw: Any, where: str) -> Threshold:
    data = _dict(raw, where, "Un seuil")
    low = _int(data.get("min"), f"{where}.min", "Le minimum du seuil", optional=True)
    high = _int(data.get("max"), f"{where}.max", "Le maximum du seuil", optional=True)
    if low is None and high is None:
        raise InvalidInput("Un seuil a un minimum, un maximum ou les deux.", field=f"{where}.min")
    if low is not None and high is not None and low > high:
        raise InvalidInput(
            "Le minimum d'un seuil ne peut dépasser son maximum.", field=f"{where}.max"
        )
    actions = tuple(
        _text(a, f"{where}.actions[{n}]", "Une action proposée", 300)
        for n, a in enumerate(_list(data.get("actions"), f"{where}.actions", "Les actions"))
    )
    return Threshold(
        label=_text(data.get("label"), f"{where}.label", "Le libellé du seuil", 200),
        min=low,
        max=high,
        alert=bool(data.get("alert", False)),
        actions=actions,
    )


def _overlap(a: Threshold, b: Threshold) -> bool:
    low = max(x for x in (a.min, b.min, -(10**9)) if x is not None)
    high = min(x for x in (a.max, b.max, 10**9) if x is not None)
    return low <= high


def parse_definition(raw: Any) -> GridDefinition:
    """Check a definition (JSON) and return it; raise InvalidInput naming the faulty field."""
    data = _dict(raw, "definition", "La définition de la grille")
    sections = []
    for s, section in enumerate(_list(data.get("sections"), "sections", "Les sections")):
        where = f"sections[{s}]"
        section_data = _dict(section, where, "Une section")
        items = tuple(
            _item(i, f"{where}.items[{n}]")
            for n, i in enumerate(_list(section_data.get("items"), f"{where}.items", "Les items"))
        )
        if not items:
            raise InvalidInput("Une section contient au moins un élément.", field=f"{where}.items")
        title = _text(section_data.get("title"), f"{where}.title", "Le titre de la section", 200)
        sections.append(Section(title=title, items=items))
    if not sections:
        raise InvalidInput("La grille contient au moins une section.", field="sections")
    definition = GridDefinition(
        title=_text(data.get("title"), "title", "Le titre de la grille", 200),
        description=_text(
            data.get("description"), "description", "La description", 2000, required=False
        ),
        sections=tuple(sections),
        score_items=tuple(
            _text(k, f"score_items[{n}]", "Un élément du score", 60)
            for n, k in enumerate(_list(data.get("score_items"), "score_items", "Le score"))
        ),
        thresholds=tuple(
            _threshold(t, f"thresholds[{n}]")
            for n, t in enumerate(_list(data.get("thresholds"), "thresholds", "Les seuils"))
        ),
    )
    _check_references(definition)
    return definition


def _check_references(definition: GridDefinition) -> None:
    items = definition.items()
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"Une grille a au plus {MAX_ITEMS} éléments.", field="sections")
    keys = [i.key for i in items]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate:
        raise InvalidInput(f"Deux éléments ont la clé « {duplicate} ».", field="sections")
    for n, key in enumerate(definition.score_items):
        item = definition.item(key)
        if item is None:
            raise InvalidInput(
                f"Le score utilise l'élément « {key} », qui n'existe pas dans la grille.",
                field=f"score_items[{n}]",
            )
        if item.type not in SCORED_TYPES:
            raise InvalidInput(
                f"Le score n'additionne que des éléments oui/non ou à choix (« {key} »).",
                field=f"score_items[{n}]",
            )
    if len(set(definition.score_items)) != len(definition.score_items):
        raise InvalidInput("Un élément est compté deux fois dans le score.", field="score_items")
    if definition.thresholds and not definition.score_items:
        raise InvalidInput(
            "Des seuils sans score : choisissez les éléments additionnés.", field="score_items"
        )
    bands = definition.thresholds
    for n, band in enumerate(bands):
        for other in bands[:n]:
            if _overlap(band, other):
                raise InvalidInput(
                    f"Les seuils « {other.label} » et « {band.label} » se chevauchent.",
                    field=f"thresholds[{n}]",
                )


# --- answers and score -------------------------------------------------------------------


def clean_answers(definition: GridDefinition, raw: Any) -> dict[str, Any]:
    """Check answers against the grid (unknown keys, wrong types) and return them cleaned;
    unanswered items are left out (a draft may be incomplete)."""
    data = _dict(raw if raw is not None else {}, "answers", "Les réponses")
    unknown = next((k for k in data if definition.item(str(k)) is None), None)
    if unknown is not None:
        raise InvalidInput(
            f"La grille n'a pas d'élément « {unknown} ».", field=f"answers.{unknown}"
        )
    cleaned: dict[str, Any] = {}
    for item in definition.items():
        value = data.get(item.key)
        if value is None or value == "":
            continue
        cleaned[item.key] = _answer(item, value)
    return cleaned


def _answer(item: Item, value: Any) -> Any:
    where = f"answers.{item.key}"
    if item.type == ItemType.YESNO:
        if isinstance(value, bool):
            return value
        if value in ("oui", "yes", "true", "1"):
            return True
        if value in ("non", "no", "false", "0"):
            return False
        raise InvalidInput(f"« {item.label} » : répondez oui ou non.", field=where)
    if item.type == ItemType.CHOICE:
        if value not in [o.code for o in item.options]:
            raise InvalidInput(f"« {item.label} » : choisissez une des options.", field=where)
        return value
    if item.type == ItemType.NUMBER:
        try:
            number = float(str(value).replace(",", "."))
        except ValueError:
            raise InvalidInput(f"« {item.label} » : indiquez un nombre.", field=where) from None
        if number != number or abs(number) > 1e9:  # NaN or absurd
            raise InvalidInput(f"« {item.label} » : indiquez un nombre.", field=where)
        return int(number) if number.is_integer() else number
    if item.type == ItemType.DATE:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise InvalidInput(
                f"« {item.label} » : indiquez une date (AAAA-MM-JJ).", field=where
            ) from None
    text = str(value).strip()
    if len(text) > 2000:
        raise InvalidInput(f"« {item.label} » : 2000 caractères au plus.", field=where)
    return text


def missing_required(definition: GridDefinition, answers: dict[str, Any]) -> list[Item]:
    """Return the required items left unanswered."""
    return [i for i in definition.items() if i.required and i.key not in answers]


def compute_score(definition: GridDefinition, answers: dict[str, Any]) -> int | None:
    """Return the sum of the points of the scored items' answers (None if the grid has none)."""
    if not definition.score_items:
        return None
    total = 0
    for key in definition.score_items:
        item = definition.item(key)
        value = answers.get(key)
        if item is None or value is None:
            continue
        if item.type == ItemType.YESNO:
            total += item.points_yes if value is True else item.points_no
        else:
            total += next((o.points for o in item.options if o.code == value), 0)
    return total


def band_for(definition: GridDefinition, score: int | None) -> Threshold | None:
    """Return the threshold band the score falls in, if any."""
    if score is None:
        return None
    return next((t for t in definition.thresholds if t.contains(score)), None)
