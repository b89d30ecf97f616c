"""Hypothesis runs derandomized by default so that `make test` and CI are reproducible;
`HYPOTHESIS_PROFILE=explore make test-unit` searches with fresh random examples and more of them."""
import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.harness import Hub, Worker, drop_namespace, namespace_env, open_namespace

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A namespace of its own on the real broker (fresh topics, logins, ACLs) with a worker, per test module."""
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
