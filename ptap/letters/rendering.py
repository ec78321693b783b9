"""Letter templates rendered in Jinja's immutable sandbox over plain data, never the application.

A template sees only the dicts, lists and strings of its context (``placeholders.py``): no
ORM object, no function of ours, no Flask global. The sandbox refuses attributes starting with
an underscore and the internals of functions and classes (``''.__class__.__mro__`` and the
like), and the immutable variant refuses methods that modify lists and dicts. Output is plain
text (autoescape off: HTML pages and the PDF escape it when they show it). Undefined
placeholders are errors, never silently empty.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ptap.core.errors import InvalidInput

#: Longest template text and longest rendered letter (characters).
MAX_TEMPLATE_CHARS = 20_000
MAX_OUTPUT_CHARS = 60_000
_TEMPLATE_NAME = "<modèle>"
#: The file name Jinja gives a template made with from_string (in rewritten tracebacks).
_STRING_TEMPLATE = "<template>"
_UNDEFINED = re.compile(r"has no attribute '([^']*)'|^'([^']*)' is undefined")


class TemplateTooCostly(Exception):
    """A template asked for more work or text than a letter may need (French message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


TOO_LONG = f"un texte de plus de {MAX_OUTPUT_CHARS} caractères serait produit"
#: Most iterations of all ``for`` loops in one rendering.
MAX_ITERATIONS = 5_000
#: Deepest nesting of ``for`` loops a template may have.
MAX_LOOP_DEPTH = 2
#: Most seconds of CPU one rendering may use (a backstop: the caps above come first). CPU time
#: of the rendering thread, not wall time: a busy machine pausing the thread is no cost of the
#: template's (a one-line template was refused under a loaded CI).
MAX_SECONDS = 0.5
#: Largest width, indentation or count a filter may be given.
MAX_WIDTH = 200
#: Largest integer (in bits) a computation may produce.
MAX_INT_BITS = 256

#: Template constructs letters do not need and that could recurse or buffer without bound.
_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Macro: "les macros",
    nodes.CallBlock: "les blocs call",
    nodes.Block: "les blocs",
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.AssignBlock: "les blocs set",
    nodes.FilterBlock: "les blocs filter",
}

