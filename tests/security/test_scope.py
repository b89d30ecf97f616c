"""Property tests of the trust rules over random submissions (DESIGN rules 1 and 3).

Random members (some consenting to be named), TLP markings, default TLPs,
sectors and named recipients go through the real parse -> normalize -> merge ->
route -> render path. For every publication: the audience is never wider than
the scope of the evidence it shows, and nothing names a provider who did not
consent.
"""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.formats import Limits, parse_submission
from streams.core.merge import INBOX, Policy, changes, fold, mark_published
from streams.core.normalize import normalize, pseudonym
from streams.core.reputation import Book
from streams.core.stix_out import encode, hub_identity_id, render
from streams.sectors import SECTORS
from streams.tlp import TLP
from streams.topics import Topics

SECRET = b"property-test-key"
TOPICS = Topics("kizuna")
HUB = hub_identity_id("kizuna hub")
LIMITS = Limits(1 << 20, 1000, 64)
MEMBERS = {  # id -> (display name, e-mail, consents to be named)
    "acme": ("ACME Power Co.", "soc@acme-power.example", False),
    "globex": ("Globex Bank", "cert@globex.example", True),
    "initech": ("Initech Railways", "noc@initech.example", False),
    "hooli": ("Hooli", "sec@hooli.example", False),
}
MARKINGS = [None, *(level.marking_id for level in TLP),
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]  # TLP 1.0 GREEN
VALUES = [f"host{i}.threat.example" for i in range(6)]


@st.composite
def submissions(draw):
    member = draw(st.sampled_from(sorted(MEMBERS)))
    name, email, _ = MEMBERS[member]
    objects = []
    for i, value in enumerate(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=4, unique=True))):
        obj = {"type": "indicator", "id": f"indicator--0000000{i}-0000-4000-8000-000000000000",
               "pattern": f"[domain-name:value = '{value}']", "pattern_type": "stix",
               "description": f"seen by {name}, contact {email}", "created_by_ref": f"identity--{member}"}
        marking = draw(st.sampled_from(MARKINGS))
        if marking:
            obj["object_marking_refs"] = [marking]
        objects.append(obj)
    objects.append({"type": "identity", "id": f"identity--{member}", "name": name, "contact_information": email})
    objects.append({"type": "malware", "id": "malware--00000000-0000-4000-8000-00000000000a", "name": "Loader",
                    "is_family": True, "description": f"Reported by {email}, call +81 3-1234-5678 or {email.upper()}",
                    "created_by_ref": f"identity--{member}", "x_acme_ticket": f"{member}-INC-1",
                    "object_marking_refs": [TLP.GREEN.marking_id]})
    envelope = {
        "submission_id": f"sub-{draw(st.integers(0, 10**6))}", "submitter": member,
        "received_at": draw(st.integers(1, 10**6)),
        "format": "stix", "filename": f"{member}-iocs.json",
        "tlp": draw(st.sampled_from([None, "clear", "green", "amber", "amber+strict", "red"])),
        "sectors": draw(st.lists(st.sampled_from(SECTORS), max_size=2, unique=True)),
        "recipients": draw(st.lists(st.sampled_from(sorted(MEMBERS)), max_size=2, unique=True)),
        "payload": orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}),
    }
    return envelope


def within_scope(entry, level: TLP, target: str) -> bool:
    """The spec, restated independently of streams.core.merge: may this report inform this audience?"""
    if TLP.from_slug(entry["tlp"]) > level:
        return False
    if entry["recipients"]:
        return target.startswith(INBOX) and target[1:] in entry["recipients"]
    if target.startswith(INBOX) or level is TLP.RED:
        return False
    return not entry["sectors"] or target in entry["sectors"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(submissions(), min_size=1, max_size=4))
def test_no_record_reaches_an_audience_wider_than_its_scope_nor_names_a_provider(batch):
    states: dict[str, dict] = {}
    outputs: list[bytes] = []
    for envelope in sorted(batch, key=lambda e: e["received_at"]):
        member = envelope["submitter"]
        name, _, consent = MEMBERS[member]
        parsed = parse_submission(envelope["payload"], "stix", envelope["filename"], LIMITS)
        result = normalize(envelope, parsed, pseudonym(SECRET, member), named=name if consent else None)
        for rejection in result.rejections:  # the submitter's own: pseudonymous, and never another's data
            assert rejection["reporter"] == pseudonym(SECRET, member)
            assert not any(other in orjson.dumps(rejection).decode() for other in MEMBERS if other != member)
        for record in result.records:
            states[record["id"]] = fold(states.get(record["id"]), record, result.context)
    for state in states.values():
        pubs = changes(state, Book(), Policy())
        mark_published(state, pubs)
        for pub in pubs:
            level, target = pub.audience
            topic = TOPICS.for_tier(pub.tier, level, target)
            allowed = {e["reporter"] for e in state["evidence"].values() if within_scope(e, level, target)}
            # Everything the audience is shown comes from reports its scope allows (rules 1 and 2) ...
            assert pub.view["reporter_count"] == len(allowed) > 0
            # ... and the topic is that audience's: an inbox only for recipients, RED never on a sector topic.
            if target.startswith(INBOX):
                assert topic == TOPICS.inbox(target[1:])
            else:
                assert level is not TLP.RED and topic.split(".")[2:] == [level.slug, target]
            outputs.append(encode(render(state, pub, HUB)) + state["id"].encode())
    text = b"\n".join(outputs).decode()
    for member, (name, email, consent) in MEMBERS.items():  # rule 3, in everything members read
        assert email not in text.lower() and f"identity--{member}" not in text and f"{member}-iocs" not in text
        assert "1234-5678" not in text
        if not consent:
            assert name not in text
