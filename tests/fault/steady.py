"""A steady stream of submissions during a fault, and the checks that nothing was lost (DESIGN rule 4)."""
from __future__ import annotations

import threading
import time

import orjson

from streams.core.canonical import indicator_id
from streams.kafka_io import read_partition
from streams.sectors import ALL
from streams.tlp import TLP
from tests.harness import Hub, read_all


class SteadyStream(threading.Thread):
    """`submissions` CSV submissions of `per_submission` new domains each, one every `gap_s`."""

    def __init__(self, hub: Hub, prefix: str, submissions: int = 60, per_submission: int = 100, gap_s: float = 0.5):
        super().__init__(name=f"stream-{prefix}")
        self.hub, self.prefix = hub, prefix
        self.submissions, self.per_submission, self.gap_s = submissions, per_submission, gap_s
        self.sent: dict[str, int] = {}  # value -> submission time

    def run(self) -> None:
        for n in range(self.submissions):
            values = [f"{self.prefix}{n}-{i}.fault.example" for i in range(self.per_submission)]
            at = int(time.time() * 1000)
            self.hub.submit(("value\n" + "\n".join(values) + "\n").encode(), member="acme", tlp="green", fmt="csv",
                            received_at=at)
            self.sent.update({v: at for v in values})
            time.sleep(self.gap_s)


def assert_nothing_lost(hub: Hub, sent: dict[str, int], partitions: int = 2) -> str:
    """Every submitted indicator is on its topic; a record delivered twice is the same bytes; the merge
    state holds exactly the submitted indicators with their first-seen times, as a rebuild from the input
    would. Returns the counts, for the test output."""
    expected = {indicator_id("domain-name", v) for v in sent}
    delivered = read_all(hub.settings, hub.topics.contrib(TLP.GREEN, ALL), len(expected))
    by_version: dict[bytes, set[bytes]] = {}
    for _, value in delivered:
        record = orjson.loads(value)
        by_version.setdefault((record["id"] + record["modified"]).encode(), set()).add(value)
    ids = {orjson.loads(v)["id"] for _, v in delivered}
    counts = (f"submitted={len(expected)} delivered={len(delivered)} distinct={len(ids)} "
              f"redelivered={len(delivered) - len(by_version)}")
    assert ids == expected, counts  # nothing lost, nothing invented
    assert all(len(versions) == 1 for versions in by_version.values()), counts  # a redelivery is the same bytes
    state: dict[str, dict] = {}
    for partition in range(partitions):
        for key, value in read_partition(hub.settings, hub.topics.merge_state, partition):
            state[key.decode()] = orjson.loads(value)
    assert set(state) == expected, counts
    for value, at in sent.items():
        entry = next(iter(state[indicator_id("domain-name", value)]["evidence"].values()))
        assert entry["first"] == entry["last"] == at, counts  # as a rebuild from the input would have it
    return counts
