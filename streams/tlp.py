"""TLP 2.0 levels, their order, and every way a level arrives on input.

The one place that knows TLP. A missing or unknown level is never guessed
upward: callers get None and reject.
"""
from __future__ import annotations

from enum import IntEnum


class TLP(IntEnum):
    """Levels in order of restriction: a higher value is a narrower audience."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def slug(self) -> str:
        """Name as used in topic names and records: clear, green, amber, amber-strict, red."""
        return _SLUGS[self]

    @property
    def label(self) -> str:
        return "TLP:" + self.name.replace("_", "+")

    @property
    def marking_id(self) -> str:
        return MARKING_IDS_V2[self]

    @classmethod
    def from_slug(cls, slug: str) -> "TLP":
        return _BY_SLUG[slug]


_SLUGS: dict[TLP, str] = {level: level.name.lower().replace("_", "-") for level in TLP}

MARKING_IDS_V2: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

# TLP 1.0 ids as shipped by the stix2 library; WHITE is CLEAR in TLP 2.0.
MARKING_IDS_V1: dict[str, TLP] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
}

_BY_MARKING_ID: dict[str, TLP] = {**MARKING_IDS_V1, **{v: k for k, v in MARKING_IDS_V2.items()}}
_BY_SLUG: dict[str, TLP] = {level.slug: level for level in TLP}
_BY_NAME: dict[str, TLP] = {
    **_BY_SLUG,
    "white": TLP.CLEAR,
    "amber+strict": TLP.AMBER_STRICT,
    "amber_strict": TLP.AMBER_STRICT,
}


def parse_level(text: str) -> TLP | None:
    """'TLP:AMBER+STRICT', 'tlp:white', 'green', ... -> level; anything else -> None."""
    name = text.strip().lower()
    if name.startswith("tlp:"):
        name = name[4:]
    return _BY_NAME.get(name.strip())


def from_marking_ref(ref: str) -> TLP | None:
    """A STIX marking-definition id (TLP 1.0 or 2.0) -> level, None if not a TLP marking."""
    return _BY_MARKING_ID.get(ref)


def most_restrictive(levels: list[TLP]) -> TLP | None:
    """A mix of markings resolves to the narrowest audience."""
    return max(levels) if levels else None
