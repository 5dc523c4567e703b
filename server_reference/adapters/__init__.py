"""Storage backends of the reference server: one interface (:mod:`.base`), SQLite and PostgreSQL."""

from __future__ import annotations

from .base import Adapter, AdapterError, WriteBatch, WriteOutcome

__all__ = ["Adapter", "AdapterError", "WriteBatch", "WriteOutcome"]
