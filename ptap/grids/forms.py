"""Forms of the grid and assessment pages (labels and messages in French)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, cast

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from ptap.core.errors import DomainError, InvalidInput
from ptap.grids.definition import (
    ITEM_TYPE_LABELS,
    GridDefinition,
    Item,
    ItemType,
    parse_definition,
)
from ptap.grids.models import AssessmentGrid

OPTION_HINT = "Une option par ligne : « Libellé | points », par exemple « Seul | 2 »."
ACTIONS_HINT = "Une action par ligne ; elles sont proposées pour le plan d'aide."
TYPE_CHOICES = [SelectChoice(str(k), v) for k, v in ITEM_TYPE_LABELS.items()]


def _slug(text: str, fallback: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-")
    return slug or fallback


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ItemEntry(Form):
    """One question of the editor (its key is hidden: made from the label, then kept)."""

    key = HiddenField()
    option_codes = HiddenField()
    label = StringField("Question")
    help = TextAreaField("Aide pour la personne qui remplit (facultative)", render_kw={"rows": 2})
    type = SelectField("Type de réponse", choices=TYPE_CHOICES, validate_choice=False)
    required = BooleanField("Réponse obligatoire")
    scored = BooleanField("Compte dans le score")
    options = TextAreaField("Options (réponse à choix)", render_kw={"rows": 3})
    points_yes = StringField("Points si « oui »", render_kw={"inputmode": "numeric"})
    points_no = StringField("Points si « non »", render_kw={"inputmode": "numeric"})


class SectionEntry(Form):
    """A titled group of questions."""

    title = StringField("Titre de la section")
    items = FieldList(FormField(ItemEntry), min_entries=0)


class ThresholdEntry(Form):
    """A score range with its label, alert flag and proposed actions."""

    min = StringField("Score minimum", render_kw={"inputmode": "numeric"})
    max = StringField("Score maximum", render_kw={"inputmode": "numeric"})
    label = StringField("Libellé")
    alert = BooleanField("Déclenche une alerte")
    actions = TextAreaField("Actions proposées", render_kw={"rows": 2})


BLANK_ITEM: dict[str, Any] = {"type": "yesno", "points_yes": "1", "points_no": "0"}


class GridEditorForm(FlaskForm):
    """The structured grid editor: it produces the same definition as the JSON format, and
    `parse_definition` stays the only judge (its field paths are mapped back to the inputs).
    The add/remove buttons (`op`) round-trip the form without saving anything."""

    key = StringField(
        "Clé stable",
        validators=[Length(max=60, message="60 caractères au maximum.")],
    )
    title = StringField("Titre de la grille")
    description = TextAreaField("Description", render_kw={"rows": 2})
    sections = FieldList(FormField(SectionEntry), min_entries=0)
    thresholds = FieldList(FormField(ThresholdEntry), min_entries=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: list[str] = []
        self._raw: dict[str, Any] = {}
        self._scored: dict[str, Field] = {}

    # --- from a definition, and back ---------------------------------------------------

    @classmethod
    def for_definition(cls, raw: dict[str, Any] | None) -> GridEditorForm:
        """Fill the editor with a stored definition (or one empty section for a new grid)."""
        if not raw:
            return cls(formdata=None, data=_blank())
        definition = parse_definition(raw)
        scored = set(definition.score_items)
        data = {
            "title": definition.title,
            "description": definition.description,
            "sections": [
                {"title": s.title, "items": [_item_data(i, i.key in scored) for i in s.items]}
                for s in definition.sections
            ],
            "thresholds": [
                {
                    "min": "" if t.min is None else str(t.min),
                    "max": "" if t.max is None else str(t.max),
                    "label": t.label,
                    "alert": t.alert,
                    "actions": "\n".join(t.actions),
                }
                for t in definition.thresholds
            ],
        }
        return cls(formdata=None, data=data)

    def definition_raw(self) -> dict[str, Any]:
        """Return the definition as JSON (checked by the service); raise InvalidInput for a
        malformed option line, with the path of the item's options."""
        taken = {e.form.key.data for s in self.sections for e in s.form.items if e.form.key.data}
        sections, score_items = [], []
        for s, section in enumerate(self.sections):
            items = []
            for n, entry in enumerate(section.form.items):
                item = entry.form
                key = item.key.data or _unique(_slug(item.label.data or "", "question"), taken)
                items.append(_item_raw(item, key, f"sections[{s}].items[{n}]"))
                self._scored[key] = item.scored
                if item.scored.data:
                    score_items.append(key)
            sections.append({"title": section.form.title.data or "", "items": items})
        self._raw = {
            "title": self.title.data or "",
            "description": self.description.data or "",
            "sections": sections,
            "score_items": score_items,
            "thresholds": [
                {
                    "min": (t.form.min.data or "").strip(),
                    "max": (t.form.max.data or "").strip(),
                    "label": t.form.label.data or "",
                    "alert": bool(t.form.alert.data),
                    "actions": _lines(t.form.actions.data),
                }
                for t in self.thresholds
            ],
        }
        return self._raw

    # --- add / remove rows (no save) ---------------------------------------------------

    def apply(self, op: str) -> GridEditorForm:
        """Return the editor with a row added or removed (`op` names it: `add-section`,
        `add-item-<s>`, `add-threshold`, `remove-section-<s>`, `remove-item-<s>-<n>`,
        `remove-threshold-<n>`); an unknown op changes nothing."""
        data = {k: v for k, v in self.data.items() if k != "csrf_token"}
        sections, thresholds = data["sections"], data["thresholds"]
        parts = op.split("-")
        numbers = [int(p) for p in parts[2:] if p.isdigit() and len(p) < 4]
        what = "-".join(parts[:2])
        if what == "add-section":
            sections.append({"title": "", "items": [dict(BLANK_ITEM)]})
        elif what == "add-threshold":
            thresholds.append({})
        elif what == "add-item" and numbers and numbers[0] < len(sections):
            sections[numbers[0]]["items"].append(dict(BLANK_ITEM))
        elif what == "remove-section" and numbers and numbers[0] < len(sections):
            del sections[numbers[0]]
        elif what == "remove-threshold" and numbers and numbers[0] < len(thresholds):
            del thresholds[numbers[0]]
        elif what == "remove-item" and len(numbers) == 2 and numbers[0] < len(sections):
            items = sections[numbers[0]]["items"]
            if numbers[1] < len(items):
                del items[numbers[1]]
        return type(self)(formdata=None, data=data)

    # --- errors ------------------------------------------------------------------------

    def attach(self, error: DomainError) -> None:
        """Show an error next to the input its field path names (or at the top)."""
        target = self._field_for(error.field or "")
        if target is None:
            self.messages.append(error.message)
        else:
            target.errors = [*target.errors, error.message]

    def _field_for(self, path: str) -> Field | None:
        if path in ("key", "title", "description"):
            return cast(Field, self[path])
        found = re.match(r"^sections\[(\d+)\](?:\.items\[(\d+)\](?:\.(\w+))?)?", path)
        if found:
            s = int(found[1])
            if s >= len(self.sections):
                return None
            section = self.sections[s].form
            if found[2] is None or int(found[2]) >= len(section.items):
                return cast(Field, section.title)
            item = section.items[int(found[2])].form
            name = {"key": "label", "options": "options", "type": "type"}.get(
                found[3] or "label", found[3] or "label"
            )
            return cast(Field, getattr(item, name, item.label))
        found = re.match(r"^thresholds\[(\d+)\](?:\.(\w+))?", path)
        if found and int(found[1]) < len(self.thresholds):
            band = self.thresholds[int(found[1])].form
            return cast(Field, getattr(band, found[2] or "min", band.min))
        found = re.match(r"^score_items\[(\d+)\]", path)
        if found:
            keys = self._raw.get("score_items") or []
            n = int(found[1])
            if n < len(keys) and keys[n] in self._scored:
                return self._scored[keys[n]]
        if path == "score_items" and len(self.thresholds):
            return cast(Field, self.thresholds[0].form.min)
        return None

    def error_links(self) -> list[tuple[str, str, str]]:
        """Return (input id, label, message) for every field in error, in page order."""
        links: list[tuple[str, str, str]] = []

        def walk(form: Any, prefix: str) -> None:
            for name, f in form._fields.items():
                if isinstance(f, FieldList):
                    for n, entry in enumerate(f.entries):
                        where = {
                            "sections": f"Section {n + 1}, ",
                            "items": f"{prefix}question {n + 1}, ",
                            "thresholds": f"Seuil {n + 1}, ",
                        }.get(name, prefix)
                        walk(entry.form, where)
                elif name != "csrf_token" and f.errors and isinstance(f.errors, list):
                    text = " ".join(str(e) for e in f.errors)
                    what = f.label.text.lower() if prefix else f.label.text
                    links.append((f.id, f"{prefix}{what}", text))

        walk(self, "")
        csrf = getattr(self, "csrf_token", None)
        if csrf is not None and csrf.errors:
            self.messages.append(" ".join(csrf.errors))
        return links


