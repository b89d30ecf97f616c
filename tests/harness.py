"""Test harness shared by the integration tests and the benchmarks: a worker subprocess in a
namespace of its own, submitting to intake and reading topics with plain Kafka clients."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaError

from streams import access, credentials, members
from streams.core.signing import member_key
from streams.intake import envelope, feedback_item
from streams.kafka_io import Publisher, admin, client_config, create_topics
from streams.records import feedback_codec, submission_codec
from streams.sectors import ALL
from streams.settings import ROOT, Settings, get_settings
from streams.tlp import TLP
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

    def start(self, timeout: float = 90) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
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

    def key(self, member: str) -> bytes:
        """The member's current signing key, as the hub issued it (its credentials file; after a rotation
        the new one)."""
        if credentials.issued(self.settings, member):
            return credentials.load(self.settings, member).key
        return member_key(self.settings.pseudonym_secret(), self.settings.namespace, member)

    def submit(self, payload: bytes, member: str = "acme", tlp: str | None = "green", sectors: list[str] | None = None,
               fmt: str = "auto", filename: str = "submission", flush: bool = True, to: list[str] | None = None,
               received_at: int | None = None, bulk: bool = False, override_distribution: bool = False) -> str:
        """A signed submission, sent with the admin's producer (one connection for every member)."""
        record = envelope(member, payload, fmt, filename, tlp, sectors or [], to or [], self.key(member), received_at,
                          override_distribution)
        topic = self.topics.intake_bulk if bulk else self.topics.intake
        self.publisher.send(topic, submission_codec().encode(record), record["submission_id"].encode())
        if flush:
            self.publisher.flush_sync()
        return record["submission_id"]

    def signed_feedback(self, indicator: str, member: str, kind: str = "sighting", count: int = 1,
                        tlp: str | None = "green") -> dict:
        return feedback_item(member, indicator, kind, count, tlp, self.key(member))

    def feedback(self, indicator: str, member: str, kind: str = "sighting", count: int = 1,
                 tlp: str | None = "green") -> str:
        item = self.signed_feedback(indicator, member, kind, count, tlp)
        self.publisher.send(self.topics.feedback, feedback_codec().encode({"items": [item]}),
                            item["feedback_id"].encode())
        self.publisher.flush_sync()
        return item["feedback_id"]

    def vouch(self, *vouched: str, timeout: float = 90.0) -> None:
        """The operator vouches for `vouched` with the real CLI (`kizuna vouch`), then waits until the
        worker has read it: a TLP:CLEAR probe reported by the last of them scores above a newcomer's
        report (37), as the vouches reach the worker in order on the one reputation partition."""
        for member in vouched:
            done = subprocess.run([sys.executable, "-m", "streams.cli", "vouch", member], env=self.worker.env,
                                  capture_output=True, text=True, cwd=ROOT, timeout=60)
            assert done.returncode == 0, done.stderr
        probes, deadline = self.topics.contrib(TLP.CLEAR, ALL), time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = f"vouch-probe-{uuid.uuid4().hex[:8]}.example"
            self.submit(f"value\n{probe}\n".encode(), member=vouched[-1], tlp="clear", fmt="csv")
            shown = [r["confidence"] for r in self.until(probes, lambda rs: probe in orjson.dumps(rs).decode(), 30)
                     if probe in orjson.dumps(r).decode()]
            if shown and shown[0] > 37:
                return
        raise AssertionError(f"the worker did not take up the vouches for {', '.join(vouched)} within {timeout:.0f} s")

    def until(self, topic: str, done, timeout: float = 60.0) -> list[dict]:
        """Records on `topic`, read again until `done(records)` holds (asynchronous effects)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.read(topic, expect=0, settle=0.5)
            if done(records) or time.monotonic() > deadline:
                return records

    def read(self, topic: str, expect: int, settle: float = 2.0, timeout: float = 45.0) -> list[dict]:
        """Every record on `topic`: waits for `expect`, then `settle` s more to catch any extra."""
        consumer = Consumer({**client_config(self.settings), "group.id": f"t-{uuid.uuid4()}",
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


def namespace_env(hub: Settings, workdir: Path, **settings: str) -> dict[str, str]:
    """Environment of a worker of the namespace `open_namespace` made: its own login, ports and state."""
    principal = credentials.hub_principal(hub.namespace)
    password = (hub.secrets_dir / "kafka" / f"{principal}.password").read_text().strip()
    env = {**os.environ, "KIZUNA_NAMESPACE": hub.namespace, "KIZUNA_METRICS_PORT": str(free_port()),
           "KIZUNA_WEB_PORT": str(free_port()), "KIZUNA_PSEUDONYM_KEY": PSEUDONYM_KEY,
           "KIZUNA_VAR_DIR": str(workdir), "KIZUNA_LOG_LEVEL": "info", "KIZUNA_KAFKA_USER": principal,
           "KIZUNA_KAFKA_PASSWORD": password, "KIZUNA_MEMBERS_FILE": str(hub.members_file),
           "KIZUNA_WARNINGLISTS": "false", "KIZUNA_KAFKA_CA_FILE": str(hub.ca_file())}
    env.update({f"KIZUNA_{k.upper()}": v for k, v in settings.items()})
    return env


MEMBERS_FILE = ROOT / "tests" / "fixtures" / "members.yaml"


def member_ids() -> list[str]:
    return [m.id for m in members.load(MEMBERS_FILE).members]


def open_namespace(namespace: str, workdir: Path, partitions: int, members_file: Path = MEMBERS_FILE) -> Settings:
    """A namespace as `kizuna setup` makes it: topics, the hub's login, members' credentials and ACLs.
    The settings returned are the broker admin's, with this namespace's secrets under `workdir`."""
    settings = Settings(namespace=namespace, partitions=partitions, var_dir=workdir, pseudonym_key=PSEUDONYM_KEY,
                        members_file=members_file, kafka_password=get_settings().kafka_secret(),
                        kafka_ca_file=get_settings().ca_file())
    registry = members.load(members_file)
    create_topics(settings, Topics(namespace).plan(settings, [m.id for m in registry.members]))
    client = admin(settings)
    access.ensure_hub(settings, client)
    access.sync(settings, client, registry, access.standings(settings, registry))
    return settings


def drop_namespace(settings: Settings) -> None:
    """Delete the namespace's topics, logins and ACLs."""
    client = admin(settings)
    ids = [m.id for m in members.load(settings.members_file).members]
    client.delete_topics([spec.name for spec in Topics(settings.namespace).plan(settings, ids)], request_timeout=30)
    for member in ids:
        access.drop_member(client, settings.namespace, member)
    access.drop_user(client, credentials.hub_principal(settings.namespace))


def read_all(settings: Settings, topic: str, expect: int, timeout: float = 180) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record until `expect` distinct keys were seen and 5 s passed quietly."""
    consumer = Consumer({**client_config(settings), "group.id": f"f-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out, deadline, quiet = [], time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(1000, 0.5) if m.error() is None]
            out += [(m.key(), m.value()) for m in batch]
            if len({k for k, _ in out}) >= expect:
                quiet = quiet or time.monotonic() + 5
                if time.monotonic() > quiet:
                    break
    finally:
        consumer.close()
    return out


def standalone(doc: str, run, **defaults) -> None:
    """Run one benchmark from the command line: `--name value` per keyword of `run`, a scratch
    directory as `workdir`, the figures printed as JSON."""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=doc)
    for name, default in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(workdir=Path(tmp), **vars(args)), indent=2))
