"""Fault tests: one worker with its state on disk (RocksDB), in a namespace of its own per test."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[Hub]:
    namespace = "f" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, tmp_path, partitions=2)
    worker = Worker(namespace_env(settings, tmp_path / "w", store="rocksdb", partitions="2"), tmp_path / "worker.log")
    worker.start()
    yield Hub(settings, worker)
    worker.stop()
    drop_namespace(settings)
