"""Parsing the where / order_by text boxes of the Stores panel and the query lab."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["parse_where", "parse_order"]


def parse_where(text: str) -> dict[str, Any] | None:
    """``{"done": false, "title": {"contains": "milk"}}`` (JSON); empty means no filter."""
    text = text.strip()
    if not text:
        return None
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"where: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError("where: expected a JSON object, e.g. {\"done\": false}")
    return value


def parse_order(text: str) -> list[tuple[str, str]] | None:
    """``title asc, priority desc`` or JSON ``[["title", "asc"]]``; empty means default order."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise ValueError(f"order by: not valid JSON ({exc})") from None
        if not isinstance(value, list):
            raise ValueError("order by: expected a list of [field, direction]")
        return [tuple(v) if isinstance(v, list) else v for v in value]  # type: ignore[misc]
    out = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ValueError(f"order by: {part.strip()!r} is not 'field [asc|desc]'")
        out.append((words[0], words[1].lower() if len(words) == 2 else "asc"))
    return out or None
