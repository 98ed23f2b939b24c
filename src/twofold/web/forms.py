"""Forms: run the service a form calls and, when it refuses, what the page shows again.

The service has already undone its work (it owns its transaction, decision 0001), so the
page only re-renders its form with the words and status of web/errors.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from twofold.core.errors import TwofoldError
from twofold.services.runtime import Runtime
from twofold.web.errors import field_of, message_for, status_for

T = TypeVar("T")


@dataclass(frozen=True)
class Refused:
    """A form's service call ended in a domain error: show `message` with `status`."""

    error: TwofoldError
    message: str
    status: int
    field: str | None

    def field_errors(self, default: str, rename: Mapping[str, str] | None = None) -> dict[str, str]:
        """The message under its form field: `default` when the error names none; `rename`
        maps a service's field name to the form's (e.g. new_password -> password)."""
        field = self.field or default
        return {(rename or {}).get(field, field): self.message}


def submit(
    runtime: Runtime,
    call: Callable[[], T],
    *,
    passing: tuple[type[TwofoldError], ...] = (),
) -> T | Refused:
    """Run `call`; its result, or Refused for the page to re-render its form with. Errors
    of the `passing` kinds go on to the app's error pages (a refused admin action is a 403
    page, not a form error)."""
    try:
        return call()
    except passing:
        raise
    except TwofoldError as exc:
        return Refused(exc, message_for(exc, runtime.now()), status_for(exc), field_of(exc))
