"""Letter templates rendered in Jinja's immutable sandbox over plain data, never the application.

A template sees only the dicts, lists and strings of its context (``placeholders.py``): no
ORM object, no function of ours, no Flask global. The sandbox refuses attributes starting with
an underscore and the internals of functions and classes (``''.__class__.__mro__`` and the
like), and the immutable variant refuses methods that modify lists and dicts. Output is plain
text (autoescape off: HTML pages and the PDF escape it when they show it). Undefined
placeholders are errors, never silently empty.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ptap.core.errors import InvalidInput

#: Longest template text and longest rendered letter (characters).
MAX_TEMPLATE_CHARS = 20_000
MAX_OUTPUT_CHARS = 60_000
_TEMPLATE_NAME = "<modèle>"
#: The file name Jinja gives a template made with from_string (in rewritten tracebacks).
_STRING_TEMPLATE = "<template>"
_UNDEFINED = re.compile(r"has no attribute '([^']*)'|^'([^']*)' is undefined")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.clear()  # no range, dict, lipsum, cycler, joiner, namespace
    return env


_ENV = _environment()


def _line_of(exc: BaseException) -> int | None:
    """Find the template line an error was raised at (Jinja rewrites tracebacks to it)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in (_TEMPLATE_NAME, _STRING_TEMPLATE):
            return frame.lineno
    return getattr(exc, "lineno", None)


def _at_line(line: int | None) -> str:
    return f" (ligne {line})" if line else ""


def check_syntax(text: str, field: str) -> set[str]:
    """Parse a template; return its top-level placeholders or raise InvalidInput naming the line."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"Texte trop long ({MAX_TEMPLATE_CHARS} caractères).", field=field)
    try:
        parsed = _ENV.parse(text, name=_TEMPLATE_NAME)
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            f"Erreur de syntaxe à la ligne {exc.lineno} : {exc.message}", field=field
        ) from None
    return set(meta.find_undeclared_variables(parsed))


def check_placeholders(names: set[str], known: set[str], field: str) -> None:
    """Refuse placeholders that the patient record does not provide."""
    unknown = sorted(names - known)
    if unknown:
        raise InvalidInput(
            "Champ inconnu dans le modèle : "
            + ", ".join(unknown)
            + ". Champs disponibles : "
            + ", ".join(sorted(known))
            + ".",
            field=field,
        )


def render_text(text: str, context: Mapping[str, Any], field: str) -> str:
    """Render a template text in the sandbox; raise InvalidInput with a French reason."""
    check_syntax(text, field)
    try:
        result = _ENV.from_string(text).render(dict(context))
    except SecurityError:
        raise InvalidInput(
            "Le modèle tente un accès interdit (seuls les champs du dossier sont permis).",
            field=field,
        ) from None
    except UndefinedError as exc:
        found = _UNDEFINED.search(exc.message or "")
        name = next((g for g in found.groups() if g), "") if found else (exc.message or "")
        raise InvalidInput(
            f"Champ inconnu dans le modèle{_at_line(_line_of(exc))} : {name}", field=field
        ) from None
    except TemplateError as exc:
        raise InvalidInput(
            f"Le modèle ne peut pas être rempli{_at_line(_line_of(exc))} : {exc.message}",
            field=field,
        ) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, OverflowError) as exc:
        raise InvalidInput(
            f"Le modèle ne peut pas être rempli{_at_line(_line_of(exc))} : {exc}", field=field
        ) from None
    if len(result) > MAX_OUTPUT_CHARS:
        raise InvalidInput(
            f"La lettre produite est trop longue ({MAX_OUTPUT_CHARS} caractères).", field=field
        )
    return result
