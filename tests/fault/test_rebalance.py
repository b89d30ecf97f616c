"""A second worker joins mid-stream and later leaves (cleanly, then a third is killed): the
partitions move twice each way, and still nothing is lost and redeliveries are identical."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fault.steady import SteadyStream, assert_nothing_lost
from tests.harness import Worker, namespace_env

pytestmark = pytest.mark.fault


def test_workers_join_and_leave_mid_stream(hub, tmp_path: Path):
    def another(name: str) -> Worker:
        return Worker(namespace_env(hub.settings, tmp_path / name, store="rocksdb", partitions="2"),
                      tmp_path / f"{name}.log")

    stream = SteadyStream(hub, "rebalance")
    stream.start()
    joined = another("joiner-1")
    try:
        time.sleep(5)
        joined.start()  # join: one of the two partitions moves to it, its state rebuilt from the changelog
        time.sleep(8)
        joined.stop()  # leave cleanly: the partition moves back
        time.sleep(4)
        crashed = another("joiner-2")
        crashed.start()
        time.sleep(5)
        crashed.kill()  # leave by crashing: the partition moves back after the session timeout
    finally:
        stream.join()
        joined.stop()
    moved = sum(log.read_text(errors="replace").count("Worker ready") for log in tmp_path.glob("joiner-*.log"))
    print(f"\nworkers joined={moved} {assert_nothing_lost(hub, stream.sent)}")
    assert moved == 2
