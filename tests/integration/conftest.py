"""Integration tests: the real local broker, the worker as a subprocess, a namespace of their own.

Each test module gets fresh topics and consumer groups (a random namespace), so
runs never see each other's records. `make test` starts the broker if needed.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError

from streams.kafka_io import Publisher, admin, create_topics
from streams.records import submission_codec
from streams.settings import ROOT, Settings
from streams.topics import Topics

PSEUDONYM_KEY = "integration-test-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    """A `kizuna worker` subprocess in one namespace; can be killed and restarted."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.proc = env, log, None

    def start(self, timeout: float = 60) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=self.env,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:]
            if b"Worker ready" in text:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{text.decode(errors='replace')[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError("worker not ready in time")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Hub:
    """What a test needs: the namespace's settings and topics, a way to submit and to read."""

    def __init__(self, settings: Settings, worker: Worker) -> None:
        self.settings = settings
        self.topics = Topics(settings.namespace)
        self.worker = worker
        self.publisher = Publisher(settings, "integration-tests")

    def submit(self, payload: bytes, member: str = "acme", tlp: str | None = "green", sectors: list[str] | None = None,
               fmt: str = "auto", filename: str = "submission") -> str:
        envelope = {"submission_id": str(uuid.uuid4()), "submitter": member, "received_at": int(time.time() * 1000),
                    "format": fmt, "filename": filename, "tlp": tlp, "sectors": sectors or [], "payload": payload}
        self.publisher.send(self.topics.intake, submission_codec().encode(envelope), envelope["submission_id"].encode())
        self.publisher.flush_sync()
        return envelope["submission_id"]

    def read(self, topic: str, expect: int, settle: float = 2.0, timeout: float = 45.0) -> list[dict]:
        """Every record on `topic`: waits for `expect`, then `settle` s more to catch any extra."""
        consumer = Consumer({"bootstrap.servers": self.settings.bootstrap_servers, "group.id": f"t-{uuid.uuid4()}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([topic])
        records: list[dict] = []
        deadline, settled = time.monotonic() + timeout, None
        try:
            while time.monotonic() < deadline:
                if len(records) >= expect:
                    settled = settled or time.monotonic() + settle
                    if time.monotonic() > settled:
                        break
                msg = consumer.poll(0.2)
                if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                    continue
                assert not msg.error(), msg.error()
                records.append(orjson.loads(msg.value()))
        finally:
            consumer.close()
        return records


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    namespace = "t" + uuid.uuid4().hex[:10]
    workdir = tmp_path_factory.mktemp(namespace)
    env = {**os.environ, "KIZUNA_NAMESPACE": namespace, "KIZUNA_STORE": "memory", "KIZUNA_PARTITIONS": "2",
           "KIZUNA_METRICS_PORT": str(free_port()), "KIZUNA_WEB_PORT": str(free_port()),
           "KIZUNA_PSEUDONYM_KEY": PSEUDONYM_KEY, "KIZUNA_VAR_DIR": str(workdir), "KIZUNA_LOG_LEVEL": "info"}
    settings = Settings(namespace=namespace, partitions=2, var_dir=workdir)
    try:
        create_topics(settings, Topics(namespace).plan(settings))
    except Exception as exc:  # noqa: BLE001 - say what to do instead of a Kafka traceback
        pytest.fail(f"no Kafka broker at {settings.bootstrap_servers} ({exc}); run the tests with `make test`")
    worker = Worker(env, workdir / "worker.log")
    worker.start()
    yield Hub(settings, worker)
    worker.stop()
    names = [spec.name for spec in Topics(namespace).plan(settings)]
    admin(settings).delete_topics(names, request_timeout=30)


@pytest.fixture()
def read_file():
    fixtures = ROOT / "tests" / "fixtures"
    return lambda name: (fixtures / name).read_bytes()
