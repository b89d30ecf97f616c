"""Broker access control end to end: SASL/SCRAM logins and ACLs on the real broker.

Each member reads exactly its own sector/TLP topics, its inbox and its rejections;
everything else fails with an authorisation error from the broker itself. A
removed member loses reading and writing at once. Forged submitters are rejected.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from streams import credentials, rotation
from streams.intake import envelope
from streams.kafka_io import client_config
from streams.records import submission_codec
from streams.settings import ROOT
from streams.tlp import TLP
from tests.harness import MEMBERS_FILE, PSEUDONYM_KEY, drop_namespace, open_namespace

pytestmark = pytest.mark.integration

DENIED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


def read_as(settings, member: str, topic: str, group: str | None = None,
            timeout: float = 10) -> tuple[list, int | None]:
    """(records, error code) of reading `topic` from the start as `member` until its end."""
    group = group or settings_topics(settings).member_group_prefix(member) + uuid.uuid4().hex
    consumer = Consumer({**client_config(settings, member), "group.id": group, "enable.partition.eof": True,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    records: list = []
    try:
        while True:
            msg = consumer.poll(timeout)
            if msg is None:
                return records, None
            if msg.error():
                code = msg.error().code()
                return records, None if code == KafkaError._PARTITION_EOF else code
            records.append(orjson.loads(msg.value()))
    finally:
        consumer.close()


def settings_topics(settings):
    from streams.topics import Topics

    return Topics(settings.namespace)


def test_a_member_reads_its_own_sector_and_tlp_topics_and_its_inbox(hub):
    hub.submit(b"value\nfor-globex.example\n", member="acme", tlp="amber", fmt="csv", to=["globex"])
    hub.read(hub.topics.inbox("globex"), expect=1)
    inbox, error = read_as(hub.settings, "globex", hub.topics.inbox("globex"))
    assert error is None and any("for-globex.example" in r.get("pattern", "") for r in inbox)
    for topic in (hub.topics.share(TLP.AMBER, "finance"), hub.topics.share(TLP.GREEN, "all"),
                  hub.topics.share(TLP.CLEAR, "gas"), hub.topics.member_rejected("globex")):
        assert read_as(hub.settings, "globex", topic)[1] is None, topic


@pytest.mark.parametrize("member, topic_of", [
    ("globex", lambda t: t.share(TLP.AMBER, "electricity")),  # another sector's AMBER
    ("initech", lambda t: t.contrib(TLP.GREEN, "railways")),  # contributor topic; initech is pinned general
    ("globex", lambda t: t.inbox("acme")),  # another member's inbox
    ("globex", lambda t: t.member_rejected("acme")),  # another member's rejections
    ("globex", lambda t: t.indicators),  # the hub's internal topics
    ("globex", lambda t: t.rejected),
    ("globex", lambda t: t.audit),
], ids=["other-sector-amber", "contrib-as-general", "other-inbox", "other-rejections", "indicators",
        "all-rejections", "all-audit"])
def test_a_member_cannot_read_what_it_is_not_entitled_to(hub, member, topic_of):
    topic = topic_of(hub.topics)
    records, error = read_as(hub.settings, member, topic)
    assert error in DENIED and not records, (topic, error)


def test_a_member_cannot_use_another_members_consumer_group_or_write_a_share_topic(hub):
    foreign_group = hub.topics.member_group_prefix("acme") + "siem"
    assert read_as(hub.settings, "globex", hub.topics.share(TLP.GREEN, "finance"), group=foreign_group)[1] in DENIED
    producer = Producer(client_config(hub.settings, "globex"))
    errors = []
    producer.produce(hub.topics.share(TLP.GREEN, "finance"), b"{}", on_delivery=lambda err, _: errors.append(err))
    producer.flush(15)
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_submission_in_another_members_name_is_rejected(hub):
    forged = envelope("globex", b"value\nforged.example\n", "csv", "x.csv", "green", key=hub.key("acme"))
    unsigned = envelope("globex", b"value\nunsigned.example\n", "csv", "x.csv", "green")
    for record in (forged, unsigned):
        hub.publisher.send(hub.topics.intake, submission_codec().encode(record), record["submission_id"].encode())
    hub.publisher.flush_sync()
    mine = hub.until(hub.topics.member_rejected("globex"),
                     lambda rs: {forged["submission_id"],
                                 unsigned["submission_id"]} <= {r["submission_id"] for r in rs})
    codes = {r["submission_id"]: r["code"] for r in mine}
    assert codes[forged["submission_id"]] == codes[unsigned["submission_id"]] == "unauthenticated"
    published = hub.read(hub.topics.contrib(TLP.GREEN, "all"), expect=0, settle=1)
    assert not [r for r in published if "forged.example" in r.get("pattern", "") or "unsigned" in r.get("pattern", "")]


def test_a_rotated_signing_key_is_accepted_during_the_overlap_and_refused_as_retired_after_it(hub):
    """`kizuna members rotate` on the broker with the worker: the member's old and new signing keys both
    work during the overlap; after it, the old key's submissions are refused as signed by a retired key
    and the new key's flow; a rotation without overlap retires the previous key at once."""
    member, contrib = "wayne", hub.topics.contrib(TLP.GREEN, "all")

    def send(value: str, key: bytes) -> str:
        record = envelope(member, f"value\n{value}\n".encode(), "csv", "x.csv", "green", key=key)
        hub.publisher.send(hub.topics.intake, submission_codec().encode(record), record["submission_id"].encode())
        hub.publisher.flush_sync()
        return record["submission_id"]

    def published(*values: str) -> None:
        records = hub.until(contrib, lambda rs: all(any(v in r.get("pattern", "") for r in rs) for v in values))
        assert all(any(v in r.get("pattern", "") for r in records) for v in values), values

    def refused(*ids: str) -> dict[str, tuple[str, str]]:
        mine = hub.until(hub.topics.member_rejected(member), lambda rs: set(ids) <= {r["submission_id"] for r in rs})
        return {r["submission_id"]: (r["code"], r["reason"]) for r in mine if r["submission_id"] in ids}

    first = credentials.load(hub.settings, member)
    second = rotation.rotate(hub.settings, member, overlap_s=3600)
    assert second.signing_generation == first.signing_generation + 1 and second.key != first.key
    send("rotation-old-key-in-overlap.example", first.key)
    send("rotation-new-key.example", second.key)
    published("rotation-old-key-in-overlap.example", "rotation-new-key.example")
    # The overlap ends (as if the hour had passed; tests/security/test_tls.py ends it the same way).
    credentials.path(hub.settings, member).write_text(second.model_copy(update={"previous_until": 1.0})
                                                      .model_dump_json())
    late = send("rotation-old-key-after-overlap.example", first.key)
    send("rotation-new-key-after-overlap.example", second.key)
    published("rotation-new-key-after-overlap.example")
    [(code, reason)] = refused(late).values()
    assert code == "retired-key" and "retired signing key" in reason
    # No overlap: the second key is retired the moment the third is issued.
    third = rotation.rotate(hub.settings, member, overlap_s=0)
    assert third.signing_generation == second.signing_generation + 1
    at_once = send("rotation-second-key-no-overlap.example", second.key)
    send("rotation-third-key.example", third.key)
    published("rotation-third-key.example")
    assert refused(at_once)[at_once][0] == "retired-key"
    after = hub.read(contrib, expect=0, settle=1)
    assert not [r for r in after if "after-overlap" in r.get("pattern", "") and "old-key" in r.get("pattern", "")
                or "no-overlap" in r.get("pattern", "")]


