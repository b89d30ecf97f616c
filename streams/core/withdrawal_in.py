"""Withdrawals by reference (`kizuna withdraw`, `--format withdrawal`): one record a line, by
the value shared or the record's STIX id as the hub published it (the audit trail lists them).
Re-sending an object with `revoked: true` (STIX) or deleted (MISP) withdraws it as well."""
from __future__ import annotations

from streams.core.canonical import InvalidValue
from streams.core.feedback import resolve
from streams.core.items import Item, Parsed, Problem, Reason


def parse_withdrawal(text: str, max_objects: int) -> Parsed:
    """Lines of values or STIX ids -> withdrawal items; blank lines and `#` comments are ignored."""
    parsed = Parsed("withdrawal")
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) > max_objects:
        parsed.problems.append(Problem("withdrawal", Reason.TOO_MANY,
                                       f"{len(lines)} references, the limit is {max_objects}"))
        return parsed
    for number, reference in lines:
        try:
            record_id = resolve(reference)
        except InvalidValue as exc:
            parsed.problems.append(Problem(f"line {number}", Reason.INVALID_VALUE, str(exc)))
            continue
        parsed.items.append(Item(id=record_id, stix_type=record_id.split("--", 1)[0], where=f"line {number}",
                                 withdraw=True))
    return parsed
