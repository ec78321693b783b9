"""The structured grid editor: a coordinator builds a grid without JSON. Rows are added and
removed by round-trips that save nothing; `parse_definition` stays the judge and its errors land
next to the right input (422, input kept, nothing saved); an existing draft fills the form."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from ptap.grids import present
from ptap.grids.definition import parse_definition
from ptap.grids.demo_grids import FRAILTY_SCREENING
from ptap.grids.models import AssessmentGrid


def page_form(page: str, **changes: str) -> dict[str, str]:
    """Return the editor's form as a browser would post it (checked boxes included)."""
    data: dict[str, str] = {}
    for tag in re.finditer(r"<(input|select|textarea)\b[^>]*>", page):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(0)))
        name = attrs.get("name")
        if not name or name == "csrf_token":
            continue
        if attrs.get("type") == "checkbox":
            if re.search(r"\bchecked\b", tag.group(0)):
                data[name] = "y"
        elif tag.group(1) == "input":
            data[name] = attrs.get("value", "")
        elif tag.group(1) == "textarea":
            rest = page[tag.end() :]
            data[name] = rest[: rest.index("</textarea>")].strip()
        else:
            block = page[tag.end() : page.index("</select>", tag.end())]
            chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"', block) or re.search(
                r'<option[^>]*value="([^"]*)"[^>]*selected', block
            )
            data[name] = chosen.group(1) if chosen else ""
    data = {k: html.unescape(v) for k, v in data.items()}
    data.update(changes)
    return data


def item(s: int, n: int, label: str, kind: str, **extra: str) -> dict[str, str]:
    prefix = f"sections-{s}-items-{n}-"
    return {f"{prefix}label": label, f"{prefix}type": kind} | {
        prefix + k: v for k, v in extra.items()
    }


def band(n: int, low: str, high: str, label: str, **extra: str) -> dict[str, str]:
    prefix = f"thresholds-{n}-"
    return {f"{prefix}min": low, f"{prefix}max": high, f"{prefix}label": label} | {
        prefix + k: v for k, v in extra.items()
    }


HOME = {
    "key": "domicile",
    "title": "Situation à domicile",
    "description": "À remplir lors de la visite.",
    "sections-0-title": "Entourage",
    **item(0, 0, "Vit seul(e)", "yesno", required="y", scored="y", points_yes="2", points_no="0"),
    **item(
        0,
        1,
        "Présence de l'entourage",
        "choice",
        scored="y",
        options="Quotidienne | 0\nHebdomadaire | 1\nRare ou absente | 3",
    ),
    "sections-1-title": "Mesures",
    **item(1, 0, "Nombre de chutes sur un an", "number", required="y", help="Même sans blessure."),
    **band(0, "0", "2", "Situation stable"),
    **band(
        1, "3", "", "Situation fragile", alert="y", actions="Visite à domicile\nAppeler le médecin"
    ),
}


def grid_count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AssessmentGrid))


def test_creating_a_grid_through_the_form_gives_the_definition(client, auth, db, world):
    auth.login(world.coord)
    assert "Nouvelle grille" in client.get("/grids").get_data(as_text=True)
    blank = client.get("/grids/new").get_data(as_text=True)
    assert 'name="sections-0-items-0-label"' in blank and "<textarea" in blank
    assert 'for="sections-0-items-0-type"' in blank and "Ajouter une section" in blank
    created = auth.post("/grids/new", HOME)
    assert created.status_code == 302
    grid = db.session.scalars(sa.select(AssessmentGrid).filter_by(key="domicile")).one()
    assert grid.draft == {
        "title": "Situation à domicile",
        "description": "À remplir lors de la visite.",
        "sections": [
            {
                "title": "Entourage",
                "items": [
                    {
                        "key": "vit-seul-e",
                        "label": "Vit seul(e)",
                        "type": "yesno",
                        "required": True,
                        "options": [],
                        "points_yes": 2,
                        "points_no": 0,
                    },
                    {
                        "key": "presence-de-l-entourage",
                        "label": "Présence de l'entourage",
                        "type": "choice",
                        "required": False,
                        "options": [
                            {"code": "quotidienne", "label": "Quotidienne", "points": 0},
                            {"code": "hebdomadaire", "label": "Hebdomadaire", "points": 1},
                            {"code": "rare-ou-absente", "label": "Rare ou absente", "points": 3},
                        ],
                        "points_yes": 0,
                        "points_no": 0,
                    },
                ],
            },
            {
                "title": "Mesures",
                "items": [
                    {
                        "key": "nombre-de-chutes-sur-un-an",
                        "label": "Nombre de chutes sur un an",
                        "type": "number",
                        "required": True,
                        "options": [],
                        "points_yes": 0,
                        "points_no": 0,
                        "help": "Même sans blessure.",
                    }
                ],
            },
        ],
        "score_items": ["vit-seul-e", "presence-de-l-entourage"],
        "thresholds": [
            {"label": "Situation stable", "min": 0, "max": 2, "alert": False, "actions": []},
            {
                "label": "Situation fragile",
                "min": 3,
                "max": None,
                "alert": True,
                "actions": ["Visite à domicile", "Appeler le médecin"],
            },
        ],
    }
    sections = present.sections(parse_definition(grid.draft), {})
    assert sections[1][1][0].help == "Même sans blessure."  # shown under the question
    edit = client.get(f"/grids/{grid.id}/edit").get_data(as_text=True)
    assert "Même sans blessure.</textarea>" in edit


