"""The broker stops and starts mid-stream: the worker recovers by itself and nothing is lost."""
from __future__ import annotations

import subprocess
import time

import pytest

from streams.core.canonical import indicator_id
from streams.settings import ROOT
from streams.sectors import ALL
from streams.tlp import TLP
from tests.harness import read_all

pytestmark = pytest.mark.fault
KAFKA = str(ROOT / "deploy" / "kafka" / "kafka.sh")


def test_broker_restart_mid_stream(hub):
    settings, worker = hub.settings, hub.worker
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
