"""Domain errors.

Why a ``code`` and ``params``: the bot speaks Chinese, Tibetan and English; it maps ``code`` to a localized
text and fills it with ``params``. The English ``message`` is for logs and the CLI only.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose (the bot shows these; anything else is a bug)."""

    default_code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.params: dict[str, Any] = dict(params or {})

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{type(self).__name__}(code={self.code!r}, params={self.params!r}, message={self.message!r})"


class InvalidTransition(DomainError):
    """The action does not apply in the case's current state (e.g. accepting a closed case)."""

    default_code = "invalid_transition"


class NotPermitted(DomainError):
    """The person may not do this to this case (button data is never trusted)."""

    default_code = "not_permitted"


class NotFound(DomainError):
    default_code = "not_found"


class ConcurrentUpdate(DomainError):
    """Someone else changed the case between our read and our write; the caller should show the new state."""

    default_code = "concurrent_update"


class ValidationError(DomainError):
    """Bad input: empty report, missing reason, unknown urgency, ..."""

    default_code = "validation_error"


class RoutingError(DomainError):
    """Nobody in the org tree can own the case (not even the county commander)."""

    default_code = "routing_failed"
