"""`kizuna members sync --follow` on the real broker: an access change in the registry reaches the
member's ACLs within seconds of the edit (measured and printed), not on the next minute's poll."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka.admin import AclOperation

from streams import access, credentials, members
from streams.kafka_io import admin
from streams.settings import ROOT, get_settings
from streams.tlp import TLP
from streams.topics import Topics
from tests.harness import MEMBERS_FILE, PSEUDONYM_KEY, drop_namespace, open_namespace

pytestmark = pytest.mark.integration


def _readable(client, namespace: str, member: str) -> set[str]:
    return {name for _, name, _, op in access._current(client, credentials.principal(namespace, member))
            if op == AclOperation.READ}


def _edit(path, change) -> float:
    registry = members.load(path)
    members.save(path, members.Registry(members=[m for m in map(change, registry.members) if m is not None]))
    return time.monotonic()


def _until(done, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the change did not reach the broker"
        time.sleep(0.05)
    return time.monotonic()


def test_clearance_change_and_removal_reach_the_acls_within_seconds(tmp_path):
    namespace = "t" + uuid.uuid4().hex[:10]
    registry_file = tmp_path / "members.yaml"
    shutil.copy(MEMBERS_FILE, registry_file)
    settings = open_namespace(namespace, tmp_path, partitions=1, members_file=registry_file)
    env = {**os.environ, "KIZUNA_NAMESPACE": namespace, "KIZUNA_VAR_DIR": str(tmp_path), "KIZUNA_PARTITIONS": "1",
           "KIZUNA_MEMBERS_FILE": str(registry_file), "KIZUNA_PSEUDONYM_KEY": PSEUDONYM_KEY,
           "KIZUNA_KAFKA_USER": "admin", "KIZUNA_KAFKA_PASSWORD": get_settings().kafka_secret(),
           "KIZUNA_KAFKA_CA_FILE": str(settings.ca_file())}
    log = tmp_path / "sync.log"
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "members", "sync", "--follow"], env=env, cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    client, topics = admin(settings), Topics(namespace)
    amber = topics.share(TLP.AMBER, "finance")
    try:
        _until(lambda: b"sync in" in log.read_bytes() or proc.poll() is not None, 60)
        assert proc.poll() is None, log.read_text()
        assert amber in _readable(client, namespace, "globex")

        edited = _edit(registry_file, lambda m: m.model_copy(update={"max_tlp": "green"}) if m.id == "globex" else m)
        lowered = _until(lambda: amber not in _readable(client, namespace, "globex")) - edited
        assert topics.share(TLP.GREEN, "finance") in _readable(client, namespace, "globex")

        edited = _edit(registry_file, lambda m: None if m.id == "wayne" else m)
        removed = _until(lambda: not _readable(client, namespace, "wayne")) - edited
        print(f"\naccess follows the registry: clearance lowered in {lowered:.2f} s, member removed in {removed:.2f} s")
        assert lowered < 10 and removed < 10
        assert proc.poll() is None, log.read_text()
    finally:
        proc.terminate()
        proc.wait(15)
        drop_namespace(settings)