#: The methods a template may call on plain data (none builds text of a chosen size).
_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            *("upper", "lower", "title", "capitalize", "casefold", "swapcase"),
            *("strip", "lstrip", "rstrip", "split", "rsplit", "splitlines"),
            *("startswith", "endswith", "count", "find", "rfind", "partition", "rpartition"),
            *("isdigit", "isalpha", "isalnum", "isupper", "islower", "isspace", "istitle"),
            *("removeprefix", "removesuffix"),
        }
    ),
    dict: frozenset({"items", "keys", "values", "get"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
}


@dataclass
class _Budget:
    iterations: int = 0
    output: int = 0
    deadline: float = field(default_factory=lambda: time.thread_time() + MAX_SECONDS)

    def tick(self, iterations: int = 0) -> None:
        self.iterations += iterations
        if self.iterations > MAX_ITERATIONS:
            raise TemplateTooCostly(
                f"les boucles dépassent {MAX_ITERATIONS} tours au total (boucles imbriquées "
                "sur des listes trop longues)"
            )
        if time.thread_time() > self.deadline:
            raise TemplateTooCostly("le remplissage prend trop de temps")


_BUDGET: ContextVar[_Budget | None] = ContextVar("letter_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # rendered outside render_text (compile-time constants): fresh limits
        budget = _Budget()
    return budget


def _size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Characters (and items) a value would print as, counted up to just over ``limit``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateTooCostly("un nombre trop grand est calculé")
        return 1
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        total = len(value)
        for item in value:
            if total > limit:
                break
            total += _size(item, limit - total)
        return total
    return 1


def _check_size(value: Any) -> Any:
    if _size(value) > MAX_OUTPUT_CHARS:
        raise TemplateTooCostly(TOO_LONG)
    return value


def _check_width(value: Any, what: str) -> None:
    if isinstance(value, str):
        value = len(value)
    if isinstance(value, int) and not 0 <= value <= MAX_WIDTH:
        raise TemplateTooCostly(f"{what} doit être entre 0 et {MAX_WIDTH}")


def _materialised(value: Any) -> Any:
    """A lazy sequence (``map``, ``select``...) as a list, so that its size can be checked."""
    if not isinstance(value, Iterator):
        return value
    items = list(itertools.islice(value, MAX_OUTPUT_CHARS + 1))
    if len(items) > MAX_OUTPUT_CHARS:
        raise TemplateTooCostly(TOO_LONG)
    return items


def _guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a builtin filter: sizes of its arguments and result checked, widths capped."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        args = tuple(_materialised(a) for a in args)
        plain = [a for a in args if not isinstance(a, (Environment, EvalContext, Context))]
        for arg in (*plain, *kwargs.values()):
            _check_size(arg)
        value = plain[0] if plain else None
        extra = plain[1:]
        if name in ("center", "indent", "batch", "slice"):
            _check_width(extra[0] if extra else kwargs.get("width", 0), "la largeur")
            _check_width(kwargs.get("linecount", 0), "le nombre de lignes")
            _check_width(kwargs.get("slices", 0), "le nombre de parts")
        elif name == "tojson":
            _check_width(extra[0] if extra else kwargs.get("indent", 0), "l'indentation")
        elif name == "wordwrap":
            width = extra[0] if extra else kwargs.get("width", 79)
            wrap = extra[2] if len(extra) > 2 else kwargs.get("wrapstring") or "\n"
            if not isinstance(width, int) or width < 1:
                raise TemplateTooCostly("la largeur doit être un nombre positif")
            text = _size(value)
            if text + (text // width + 1) * _size(wrap) > MAX_OUTPUT_CHARS:
                raise TemplateTooCostly(TOO_LONG)
        elif name == "replace" and isinstance(value, str) and len(extra) >= 2:
            old, new = str(extra[0]), str(extra[1])
            hits = value.count(old) if old else len(value) + 1
            if len(value) + hits * max(0, len(new) - len(old)) > MAX_OUTPUT_CHARS:
                raise TemplateTooCostly(TOO_LONG)
        elif name == "join" and value is not None:
            sep = extra[0] if extra else kwargs.get("d", "")
            items = list(value)
            if _size(items) + len(items) * _size(sep) > MAX_OUTPUT_CHARS:
                raise TemplateTooCostly(TOO_LONG)
        return _check_size(func(*args, **kwargs))

    return wrapper


def _refused_filter(name: str) -> Callable[..., Any]:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise TemplateTooCostly(f"le filtre « {name} » n'est pas permis dans un modèle de lettre")

    return refused


class LetterSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every way of making work or text out of nothing bounded.

    Operators ``*``, ``**``, ``%`` and ``+`` are intercepted (sizes checked before they run),
    ``~`` concatenations and printed values are measured, builtin filters are wrapped (widths
    and counts capped, ``format`` refused), only harmless methods of plain data are callable,
    every ``for`` loop draws from one iteration budget per rendering, and constructs that
    recurse or buffer (macros, blocks, recursive loops, set blocks...) are refused at parse.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+", "//", "/"})

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=self._finalize_value,
        )
        self.globals.clear()  # no range, dict, lipsum, cycler, joiner, namespace
        for name, func in list(self.filters.items()):
            self.filters[name] = (
                _refused_filter(name) if name == "format" else _guarded_filter(name, func)
            )

    @staticmethod
    def _finalize_value(value: Any) -> Any:
        return _check_size(value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        for operand in (left, right):
            _size(operand)  # refuses integers already too large
        if operator == "%" and isinstance(left, str):
            raise TemplateTooCostly("le formatage « % » n'est pas permis dans un modèle de lettre")
        if operator == "**":
            if isinstance(right, int) and isinstance(left, int):
                if right > MAX_INT_BITS or left.bit_length() * max(right, 0) > MAX_INT_BITS:
                    raise TemplateTooCostly("un nombre trop grand est calculé")
            elif not (isinstance(left, float) or isinstance(right, float)):
                raise TemplateTooCostly("une puissance non numérique est demandée")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sequence = isinstance(seq, (str, list, tuple)) and isinstance(times, int)
                if sequence and _size(seq) * max(times, 0) > MAX_OUTPUT_CHARS:
                    raise TemplateTooCostly(TOO_LONG)
        if operator == "+" and not isinstance(left, (int, float)):
            _check_size([left, right])
        result = super().call_binop(context, operator, left, right)
        _size(result)  # an integer product too large is refused
        return result

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value):
            return True
        if isinstance(obj, LoopContext):
            return attr in ("cycle", "changed")
        for kind, names in _SAFE_METHODS.items():
            if isinstance(obj, kind):
                return attr in names
        return False

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _budget().tick()
        for arg in (*args, *kwargs.values()):
            _check_size(arg)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def guard_loop(self, iterable: Any) -> Iterator[Any]:
        """Draw each iteration of a ``for`` loop from the rendering's budget."""
        budget = _budget()
        _check_size(iterable) if isinstance(iterable, (list, tuple, dict, str)) else None
        for item in iterable:
            budget.tick(1)
            yield item

    def guard_concat(self, parts: list[Any]) -> str:
        """Join the operands of ``~`` once their total size is known to be acceptable."""
        _budget().tick()
        _check_size(parts)
        return "".join(str(part) for part in parts)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _check_structure(tree)
        for loop in tree.find_all(nodes.For):
            loop.iter = self._wrap("guard_loop", loop.iter, loop.lineno)
        for concat in tree.find_all(nodes.Concat):
            concat.nodes = [self._wrap("guard_concat", nodes.List(concat.nodes), concat.lineno)]
        return tree

    def _wrap(self, method: str, arg: nodes.Node, lineno: int) -> nodes.Expr:
        call = nodes.Call(nodes.EnvironmentAttribute(method), [arg], [], None, None)
        call.set_lineno(lineno)
        call.set_environment(self)
        return call


def _check_structure(tree: nodes.Template) -> None:
    """Refuse constructs letters do not need, recursive loops and loops nested too deep."""
    for kind, what in _FORBIDDEN_NODES.items():
        for node in tree.find_all(kind):
            raise TemplateSyntaxError(
                f"{what} ne sont pas permis dans un modèle de lettre", node.lineno
            )

    def depth(node: nodes.Node, level: int) -> None:
        for child in node.iter_child_nodes():
            inner = level
            if isinstance(child, nodes.For):
                if child.recursive:
                    raise TemplateSyntaxError(
                        "les boucles récursives ne sont pas permises", child.lineno
                    )
                inner = level + 1
                if inner > MAX_LOOP_DEPTH:
                    raise TemplateSyntaxError(
                        f"pas plus de {MAX_LOOP_DEPTH} boucles « for » imbriquées",
                        child.lineno,
                    )
            depth(child, inner)

    depth(tree, 0)


def _environment() -> LetterSandbox:
    return LetterSandbox()


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
    token = _BUDGET.set(_Budget())
    try:
        chunks: list[str] = []
        produced = 0
        for chunk in _ENV.from_string(text).generate(dict(context)):
            produced += len(chunk)
            if produced > MAX_OUTPUT_CHARS:
                raise InvalidInput(
                    f"La lettre produite est trop longue ({MAX_OUTPUT_CHARS} caractères au "
                    "maximum).",
                    field=field,
                )
            chunks.append(chunk)
        result = "".join(chunks)
    except TemplateTooCostly as exc:
        raise InvalidInput(
            f"Le modèle demande trop de calculs{_at_line(_line_of(exc))} : {exc.message}.",
            field=field,
        ) from None
    except RecursionError:
        raise InvalidInput("Le modèle s'appelle lui-même sans fin.", field=field) from None
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
    finally:
        _BUDGET.reset(token)
    return result