def test_adding_and_removing_a_member_grants_and_revokes_at_once(tmp_path):
    members_file = tmp_path / "members.yaml"  # the default registry of KIZUNA_VAR_DIR: not named below
    shutil.copy(MEMBERS_FILE, members_file)
    namespace = "a" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, tmp_path, partitions=1, members_file=members_file)
    env = {"KIZUNA_NAMESPACE": namespace, "KIZUNA_VAR_DIR": str(tmp_path),
           "KIZUNA_PSEUDONYM_KEY": PSEUDONYM_KEY, "KIZUNA_KAFKA_PASSWORD": settings.kafka_secret(),
           "KIZUNA_KAFKA_CA_FILE": str(settings.ca_file())}

    def kizuna(*args: str) -> subprocess.CompletedProcess:
        import os

        return subprocess.run([sys.executable, "-m", "streams.cli", *args], env={**os.environ, **env},
                              capture_output=True, text=True, cwd=ROOT, timeout=60)

    checkout = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    try:
        added = kizuna("members", "add", "newco", "--sector", "gas", "--default-tlp", "green")
        assert added.returncode == 0, added.stderr
        assert credentials.issued(settings, "newco")
        green_gas = settings_topics(settings).share(TLP.GREEN, "gas")
        assert read_as(settings, "newco", green_gas)[1] is None
        producer = Producer({**client_config(settings, "newco"), "linger.ms": 0})
        delivered = []
        producer.produce(settings_topics(settings).intake, b"x", on_delivery=lambda err, _: delivered.append(err))
        producer.flush(15)
        assert delivered == [None]
        # A consumer connected before the removal...
        consumer = Consumer({**client_config(settings, "newco"), "enable.partition.eof": True,
                             "group.id": settings_topics(settings).member_group_prefix("newco") + "siem"})
        consumer.assign([TopicPartition(green_gas, 0, OFFSET_BEGINNING)])
        assert consumer.poll(10).error().code() == KafkaError._PARTITION_EOF

        login = client_config(settings, "newco")
        removed = kizuna("members", "remove", "newco")
        assert removed.returncode == 0, removed.stderr
        # ...is refused on its next fetch, the open producer on its next send, a new login at once.
        consumer.seek(TopicPartition(green_gas, 0, OFFSET_BEGINNING))
        errors = [m.error().code() for m in (consumer.poll(5) for _ in range(6)) if m is not None and m.error()]
        consumer.close()
        assert KafkaError.TOPIC_AUTHORIZATION_FAILED in errors, errors
        delivered.clear()
        producer.produce(settings_topics(settings).intake, b"x", on_delivery=lambda err, _: delivered.append(err))
        producer.flush(15)
        assert delivered and delivered[0] is not None and delivered[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        refused = []
        fresh = Consumer({**login, "group.id": settings_topics(settings).member_group_prefix("newco") + "x",
                          "error_cb": lambda err: refused.append(err.code())})
        fresh.poll(5)
        fresh.close()
        assert KafkaError._AUTHENTICATION in refused, refused
        assert not credentials.issued(settings, "newco")
        assert "newco" not in members_file.read_text()
        assert kizuna("members", "show", "newco").returncode == 3
        # the registry is state under var/: using the hub leaves the checkout as it was
        assert subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                              text=True).stdout == checkout
    finally:
        drop_namespace(settings)