def test_editing_a_draft_shows_it_and_saving_unchanged_keeps_keys_and_codes(
    client, auth, db, world
):
    auth.login(world.coord)
    page = client.get(f"/grids/{world.grid.id}/edit").get_data(as_text=True)
    assert "reperage-fragilite" in page  # the stable key, read-only
    assert 'value="Repérage de la fragilité"' in page
    first = FRAILTY_SCREENING["sections"][0]["items"][0]
    assert f'value="{html.escape(first["label"], quote=True)}"' in page.replace(
        "&#39;", "&#x27;"
    ) or (html.escape(first["label"]) in page)
    before = world.grid.draft
    form = page_form(page)
    assert form["thresholds-0-label"] == FRAILTY_SCREENING["thresholds"][0]["label"]
    saved = auth.post(f"/grids/{world.grid.id}/edit", form)
    assert saved.status_code == 302
    db.session.refresh(world.grid)
    # the form loses nothing: same keys, codes, points, thresholds
    assert world.grid.draft == before
    assert (
        parse_definition(before).content_hash()
        == parse_definition(FRAILTY_SCREENING).content_hash()
    )


def test_rows_are_added_and_removed_without_saving(client, auth, db, world):
    auth.login(world.coord)
    page = auth.post("/grids/new", {**HOME, "op": "add-item-1"})
    assert page.status_code == 200 and grid_count(db) == 1
    text = page.get_data(as_text=True)
    assert 'name="sections-1-items-1-label"' in text and "Nombre de chutes sur un an" in text
    form = page_form(text)
    assert form["key"] == "domicile" and form["thresholds-1-actions"].startswith("Visite")
    assert form["sections-0-items-0-scored"] == "y"
    text = auth.post("/grids/new", {**form, "op": "add-section"}).get_data(as_text=True)
    assert 'name="sections-2-title"' in text
    text = auth.post("/grids/new", {**page_form(text), "op": "add-threshold"}).get_data(
        as_text=True
    )
    assert 'name="thresholds-2-label"' in text
    form = page_form(text)
    text = auth.post("/grids/new", {**form, "op": "remove-item-0-0"}).get_data(as_text=True)
    form = page_form(text)
    assert form["sections-0-items-0-label"] == "Présence de l'entourage"
    assert "sections-0-items-1-label" not in form
    form = page_form(
        auth.post("/grids/new", {**form, "op": "remove-threshold-0"}).get_data(as_text=True)
    )
    assert form["thresholds-0-label"] == "Situation fragile"
    form = page_form(
        auth.post("/grids/new", {**form, "op": "remove-section-2"}).get_data(as_text=True)
    )
    assert "sections-2-title" not in form and "thresholds-1-label" in form
    assert grid_count(db) == 1  # still only the fixture's grid
    form.pop("thresholds-1-label")
    form = {k: v for k, v in form.items() if not k.startswith("thresholds-1-")}
    form["sections-1-items-1-label"] = "Aide ménagère"
    saved = auth.post("/grids/new", form)
    assert saved.status_code == 302, re.findall(
        r'class="error"[^>]*>([^<]*)', saved.get_data(as_text=True)
    )
    grid = db.session.scalars(sa.select(AssessmentGrid).filter_by(key="domicile")).one()
    assert grid.draft["score_items"] == ["presence-de-l-entourage"]
    assert [len(s["items"]) for s in grid.draft["sections"]] == [1, 2]


def error_of(text: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', text)
    assert found, f"no error on {field_id}"
    assert f'href="#{field_id}"' in text  # listed in the summary, linked to the input
    return html.unescape(found.group(1))


def test_bad_input_is_refused_on_the_right_field(client, auth, db, world):
    auth.login(world.coord)
    cases = [
        ({"thresholds-1-min": ""}, "thresholds-1-min", "Un seuil a un minimum, un maximum"),
        ({"thresholds-1-min": "2"}, "thresholds-1-min", "se chevauchent"),
        (
            {"sections-0-items-1-options": "Quotidienne | 0\nHebdomadaire"},
            "sections-0-items-1-options",
            "Ligne 2 des options",
        ),
        (
            {"sections-0-items-0-scored": "", "sections-0-items-1-scored": ""},
            "thresholds-0-min",
            "Des seuils sans score",
        ),
        ({"sections-1-items-0-scored": "y"}, "sections-1-items-0-scored", "oui/non ou à choix"),
        ({"sections-0-items-0-points_yes": "deux"}, "sections-0-items-0-points_yes", "entier"),
        ({"sections-0-title": ""}, "sections-0-title", "Le titre de la section est obligatoire"),
        ({"key": "Pas Bonne"}, "key", "minuscules"),
    ]
    for change, field_id, message in cases:
        response = auth.post("/grids/new", {**HOME, **change})
        assert response.status_code == 422, field_id
        text = response.get_data(as_text=True)
        assert message in error_of(text, field_id)
        assert "error-summary" in text and 'value="Situation à domicile"' in text
    assert grid_count(db) == 1


def test_editing_refuses_bad_input_keeping_the_draft(client, auth, db, world):
    auth.login(world.coord)
    form = page_form(client.get(f"/grids/{world.grid.id}/edit").get_data(as_text=True))
    before = dict(world.grid.draft)
    refused = auth.post(f"/grids/{world.grid.id}/edit", {**form, "thresholds-0-max": "99"})
    assert refused.status_code == 422
    assert "se chevauchent" in error_of(refused.get_data(as_text=True), "thresholds-1-min")
    db.session.refresh(world.grid)
    assert world.grid.draft == before


def test_wrong_role_is_refused(client, auth, db, world):
    auth.login(world.nurse)
    assert client.get("/grids/new").status_code == 403
    assert client.get(f"/grids/{world.grid.id}/edit").status_code == 403
    assert auth.post("/grids/new", HOME).status_code == 403
    assert auth.post("/grids/new", {**HOME, "op": "add-section"}).status_code == 403
    assert auth.post(f"/grids/{world.grid.id}/edit", HOME).status_code == 403
    assert grid_count(db) == 1
