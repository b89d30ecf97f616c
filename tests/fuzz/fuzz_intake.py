"""Coverage-guided fuzzing (atheris, libFuzzer) of everything a member can send: every intake
format through `parse_submission`, and feedback through `validate`.

The invariant is the hub's promise on hostile input: no exception escapes, every problem says
where and why, every item has an id. `make fuzz` runs it (FUZZ_SECONDS, default 120) from the
test fixtures as seeds; a crash leaves its input in var/fuzz/ for a regression test.
"""
from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["streams"]):
    from streams.core.feedback import validate
    from streams.core.formats import FORMATS, Limits, parse_submission
    from streams.members import Member, Registry

LIMITS = Limits(max_bytes=256 * 1024, max_objects=2_000, max_depth=32)
REGISTRY = Registry(members=[Member(id="acme", sectors=["gas"], default_tlp="green")])


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    choice = provider.ConsumeIntInRange(0, len(FORMATS))
    if choice == len(FORMATS):  # feedback, with fields a SIEM connector could get wrong
        item = {"feedback_id": provider.ConsumeUnicodeNoSurrogates(40), "member": "acme",
                "kind": provider.ConsumeUnicodeNoSurrogates(20), "indicator": provider.ConsumeUnicodeNoSurrogates(300),
                "count": provider.ConsumeInt(4), "tlp": provider.ConsumeUnicodeNoSurrogates(15) or None,
                "observed_at": provider.ConsumeInt(8)}
        record, problem = validate(item, REGISTRY, "m-acme")
        assert (record is None) != (problem is None)
        if problem is not None:
            assert problem.where and problem.code and problem.reason
        return
    parsed = parse_submission(provider.ConsumeBytes(len(data)), FORMATS[choice], "fuzz", LIMITS)
    for problem in parsed.problems:
        assert problem.where and problem.code and problem.reason, problem
    for item in parsed.items:
        assert item.id and item.stix_type, item


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
