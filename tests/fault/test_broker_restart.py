"""The broker stops and starts mid-stream: the worker recovers by itself and nothing is lost.

Before the restart the metadata log is churned as a long-running hub's would be (namespaces with
their topics, logins and ACLs set up and dropped): Kafka 4.1 lost every SCRAM login when it
replayed a long metadata log at start, and deploy/kafka/server.properties.in guards against it."""
from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from streams.core.canonical import indicator_id
from streams.settings import ROOT
from streams.sectors import ALL
from streams.tlp import TLP
from tests.harness import drop_namespace, open_namespace, read_all

pytestmark = pytest.mark.fault
KAFKA = str(ROOT / "deploy" / "kafka" / "kafka.sh")


def churn_metadata(workdir: Path, rounds: int = 8) -> None:
    for n in range(rounds):
        drop_namespace(open_namespace(f"churn{uuid.uuid4().hex[:8]}", workdir / f"churn{n}", partitions=1))


def test_broker_restart_mid_stream(hub, tmp_path: Path):
    settings, worker = hub.settings, hub.worker
    churn_metadata(tmp_path)
    values: list[str] = []
    for n in range(20):
        batch = [f"restart{n}-{i}.fault.example" for i in range(50)]
        hub.submit(("value\n" + "\n".join(batch) + "\n").encode(), member="acme", tlp="green", fmt="csv")
        values += batch
        if n == 9:
            subprocess.run([KAFKA, "stop"], check=True, timeout=120)
            time.sleep(3)
            subprocess.run([KAFKA, "start"], check=True, timeout=120)
    expected = {indicator_id("domain-name", v) for v in values}
    delivered = read_all(settings, hub.topics.contrib(TLP.GREEN, ALL), len(expected), timeout=240)
    print(f"\nsubmitted={len(expected)} delivered={len(delivered)} worker alive={worker.proc.poll() is None}")
    assert {key.decode() for key, _ in delivered} == expected
    assert worker.proc.poll() is None  # recovered by itself, not restarted
