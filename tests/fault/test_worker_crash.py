"""Worker crashes under a steady stream: nothing lost, duplicates byte-identical (DESIGN rule 4).

Submissions flow for ~30 s while the worker is killed with SIGKILL three times
at random points and restarted. At the end every submitted indicator is on its
topic, any record delivered twice is the same bytes (same id and version), and
the merge state (the changelog) holds exactly the submitted indicators with the
right first-seen times: what a rebuild from the input would give.
"""
from __future__ import annotations

import random
import threading
import time

import orjson
import pytest

from streams.core.canonical import indicator_id
from streams.kafka_io import read_partition
from streams.sectors import ALL
from streams.tlp import TLP
from tests.harness import read_all

pytestmark = pytest.mark.fault
SUBMISSIONS, PER_SUBMISSION = 60, 100


def test_kill_9_three_times_loses_nothing(hub):
    settings, worker = hub.settings, hub.worker
    rng = random.Random(4)
    sent: dict[str, int] = {}  # value -> submission time
    done = threading.Event()

    def stream() -> None:
        for n in range(SUBMISSIONS):
            values = [f"crash{n}-{i}.fault.example" for i in range(PER_SUBMISSION)]
            at = int(time.time() * 1000)
            payload = ("value\n" + "\n".join(values) + "\n").encode()
            hub.submit(payload, member="acme", tlp="green", fmt="csv", received_at=at)
            sent.update({v: at for v in values})
            time.sleep(0.5)
        done.set()

    producer = threading.Thread(target=stream)
    producer.start()
    kills = 0
    try:
        while kills < 3:
            time.sleep(rng.uniform(3, 8))
            worker.kill()
            kills += 1
            worker.start()
        producer.join()
        expected = {indicator_id("domain-name", v) for v in sent}
        delivered = read_all(settings, hub.topics.contrib(TLP.GREEN, ALL), len(expected))
        by_key: dict[bytes, set[bytes]] = {}
        for key, value in delivered:
            record = orjson.loads(value)
            by_key.setdefault((record["id"] + record["modified"]).encode(), set()).add(value)
        ids = {orjson.loads(v)["id"] for _, v in delivered}
        duplicates = len(delivered) - len(by_key)
        print(f"\nkills={kills} submitted={len(expected)} delivered={len(delivered)} distinct={len(ids)} "
              f"redelivered={duplicates}")
        assert ids == expected  # nothing lost, nothing invented
        assert all(len(versions) == 1 for versions in by_key.values())  # a redelivery is the same bytes
        state: dict[str, dict] = {}
        for partition in range(2):
            for key, value in read_partition(settings, hub.topics.merge_state, partition):
                state[key.decode()] = orjson.loads(value)
        assert set(state) == expected
        for value, at in sent.items():
            entry = next(iter(state[indicator_id("domain-name", value)]["evidence"].values()))
            assert entry["first"] == entry["last"] == at  # as a rebuild from the input would have it
    finally:
        done.wait(60)
