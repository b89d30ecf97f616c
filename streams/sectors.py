"""The sectors records are shared with: Japan's critical-infrastructure sectors plus 'other'.

`ALL` is the audience of a record submitted without a sector: every member may read it.
"""
from __future__ import annotations

SECTORS: tuple[str, ...] = (
    "ict",
    "finance",
    "aviation",
    "airports",
    "railways",
    "electricity",
    "gas",
    "government",
    "healthcare",
    "water",
    "logistics",
    "chemicals",
    "credit",
    "petroleum",
    "ports",
    "other",
)
ALL = "all"

_ALIASES = {
    "information-communication": "ict",
    "telecom": "ict",
    "financial": "finance",
    "banking": "finance",
    "local-government": "government",
    "medical": "healthcare",
    "energy": "electricity",
    "power": "electricity",
    "airport": "airports",
    "railway": "railways",
    "port": "ports",
}


def canonical_sector(name: str) -> str | None:
    """A sector name or common alias -> its canonical name; None when unknown."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    return key if key in SECTORS else None
