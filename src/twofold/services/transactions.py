"""Who commits (decision 0001): the service use case a page, the CLI or the API calls.

`use_case` marks such an entry point. It commits when the use case returns; when it raises
a domain error, what it wrote and did not commit is rolled back (a read-only transaction is
just ended, so that loaded objects stay usable for the page that shows the error). A use
case called inside another one joins the outer transaction, so a building block such as
`users.create_user` is atomic with the sign-up or invitation that calls it.

A use case may still commit on its own part-way, where a trace must survive the error it
raises next (a counted wrong code, a refused admin action).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from twofold.core.errors import TwofoldError
from twofold.store.db import end_reading, has_written

P = ParamSpec("P")
T = TypeVar("T")

_RUNNING = "twofold_use_case"


def use_case(
    function: Callable[Concatenate[Session, P], T],
) -> Callable[Concatenate[Session, P], T]:
    """Make `function(db, …)` own its transaction (see the module's docstring)."""

    @functools.wraps(function)
    def run(db: Session, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if db.info.get(_RUNNING):
            return function(db, *args, **kwargs)  # part of the caller's use case
        db.info[_RUNNING] = True
        try:
            result = function(db, *args, **kwargs)
        except TwofoldError:
            undo(db)
            raise
        finally:
            db.info.pop(_RUNNING, None)
        db.commit()
        return result

    return run


def undo(db: Session) -> None:
    """After a domain error: roll back what was written and not committed; end a
    transaction that only read. Any other error is left to the session's owner, whose
    closing rolls back (web.deps.get_db, the CLI's open_runtime)."""
    if has_written(db):
        db.rollback()
    else:
        end_reading(db)
