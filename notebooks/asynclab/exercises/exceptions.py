"""The verdicts a judge can end a check with, and the statuses a ``Result`` can have.

A leaf module (it imports nothing from the package), so that ``core.py`` (which turns a verdict
into a ``Result``) and ``trial.py`` (which raises them) both depend on it instead of on each other.

``Verdict`` is the base class: "the check is over, and this is why". It is never raised itself;
each subclass carries its own ``status``:

- ``Failure``: the answer is wrong (status ``"failed"``);
- ``NotAnswered``: there is nothing to judge yet, e.g. the stub is still there (``"not answered"``).
"""

from __future__ import annotations

from typing import Any, ClassVar

PASSED, FAILED, NOT_ANSWERED, ERROR = "passed", "failed", "not answered", "error"
STATUSES = (PASSED, FAILED, NOT_ANSWERED, ERROR)


class Verdict(Exception):
    """Ends a check with a verdict; raise a subclass (judges use ``trial.fail`` rather than raising)."""

    status: ClassVar[str]

    def __init__(self, message: str, *, timelines: tuple[Any, Any] | None = None):
        if type(self) is Verdict:
            raise TypeError("Verdict is abstract: raise Failure or NotAnswered")
        super().__init__(message)
        self.message = message
        self.timelines = timelines  # (learner's, reference) when the problem is about timing


class Failure(Verdict):
    """The answer is wrong; ``message`` says why, in the learner's terms."""

    status = FAILED


class NotAnswered(Verdict):
    """There is no answer to judge yet (not defined, or still the stub)."""

    status = NOT_ANSWERED
