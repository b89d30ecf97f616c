"""Assets are as private as provider identities (DESIGN rules 3 and 5, extended by R8): the broker
policy lets a member send asset changes but read no one's assets or the hub's catalogue, and no
metric of the feature has a label that could carry a product, an asset or a member."""
from __future__ import annotations

from confluent_kafka.admin import AclOperation, ResourceType

from streams import metrics
from streams.access import member_rules, readable
from streams.members import Member
from streams.topics import Topics

TOPICS = Topics("kizuna")
MEMBER = Member(id="globex", sectors=["finance"])


def test_members_write_asset_changes_and_read_none_of_the_catalogue() -> None:
    rules = member_rules(TOPICS, MEMBER, "contributor")
    on = lambda name: {op for kind, topic, _, op in rules if kind == ResourceType.TOPIC and topic == name}  # noqa: E731
    assert on(TOPICS.asset_changes) == {AclOperation.WRITE, AclOperation.DESCRIBE}
    for hub_only in (TOPICS.vulns, TOPICS.assets, TOPICS.vuln_matches):
        assert on(hub_only) == set()
    shown = readable(TOPICS, MEMBER, "contributor")
    assert not {TOPICS.vulns, TOPICS.assets, TOPICS.vuln_matches, TOPICS.asset_changes} & set(shown)
    assert TOPICS.member_assets("acme") not in shown
    assert TOPICS.member_assets("globex").startswith(TOPICS.member_prefix("globex"))  # its own, by the prefix ACL


def test_vulnerability_metrics_label_nothing_private() -> None:
    for metric, labels in ((metrics.VULN_NOTICES, ("basis", "action")), (metrics.VULN_LATENCY, ("trigger",)),
                           (metrics.VULN_ADVISORIES, ("source",))):
        assert tuple(metric._labelnames) == labels
