"""Personal data out of free text before anything is stored or shared (DESIGN rule 3).

E-mail addresses and phone numbers in descriptions, names and notes are replaced
by a marker. Threat values themselves travel as indicators, never through here.
"""
from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
_EMAIL = re.compile(r"[\w.+-]+(?:@|\[@\]|\(at\)|\[at\])[\w-]+(?:(?:\.|\[\.\])[\w-]+)+", re.I)
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d{1,4}\)?(?:[\s.-]?\(?\d{1,5}\)?){2,5}(?![\w-])")
# Keys whose values are identifiers or vocabulary, not prose.
_NOT_PROSE = frozenset({"type", "id", "url", "external_id", "source_name", "relationship_type", "spec_version",
                        "pattern", "pattern_type", "hashes", "kill_chain_name", "phase_name"})


def _phone(match: re.Match[str]) -> str:
    return REDACTED if sum(c.isdigit() for c in match.group()) >= 9 else match.group()


def scrub_text(text: str) -> str:
    return _PHONE.sub(_phone, _EMAIL.sub(REDACTED, text))


def scrub(value: Any, key: str = "") -> Any:
    """A JSON value with e-mail addresses and phone numbers removed from its prose."""
    if isinstance(value, str):
        return value if key in _NOT_PROSE or key.endswith(("_ref", "_refs")) else scrub_text(value)
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, k) for k, v in value.items()}
    return value
