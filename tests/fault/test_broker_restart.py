"""The broker stops and starts mid-stream: the worker recovers by itself and nothing is lost."""
from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from streams.core.canonical import indicator_id
from streams.settings import ROOT
from streams.sectors import ALL
from streams.tlp import TLP
from tests.fault.test_worker_crash import read_all
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace

pytestmark = pytest.mark.fault
KAFKA = str(ROOT / "deploy" / "kafka" / "kafka.sh")


def test_broker_restart_mid_stream(tmp_path):
    namespace = "r" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, tmp_path, partitions=2)
    worker = Worker(namespace_env(namespace, tmp_path / "w", store="rocksdb", partitions="2"), tmp_path / "worker.log")
    worker.start()
    hub = Hub(settings, worker)
    values: list[str] = []
    try:
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
    finally:
        worker.stop()
        drop_namespace(settings)