def test_standing_moves_a_member_between_tiers_on_the_broker(hub):
    """Five accepted contributions make stark (tier auto) a contributor: the contrib topics open to it;
    31 days later with nothing new, the window is empty, it is general again and they close."""
    import time

    from streams import access, members
    from streams.kafka_io import admin

    contrib = hub.topics.contrib(TLP.GREEN, "gas")
    registry, client = members.load(hub.settings.members_file), admin(hub.settings)
    assert read_as(hub.settings, "stark", contrib)[1] in DENIED
    values = "".join(f"standing-{i}.example\n" for i in range(5))
    hub.submit(f"value\n{values}".encode(), member="stark", tlp="green", sectors=["gas"], fmt="csv")
    deadline = time.monotonic() + 30
    while (tiers := access.standings(hub.settings, registry))["stark"].tier != "contributor":
        assert time.monotonic() < deadline, tiers["stark"]
        time.sleep(0.5)
    access.sync(hub.settings, client, registry, tiers)
    records, error = read_as(hub.settings, "stark", contrib)
    assert error is None and len(records) >= 5
    later = int(time.time() * 1000) + 31 * 86_400_000
    demoted = access.standings(hub.settings, registry, now_ms=later)
    assert demoted["stark"].tier == "general"
    access.sync(hub.settings, client, registry, demoted)
    assert read_as(hub.settings, "stark", contrib)[1] in DENIED
    assert read_as(hub.settings, "stark", hub.topics.share(TLP.GREEN, "gas"))[1] is None
