"""Form actions: run one service call and own the transaction (as Indico's request handler).

The HTML views used to repeat "try the service / on a domain error roll back and show it /
else commit, flash, redirect". `run_action` is that block, once:

- the service runs (it flushes, never commits: STYLE.md);
- on success the session is committed exactly once (after-commit hooks then fire as usual)
  and an optional French confirmation is flashed;
- on one of the `catch` domain errors the session is rolled back and the error is handed
  back in the `Outcome`, for the view to show (on the form, as a flash, in a page part);
- any other exception (a domain error not in `catch`, a bug) rolls back and propagates to
  the application's error handlers, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import flash

from ptap.core.errors import DomainError

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a form action gave: the service's value, or the domain error it was refused with."""

    result: T | None = None
    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def value(self) -> T:
        """The service's return value (only after a success)."""
        if self.error is not None:
            raise RuntimeError("a refused action has no value") from self.error
        return self.result  # type: ignore[return-value]

    @property
    def failure(self) -> DomainError:
        """The refusal (only after a failure)."""
        if self.error is None:
            raise RuntimeError("the action succeeded")
        return self.error


def run_action(
    action: Callable[[], T],
    *,
    catch: tuple[type[DomainError], ...] = (DomainError,),
    success: str | None = None,
    category: str = "success",
) -> Outcome[T]:
    """Run `action`, commit once on success (flashing `success`), roll back on `catch`."""
    from ptap.extensions import db

    try:
        value = action()
    except catch as error:
        db.session.rollback()
        return Outcome(error=error)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    if success is not None:
        flash(success, category)
    return Outcome(result=value)