def _blank() -> dict[str, Any]:
    return {"sections": [{"title": "", "items": [dict(BLANK_ITEM)]}], "thresholds": []}


def _item_data(item: Item, scored: bool) -> dict[str, Any]:
    return {
        "key": item.key,
        "option_codes": json.dumps({o.label: o.code for o in item.options}, ensure_ascii=False)
        if item.options
        else "",
        "label": item.label,
        "help": item.help,
        "type": item.type,
        "required": item.required,
        "scored": scored,
        "options": "\n".join(f"{o.label} | {o.points}" for o in item.options),
        "points_yes": str(item.points_yes) if item.type == ItemType.YESNO else "",
        "points_no": str(item.points_no) if item.type == ItemType.YESNO else "",
    }


def _item_raw(item: ItemEntry, key: str, where: str) -> dict[str, Any]:
    kind = item.type.data or ""
    raw: dict[str, Any] = {
        "key": key,
        "label": item.label.data or "",
        "help": item.help.data or "",
        "type": kind,
        "required": bool(item.required.data),
    }
    if kind == ItemType.YESNO:
        raw["points_yes"] = (item.points_yes.data or "").strip()
        raw["points_no"] = (item.points_no.data or "").strip()
    if kind == ItemType.CHOICE:
        raw["options"] = _options(item, where)
    return raw


