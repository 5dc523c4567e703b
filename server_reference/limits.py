"""Request limits: conservative defaults, and the checks that turn an excess into LIMIT_EXCEEDED.

Limits are never applied silently: a request over a limit fails with ``LIMIT_EXCEEDED`` and
``details == {"max": ..., "actual": ...}``; nothing is truncated.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoma.errors import AtomaError
from atoma.protocol import LIMIT_EXCEEDED

__all__ = ["Limits", "LimitExceeded", "check"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a server enforces (all counts are inclusive maxima).

    ``default_query_limit`` / ``default_pull_limit`` are the page sizes used when an op gives
    no ``limit``; ``max_query_limit`` / ``max_pull_limit`` cap what an op may ask for.
    """

    max_body_bytes: int = 1_048_576
    max_ops: int = 50
    max_items_per_write: int = 500
    max_query_limit: int = 1_000
    default_query_limit: int = 100
    max_pull_limit: int = 1_000
    default_pull_limit: int = 500
    max_subscribe_resources: int = 100

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if self.default_query_limit > self.max_query_limit:
            raise ValueError("Limits.default_query_limit exceeds max_query_limit")
        if self.default_pull_limit > self.max_pull_limit:
            raise ValueError("Limits.default_pull_limit exceeds max_pull_limit")


class LimitExceeded(AtomaError):
    """A limit was exceeded; ``details`` is ``{"max": ..., "actual": ...}``."""

    default_code = LIMIT_EXCEEDED


def check(what: str, actual: int, maximum: int) -> None:
    """Raise :class:`LimitExceeded` naming ``what`` when ``actual`` is above ``maximum``."""
    if actual > maximum:
        raise LimitExceeded(
            f"{what} may be at most {maximum}; got {actual}",
            details={"max": maximum, "actual": actual},
        )
