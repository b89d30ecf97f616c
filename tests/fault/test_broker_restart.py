"""The broker stops and starts mid-stream: the worker and a connector (the TAXII store's
materialiser, following the topics) recover by themselves and nothing is lost.

Before the restart the metadata log is churned as a long-running hub's would be (namespaces with
their topics, logins and ACLs set up and dropped): Kafka 4.1 lost every SCRAM login when it
replayed a long metadata log at start, and deploy/kafka/server.properties.in guards against it."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from connectors.taxii.materialize import collection_id
from streams.core.canonical import indicator_id
from streams.sectors import ALL
from streams.settings import ROOT
from streams.tlp import TLP
from tests.harness import drop_namespace, namespace_env, open_namespace, read_all

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(os.environ.get("KIZUNA_CLUSTER") == "1",
                                 reason="restarts the single broker; the cluster's faults are in test_cluster.py")]
KAFKA = str(ROOT / "deploy" / "kafka" / "kafka.sh")


def churn_metadata(workdir: Path, rounds: int = 8) -> None:
    for n in range(rounds):
        drop_namespace(open_namespace(f"churn{uuid.uuid4().hex[:8]}", workdir / f"churn{n}", partitions=1))


def stored(store: Path, collection: str) -> set[str]:
    """Ids of the records the TAXII store holds for a collection."""
    if not store.exists():
        return set()
    with sqlite3.connect(store) as db:
        return {row[0] for row in db.execute("SELECT id FROM objects WHERE collection = ?", (collection,))}


@pytest.mark.timeout(900)  # a broker restart on a loaded 2-core machine takes minutes
def test_broker_restart_mid_stream(hub, tmp_path: Path):
    settings, worker = hub.settings, hub.worker
    churn_metadata(tmp_path)
    store = tmp_path / "taxii.db"
    env = {**namespace_env(settings, settings.var_dir), "KIZUNA_TAXII_STORE_URL": f"sqlite:///{store}"}
    materializer = subprocess.Popen([sys.executable, "-m", "streams.cli", "taxii", "materialize", "--follow"],
                                    env=env, cwd=ROOT, stdout=(tmp_path / "materialize.log").open("wb"),
                                    stderr=subprocess.STDOUT)
    values: list[str] = []
    for n in range(20):
        batch = [f"restart{n}-{i}.fault.example" for i in range(50)]
        hub.submit(("value\n" + "\n".join(batch) + "\n").encode(), member="acme", tlp="green", fmt="csv")
        values += batch
        if n == 9:
            subprocess.run([KAFKA, "stop"], check=True, timeout=120)
            time.sleep(3)
            subprocess.run([KAFKA, "start"], check=True, timeout=240)
    expected = {indicator_id("domain-name", v) for v in values}
    topic = hub.topics.contrib(TLP.GREEN, ALL)
    delivered = read_all(settings, topic, len(expected), timeout=240)
    deadline = time.monotonic() + 120
    while not expected <= stored(store, collection_id(topic)) and time.monotonic() < deadline:
        time.sleep(1)
    in_taxii = stored(store, collection_id(topic))
    alive = materializer.poll() is None
    materializer.terminate()
    materializer.wait(30)
    print(f"\nsubmitted={len(expected)} delivered={len(delivered)} in the TAXII store={len(in_taxii & expected)} "
          f"worker alive={worker.proc.poll() is None} materialiser alive={alive}")
    assert {key.decode() for key, _ in delivered} == expected
    assert worker.proc.poll() is None  # recovered by itself, not restarted
    assert in_taxii >= expected and alive  # so did the connector
