"""Templates cannot exhaust the server: sizes, widths, powers and loops are bounded, and each
adversarial template is refused in well under a second with a French reason."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from ptap.core.errors import InvalidInput
from ptap.letters import rendering, services
from ptap.letters.models import LetterTemplateVersion
from ptap.letters.placeholders import SAMPLE
from ptap.letters.services import TemplateData
from tests.letters.conftest import ctx

ADVERSARIAL = [
    '{{ "a" * 100000000 }}',
    "{{ cercle * 100000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ 10 ** 100000 }}",
    "{{ (2 ** 200) * (2 ** 200) * (2 ** 200) }}",
    '{{ "x"|center(100000000) }}',
    '{{ "x\ny"|indent(100000000) }}',
    '{{ "x y z"|wordwrap(1, wrapstring="a" * 50000) }}',
    '{{ "aaaa"|replace("a", "b" * 50000) }}',
    '{{ "x"|format(1) }}',
    '{{ "%*s" % (100000000, "x") }}',
    '{{ "%100000000s" % "x" }}',
    '{{ "{:>100000000}".format("x") }}',
    '{{ "x".ljust(100000000) }}',
    '{{ "\t".expandtabs(100000000) }}',
    '{{ (1).to_bytes(100000000, "big") }}',
    '{{ ["x"]|batch(100000000, "y")|list }}',
    '{{ ["x"]|slice(100000000, "y")|list }}',
    "{{ cercle|tojson(100000000) }}",
    '{% for a in "x" * 50000 %}{% for b in "x" * 50000 %}.{% endfor %}{% endfor %}',
    '{% for a in "x" * 3000 %}{{ "y" * 50000 }}{% endfor %}',
    '{% set a = "x" * 50000 %}{{ a ~ a ~ a ~ a }}',
    '{% set a = "x" * 50000 %}{{ a + a }}',
    '{% set a = "x" * 50000 %}{{ [a, a, a] }}',
    '{% set a = "x" * 50000 %}{{ [a, a, a]|join(a) }}',
    '{% set a = "x" * 50000 %}{{ a.split("")|length }}',
]

REFUSED_AT_SAVE = [
    "{% for a in cercle %}{% for b in cercle %}{% for c in cercle %}.{% endfor %}{% endfor %}"
    "{% endfor %}",
    "{% for a in cercle recursive %}{{ loop(cercle) }}{% endfor %}",
    "{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}",
    "{% block b %}{{ self.b() }}{{ self.b() }}{% endblock %}",
    "{% set x %}{% for a in cercle %}{{ a.nom }}{% endfor %}{% endset %}{{ x }}",
    '{% include "x" %}',
]


def _refused(text: str) -> InvalidInput:
    started = time.monotonic()
    with pytest.raises(InvalidInput) as error:
        services.preview_template(TemplateData("Abus", "Objet", f"Bonjour\n{text}"))
    elapsed = time.monotonic() - started
    assert elapsed < 1, f"{elapsed:.2f} s for {text!r}"
    assert error.value.field == "body"
    return error.value


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_costly_templates_are_refused_quickly_in_french(text):
    message = _refused(text).message
    assert message.startswith(("Le modèle", "La lettre produite")), message


@pytest.mark.parametrize("text", REFUSED_AT_SAVE)
def test_recursion_deep_loops_and_buffering_blocks_are_refused_at_save(db, world, text):
    started = time.monotonic()
    with pytest.raises(InvalidInput) as error:
        services.create_template(
            world.coord, world.team, TemplateData("Abus", "", f"Bonjour\n{text}"), ctx(world.coord)
        )
    assert time.monotonic() - started < 1
    assert error.value.field == "body"
    assert error.value.message.startswith("Erreur de syntaxe à la ligne 2 :"), error.value.message
    assert not db.session.new
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterTemplateVersion)) == 1


def test_two_nested_loops_and_the_usual_filters_still_work():
    text = (
        "{% for o in plan.objectifs %}{{ o.intitule|upper }} :"
        "{% for a in o.actions %} {{ a.quoi|lower }} ({{ loop.index }}){% endfor %}{{ '\n' }}"
        "{% endfor %}"
        "{{ cercle|map(attribute='nom')|join(', ') }} · {{ patient.nom|center(12)|trim }}"
        " · {{ patient.prenoms.split(' ')|first }} · {{ '%d' if false else 3 * 4 }}"
        " · {{ 'abc' ~ patient.nom }} · {{ (2 ** 10) }} · {{ 7 % 3 }}"
        "{{ '\n' + patient.adresse|indent(2) }}"
    )
    out = rendering.render_text(text, SAMPLE, "body")
    assert out.startswith("RESTER À DOMICILE EN SÉCURITÉ : installer une téléassistance (1)\n")
    assert "Claire Petit, Marc Roux · DUPONT · Jeanne · 12 · abcDUPONT · 1024 · 1" in out


def test_the_template_preview_page_refuses_a_costly_template_quickly(client, auth, db, world):
    auth.login(world.coord)
    started = time.monotonic()
    response = auth.post(
        f"/letter-templates/{world.template.id}",
        {
            "name": "Abus",
            "subject": "Objet",
            "body": '{% for a in "x" * 50000 %}{% for b in "x" * 50000 %}.{% endfor %}{% endfor %}',
            "action": "preview",
        },
    )
    assert time.monotonic() - started < 1
    assert "Le modèle demande trop de calculs" in response.get_data(as_text=True)
