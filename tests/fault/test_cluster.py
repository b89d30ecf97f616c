"""Faults of the 3-broker cluster under a steady stream (`make cluster`, then
`KIZUNA_CLUSTER=1 make test-faults`): the broker leading the busiest intake and indicator partitions
killed with SIGKILL and brought back; a rolling restart of all three; one broker's data directory
wiped and the broker rejoined. Each time every submitted indicator is delivered, a redelivery is the
same bytes, the merge state equals the input, the worker recovers by itself, and the p99 delivery
latency of what was submitted during the fault is printed."""
from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import Counter

import orjson
import pytest
from confluent_kafka import Consumer, ElectionType

from streams.kafka_io import admin, client_config
from streams.sectors import ALL
from streams.settings import ROOT
from streams.tlp import TLP
from tests.fault.steady import SteadyStream, assert_nothing_lost
from tests.harness import Hub

CLUSTER = str(ROOT / "deploy" / "kafka" / "cluster.sh")
pytestmark = [
    pytest.mark.fault,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.environ.get("KIZUNA_CLUSTER") != "1",
                       reason="needs the local 3-broker cluster: make cluster; KIZUNA_CLUSTER=1 make test-faults"),
]


def cluster(*args: str) -> None:
    subprocess.run([CLUSTER, *args], check=True, timeout=600, capture_output=True)


def busiest_leader(hub: Hub) -> int:
    """The broker that leads most partitions of intake and indicators, the topics every record crosses."""
    metadata = admin(hub.settings).list_topics(timeout=30)
    leaders = Counter(p.leader for topic in (hub.topics.intake, hub.topics.indicators)
                      for p in metadata.topics[topic].partitions.values())
    return leaders.most_common(1)[0][0]


def delivery_ms(hub: Hub, sent: dict[str, int]) -> dict[str, float]:
    """Value -> ms from submission to its first version on the topic (the broker's append time)."""
    consumer = Consumer({**client_config(hub.settings), "group.id": f"f-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([hub.topics.contrib(TLP.GREEN, ALL)])
    first: dict[str, int] = {}
    deadline = time.monotonic() + 120
    try:
        while len(first) < len(sent) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    value = next(iter(orjson.loads(msg.value())["extensions"].values()))["value"]
                    first.setdefault(value, msg.timestamp()[1])
    finally:
        consumer.close()
    return {value: first[value] - at for value, at in sent.items() if value in first}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def kill_9_the_busiest_leader(hub: Hub) -> str:
    node = busiest_leader(hub)
    cluster("kill", str(node))
    time.sleep(10)
    cluster("start-node", str(node))
    return f"broker {node} killed with SIGKILL, back after 10 s"


def rolling_restart(hub: Hub) -> str:
    for node in (1, 2, 3):
        cluster("stop-node", str(node))
        cluster("start-node", str(node))
    return "brokers 1, 2, 3 stopped and started in turn"


def back_in_sync(hub: Hub, node: int, timeout: float = 300.0) -> float:
    """Seconds until `node` is in the ISR of every partition it has a replica of (re-replicated from the others)."""
    client, started = admin(hub.settings), time.monotonic()
    while True:
        topics = client.list_topics(timeout=30).topics.values()
        behind = sum(node in p.replicas and node not in p.isrs for t in topics for p in t.partitions.values())
        if not behind:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"broker {node}: {behind} partitions not back in sync"
        time.sleep(1)


def wipe_and_rejoin(hub: Hub) -> str:
    """The operator's step for a lost disk is what `cluster.sh wipe N; start-node N` does: `kafka-storage format`
    with the cluster's id and the same node id (a new directory id), then start. The broker re-registers, moves
    its replicas to the new directory and re-replicates them; then it leads its preferred partitions again,
    __consumer_offsets' included, so the workers' group coordinator moves back to it (the controller does that
    within leader.imbalance.check.interval.seconds, 300 s; here a preferred election does it at once)."""
    node = busiest_leader(hub)
    cluster("wipe", str(node))
    cluster("start-node", str(node))
    in_sync = back_in_sync(hub, node)
    client = admin(hub.settings)
    client.elect_leaders(ElectionType.PREFERRED).result()
    metadata = client.list_topics(timeout=30)
    leads = sum(p.leader == node for t in metadata.topics.values() for p in t.partitions.values())
    offsets = sum(p.leader == node for p in metadata.topics["__consumer_offsets"].partitions.values())
    assert leads, f"broker {node} leads nothing after the preferred election"
    return (f"broker {node} stopped, its data directory deleted, rejoined empty, back in every ISR after "
            f"{in_sync:.0f} s, leading {leads} partitions again ({offsets} of __consumer_offsets)")


@pytest.mark.parametrize("fault", [kill_9_the_busiest_leader, rolling_restart, wipe_and_rejoin])
def test_the_cluster_loses_nothing(hub: Hub, fault):
    stream = SteadyStream(hub, fault.__name__[:8], submissions=80, per_submission=50, gap_s=0.5)
    stream.start()
    time.sleep(5)
    started = int(time.time() * 1000)
    outcome: list[str] = []
    injector = threading.Thread(target=lambda: outcome.append(fault(hub)))
    injector.start()
    injector.join()
    ended = int(time.time() * 1000)
    stream.join()
    counts = assert_nothing_lost(hub, stream.sent)
    latency = delivery_ms(hub, stream.sent)
    during = [ms for value, ms in latency.items() if started <= stream.sent[value] <= ended]
    print(f"\n{outcome[0]} ({(ended - started) / 1000:.0f} s): {counts}; p99 delivery latency during the fault "
          f"{p99(during):,.0f} ms ({len(during)} indicators), "
          f"over the whole stream {p99(list(latency.values())):,.0f} ms; worker alive={hub.worker.proc.poll() is None}")
    assert hub.worker.proc.poll() is None  # recovered by itself, not restarted
