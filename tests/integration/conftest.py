"""Integration tests: the real local broker, the worker as a subprocess, a namespace of their own.

Each test module gets fresh topics and consumer groups (a random namespace), so
runs never see each other's records. `make test` starts the broker if needed.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from streams.settings import ROOT
from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    namespace = "t" + uuid.uuid4().hex[:10]
    workdir = tmp_path_factory.mktemp(namespace)
    try:
        settings = open_namespace(namespace, workdir, partitions=2)
    except Exception as exc:  # noqa: BLE001 - say what to do instead of a Kafka traceback
        pytest.fail(f"no Kafka broker reachable ({exc}); run the tests with `make test`")
    worker = Worker(namespace_env(settings, workdir, store="memory", partitions="2"), workdir / "worker.log")
    worker.start()
    yield Hub(settings, worker)
    worker.stop()
    drop_namespace(settings)


@pytest.fixture()
def read_file():
    fixtures = ROOT / "tests" / "fixtures"
    return lambda name: (fixtures / name).read_bytes()
