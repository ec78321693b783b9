"""Templates: sandbox, syntax errors with their line, unknown fields, versions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ptap.core.errors import InvalidInput, PermissionDenied
from ptap.letters import rendering, services
from ptap.letters.models import LetterTemplate, LetterTemplateVersion
from ptap.letters.placeholders import SAMPLE
from ptap.letters.services import TemplateData
from tests.letters.conftest import ctx

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ patient.__class__ }}",
    "{{ patient.nom.__class__.__base__ }}",
    "{{ patient.items.__self__ }}",
    "{{ cercle.append(1) }}",
    "{{ patient.update({'nom': 'x'}) }}",
    "{{ ''.format.__globals__ }}",
    "{{ range(10) }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ config }}",
    "{{ self.__init__.__globals__ }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    "{{ ''|attr('__class__') }}",
    "{{ (patient|attr('__class__')).__name__ }}",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_sandbox_escapes_are_refused_and_nothing_is_stored(db, world, text):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(LetterTemplateVersion))
    with pytest.raises(InvalidInput) as error:
        services.create_template(
            world.coord,
            world.team,
            TemplateData("Évasion", "", f"Bonjour\n{text}"),
            ctx(world.coord),
        )
    assert error.value.field == "body"
    # Checked before any rollback: the refusal came before anything was added to the session.
    assert not db.session.new
    after = db.session.scalar(sa.select(sa.func.count()).select_from(LetterTemplateVersion))
    assert after == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterTemplate)) == 1


@pytest.mark.parametrize("text", ESCAPES)
def test_the_renderer_never_reaches_python_internals(text):
    with pytest.raises(InvalidInput):
        rendering.render_text(text, SAMPLE, "body")


def test_a_syntax_error_names_its_line_and_stores_nothing(db, world):
    body = "Bonjour,\n\n{% if plan.existe %}\nPlan en vigueur\n"
    with pytest.raises(InvalidInput) as error:
        services.create_template(
            world.coord, world.team, TemplateData("Cassé", "", body), ctx(world.coord)
        )
    assert error.value.field == "body"
    assert "ligne 5" in error.value.message or "ligne 4" in error.value.message
    assert not db.session.new  # no rollback: the refusal came before anything was added
    names = db.session.scalars(sa.select(LetterTemplate.name)).all()
    assert names == ["Adressage"]
    with pytest.raises(InvalidInput) as error:
        rendering.check_syntax("Ligne 1\nLigne 2 {% endfor %}\nLigne 3", "body")
    assert error.value.message.startswith("Erreur de syntaxe à la ligne 2 :")


def test_unknown_placeholders_are_named(db, world):
    with pytest.raises(InvalidInput) as error:
        services.create_template(
            world.coord,
            world.team,
            TemplateData("Faute", "", "Bonjour {{ patiant.nom }}"),
            ctx(world.coord),
        )
    assert "patiant" in error.value.message and "patient" in error.value.message
    with pytest.raises(InvalidInput) as error:
        services.create_template(
            world.coord,
            world.team,
            TemplateData("Faute", "", "Ligne\nBonjour {{ patient.surnom }}"),
            ctx(world.coord),
        )
    assert "surnom" in error.value.message and "ligne 2" in error.value.message


def test_editing_a_template_makes_a_new_version_letters_keep_theirs(db, world):
    letter = services.create_letter(
        world.physician, world.patient, world.template, "Dr Martin", ctx(world.physician)
    )
    first = letter.template_version_id
    same = services.update_template(
        world.coord,
        world.template,
        TemplateData(
            "Adressage",
            "Adressage de {{ patient.nom }}",
            services.current_version(world.template).body,
        ),
        ctx(world.coord),
    )
    assert same.number == 1
    new = services.update_template(
        world.coord,
        world.template,
        TemplateData("Adressage (v2)", "Objet", "Nouveau texte pour {{ patient.nom }}"),
        ctx(world.coord),
    )
    assert new.number == 2 and world.template.current_number == 2
    assert world.template.name == "Adressage (v2)"
    assert letter.template_version_id == first
    later = services.create_letter(
        world.physician, world.patient, world.template, "", ctx(world.physician)
    )
    assert later.template_version_id == new.id
    assert later.body.startswith("Nouveau texte pour NOMTEST")


def test_only_the_teams_coordinators_manage_templates(db, world):
    for user in (world.physician, world.outsider):
        with pytest.raises(PermissionDenied):
            services.create_template(user, world.team, TemplateData("X", "", "Bonjour"), ctx(user))
        with pytest.raises(PermissionDenied):
            services.update_template(
                user, world.template, TemplateData("X", "", "Bonjour"), ctx(user)
            )


def test_preview_fills_the_sample_record():
    subject, body = services.preview_template(
        TemplateData("P", "Pour {{ patient.nom }}", "{{ plan.objectifs[0].intitule }}")
    )
    assert subject == "Pour DUPONT" and body == "Rester à domicile en sécurité"
