"""The error tree of Atoma.

Every error Atoma raises on purpose is an :class:`AtomaError`; each carries the
context a caller needs to react (resource, entity id, wire code) as attributes::

    AtomaError
     ├── SchemaError        a schema declaration is inconsistent (raised at construction)
     ├── ValidationError    input (a value, a query, a wire message) is not what was expected
     ├── NotFound           an entity that must exist does not
     ├── ClientClosed       the client was used after close() (or before start())
     ├── ClientLocked       another process holds the sync lock of this database
     ├── HistoryConflict    nothing of an undo/redo step could be applied (others changed it all)
     └── SyncError          the server or the transport answered with an error
          ├── ConflictError the server's version moved (carries the server's current value)
          └── RejectedError the server refused a write for good (non-retryable)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AtomaError",
    "SchemaError",
    "ValidationError",
    "NotFound",
    "ClientClosed",
    "ClientLocked",
    "HistoryConflict",
    "SyncError",
    "ConflictError",
    "RejectedError",
]


class AtomaError(Exception):
    """Base of every error Atoma raises on purpose.

    Attributes are ``None`` when they do not apply: ``resource`` (resource name),
    ``entity_id``, ``code`` (a wire error code such as ``"VALIDATION"``) and
    ``details`` (a dict with extra context).
    """

    default_code = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        entity_id: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.entity_id = entity_id
        self.code = code or self.default_code
        self.details = details


class SchemaError(AtomaError):
    """A schema names an unknown field, relation target or key, or is otherwise inconsistent."""

    default_code = "SCHEMA"


class ValidationError(AtomaError):
    """Input was not what was expected: the message says what was wrong and what was expected.

    ``path`` names the offending location (``"where.title.contains"``, ``"$.ops[0].kind"``).
    """

    default_code = "VALIDATION"

    def __init__(self, message: str, *, path: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.path = path


class NotFound(AtomaError):
    """An entity that the operation needs does not exist."""

    default_code = "NOT_FOUND"


class ClientClosed(AtomaError):
    """The client is closed (or was never started) and cannot serve this call."""

    default_code = "CLIENT_CLOSED"


class ClientLocked(AtomaError):
    """Another process holds the sync lock of this database file."""

    default_code = "CLIENT_LOCKED"


class HistoryConflict(AtomaError):
    """Undo or redo could apply nothing: every change of the step was overtaken by later edits.

    ``skipped`` lists what was skipped and why; the step stays where it was.
    """

    default_code = "HISTORY_CONFLICT"

    def __init__(self, message: str, *, skipped: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.skipped = skipped or []


class SyncError(AtomaError):
    """The server or the transport answered with an error. ``retryable`` says if trying again may help."""

    default_code = "SYNC"

    def __init__(self, message: str, *, retryable: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retryable = retryable


class ConflictError(SyncError):
    """The server's version of the entity moved; ``current_value``/``current_version`` hold it."""

    default_code = "CONFLICT"

    def __init__(
        self,
        message: str,
        *,
        current_value: dict[str, Any] | None = None,
        current_version: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.current_value = current_value
        self.current_version = current_version


class RejectedError(SyncError):
    """The server refused a write for good; the intent is kept as ``rejected``."""

    default_code = "REJECTED"