def _options(item: ItemEntry, where: str) -> list[dict[str, Any]]:
    try:
        known = json.loads(item.option_codes.data or "{}")
    except ValueError:
        known = {}
    known = known if isinstance(known, dict) else {}
    taken: set[str] = set()
    options = []
    for n, line in enumerate(_lines(item.options.data), start=1):
        label, bar, points = line.rpartition("|")
        if not bar or not label.strip() or not points.strip():
            raise InvalidInput(
                f"Ligne {n} des options : écrivez « Libellé | points » (par exemple « Seul | 2 »).",
                field=f"{where}.options",
            )
        label = label.strip()
        code = known.get(label)
        if not isinstance(code, str) or code in taken:
            code = _slug(label, f"option-{n}")
        options.append({"code": _unique(code, taken), "label": label, "points": points.strip()})
    return options


class ImportForm(FlaskForm):
    """A FHIR Questionnaire to import."""

    key = StringField(
        "Clé (si le questionnaire n'en porte pas)",
        validators=[Length(max=60, message="60 caractères au maximum.")],
    )
    resource = TextAreaField(
        "Questionnaire FHIR R4 (JSON)",
        validators=[InputRequired(message="Collez la ressource Questionnaire.")],
        render_kw={"rows": 16, "spellcheck": "false", "class": "code"},
    )

    def parsed(self) -> Any:
        """Return the resource as JSON, or raise InvalidInput."""
        try:
            return json.loads(self.resource.data or "")
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"La ressource n'est pas du JSON valide (ligne {exc.lineno}).", field="resource"
            ) from None

    def attach(self, error: DomainError) -> None:
        """Show a service error on its field (the key, or the resource with its path)."""
        if error.field == "key":
            self.key.errors = [*self.key.errors, error.message]
        else:
            self.resource.errors = [*self.resource.errors, error.message]


class ResponseImportForm(ImportForm):
    """A filled grid (FHIR QuestionnaireResponse) to import for the patient: pasted, or an
    uploaded .json file (its text then fills the box, so the preview keeps it)."""

    key = None  # the response names its grid
    resource = TextAreaField(
        "QuestionnaireResponse FHIR R4 (JSON)",
        render_kw={"rows": 8, "spellcheck": "false", "class": "code"},
    )
    upload = FileField("… ou un fichier .json", render_kw={"accept": "application/json,.json"})

    def parsed(self) -> Any:
        """Return the uploaded or pasted resource as JSON, or raise InvalidInput."""
        upload = self.upload.data
        if isinstance(upload, FileStorage) and upload.filename:
            self.resource.data = upload.read(2_000_000).decode("utf-8", errors="replace")
        if not (self.resource.data or "").strip():
            raise InvalidInput(
                "Collez la ressource QuestionnaireResponse ou choisissez un fichier.",
                field="resource",
            )
        return super().parsed()


class StartForm(FlaskForm):
    """Which published grid to fill."""

    grid_id = SelectField("Grille", choices=[], validate_choice=False)

    def __init__(self, *args: object, grids: Sequence[AssessmentGrid] = (), **kwargs: object):
        super().__init__(*args, **kwargs)
        self.grid_id.choices = [(str(g.id), g.title) for g in grids]

    def chosen(self) -> int | None:
        """Return the chosen grid id."""
        raw = self.grid_id.data or ""
        return int(raw) if raw.isdecimal() and len(raw) < 10 else None


def answers_from_form(definition: GridDefinition, form: Any) -> dict[str, Any]:
    """Read the answers of the filling form (field `a-<key>`); the service checks them."""
    answers: dict[str, Any] = {}
    for item in definition.items():
        value = (form.get(f"a-{item.key}") or "").strip()
        if not value:
            continue
        answers[item.key] = value if item.type != ItemType.YESNO else value == "oui"
    return answers


def revision_from_form(form: Any) -> int:
    """Return the revision the form was based on (-1 if missing: a conflict)."""
    raw = form.get("revision", "")
    return int(raw) if raw.isdecimal() and len(raw) < 10 else -1
