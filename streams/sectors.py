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

# Japanese names for people reading kizuna's listings: the critical-infrastructure sectors as NISC names them.
NAMES_JA: dict[str, str] = {
    "ict": "情報通信", "finance": "金融", "aviation": "航空", "airports": "空港", "railways": "鉄道",
    "electricity": "電力", "gas": "ガス", "government": "政府・行政サービス", "healthcare": "医療", "water": "水道",
    "logistics": "物流", "chemicals": "化学", "credit": "クレジット", "petroleum": "石油", "ports": "港湾",
    "other": "その他", ALL: "全体",
}

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
