"""Consumer lag and contributor counts as metric labels: by kind of group and topic, by sector,
never naming a member (DESIGN rule 5). Pure functions; the worker's real figures are checked
against a real broker in test_prometheus.py."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.backlog import MergeBacklog
from streams.kafka_io import Publisher, client_config
from streams.lag import LagMonitor, group_kind, lag_by_kind, topic_label
from streams.members import Member, Registry
from streams.metrics import contributing_members, sector_label
from streams.topics import Topics
from tests.harness import drop_namespace, open_namespace

TOPICS = Topics("kz")
MEMBERS = ["acme", "globex"]


def test_group_kinds() -> None:
    assert group_kind(TOPICS, MEMBERS, "kz-worker") == "worker"
    assert group_kind(TOPICS, MEMBERS, TOPICS.reputation_group) == "worker"
    assert group_kind(TOPICS, MEMBERS, TOPICS.hub_group("taxii")) == "hub"
    assert group_kind(TOPICS, MEMBERS, "kz.org.acme.siem") == "member"
    assert group_kind(TOPICS, MEMBERS, "kz.org.mallory.siem") is None  # not a member (any more)
    assert group_kind(TOPICS, MEMBERS, "other-worker") is None
    assert group_kind(TOPICS, MEMBERS, "t-5d1c") is None  # ad-hoc readers


def test_topic_labels_mask_members() -> None:
    assert topic_label(TOPICS, "kz.org.acme.inbox") == "kz.org.*.inbox"
    assert topic_label(TOPICS, TOPICS.member_rejected("globex")) == "kz.org.*.rejected"
    assert topic_label(TOPICS, "kz.share.green.finance") == "kz.share.green.finance"
    assert topic_label(TOPICS, TOPICS.faust_leader) == TOPICS.faust_leader
    assert topic_label(TOPICS, "other.intake") is None


def test_lag_is_summed_per_kind_and_topic() -> None:
    committed = {
        "kz-worker": {("kz.intake", 0): 10, ("kz.intake", 1): 5, ("kz.indicators", 0): 7},
        "kz.org.acme.siem": {("kz.share.green.all", 0): 2, ("kz.org.acme.inbox", 0): 1},
        "kz.org.globex.siem": {("kz.share.green.all", 0): 0, ("kz.org.globex.inbox", 0): 3},
        "kz.org.globex.fresh": {("kz.share.green.all", 0): -1001},  # nothing committed yet
        "t-adhoc": {("kz.intake", 0): 0},
    }
    ends = {("kz.intake", 0): 12, ("kz.intake", 1): 5, ("kz.indicators", 0): 4,
            ("kz.share.green.all", 0): 9, ("kz.org.acme.inbox", 0): 4, ("kz.org.globex.inbox", 0): 3}
    assert lag_by_kind(TOPICS, MEMBERS, committed, ends) == {
        ("worker", "kz.intake"): 2,
        ("worker", "kz.indicators"): 0,  # a committed offset past a stale end offset is not negative lag
        ("member", "kz.share.green.all"): 16,
        ("member", "kz.org.*.inbox"): 3,
    }


def test_lag_of_partitions_without_a_known_end_is_left_out() -> None:
    assert lag_by_kind(TOPICS, MEMBERS, {"kz-worker": {("kz.intake", 0): 1}}, {}) == {}


def test_publications_to_inboxes_are_labelled_inbox() -> None:
    assert sector_label("@acme") == "inbox"
    assert sector_label("finance") == "finance"
    assert sector_label("all") == "all"


def test_contributing_members_are_counted_per_sector() -> None:
    registry = Registry(members=[Member(id="acme", sectors=["electricity", "gas"]), Member(id="globex",
                                                                                           sectors=["finance"]),
                                 Member(id="hooli", sectors=["finance"]), Member(id="lurker", sectors=["finance"]),
                                 Member(id="nowhere")])
    given = {"acme": 3, "globex": 1, "hooli": 0, "nowhere": 2}
    assert contributing_members(registry, lambda member: given.get(member, 0)) == {
        "all": 3, "electricity": 1, "gas": 1, "finance": 1}


@pytest.mark.integration
def test_the_lag_monitor_reads_committed_offsets_through_a_consumer_of_the_group(tmp_path) -> None:
    """On the broker: the monitor reads a group's committed offsets (without the admin API, whose
    NOT_COORDINATOR path crashes the process: streams.kafka_io.CommittedOffsets) and the ends, and sums
    the lag; the bulk lane's backlog reads the workers' group the same way."""
    namespace = "l" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, tmp_path, partitions=1)
    topics = Topics(namespace)
    try:
        publisher = Publisher(settings, "lag-test")
        for n in range(5):
            publisher.send(topics.intake, b"x", str(n).encode(), 0)
            publisher.send(topics.indicators, b"x", str(n).encode(), 0)
        publisher.flush_sync()
        for group, topic in ((topics.hub_group("lagtest"), topics.intake), (topics.worker_group, topics.indicators)):
            consumer = Consumer({**client_config(settings), "group.id": group, "enable.auto.commit": False})
            consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
            consumer.close()
        monitor = LagMonitor(settings)
        assert monitor.read() == {("hub", topics.intake): 3, ("worker", topics.indicators): 3}
        assert MergeBacklog(settings).size() == 3
        assert monitor._offsets.read("no-such-group", [TopicPartition(topics.intake, 0)], 10) == {}
    finally:
        drop_namespace(settings)
