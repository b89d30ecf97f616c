"""TLS on the real broker: no client reaches it in clear or without trusting the hub's CA; a member's
credentials file alone (CA inside) logs it in over TLS; Debian's kcat, which cannot do SCRAM with
Kafka 4, reads a member's topic with the file's client certificate exactly as the README shows, with
the member's ACLs and nothing more."""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from connectors.taxii.settings import TaxiiSettings
from streams import access, credentials, members, pki, rotation
from streams.kafka_io import Publisher, admin, client_config
from streams.settings import ROOT, Settings
from streams.tlp import TLP
from streams.topics import Topics
from tests.connectors.test_taxii_protocol import _ask
from tests.harness import drop_namespace, open_namespace

pytestmark = pytest.mark.integration

RECORDS = [{"type": "indicator", "id": f"indicator--{uuid.UUID(int=i)}", "name": f"tls-{i}"} for i in range(3)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A namespace (topics, logins, ACLs, members' credentials) with three records on globex's GREEN
    finance topic and one in acme's inbox; no worker is needed to test logging in."""
    namespace = "t" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, tmp_path_factory.mktemp(namespace), partitions=1)
    topics = Topics(namespace)
    publisher = Publisher(settings, "tls-tests")
    for record in RECORDS:
        publisher.send(topics.share(TLP.GREEN, "finance"), json.dumps(record).encode(), record["id"].encode())
    publisher.send(topics.inbox("acme"), b"{}", b"k")
    publisher.flush_sync()
    yield settings
    drop_namespace(settings)


def _refused(config: dict) -> str:
    """What librdkafka logged while the broker would not serve this client (it must not)."""
    logger = logging.getLogger(f"rdkafka-{uuid.uuid4()}")
    lines: list[str] = []
    logger.addHandler(_Lines(lines))
    logger.setLevel(logging.INFO)
    client = AdminClient({**config, "logger": logger})
    with pytest.raises(KafkaException):
        client.list_topics(timeout=3)
    client.poll(0.5)  # serve the log lines queued meanwhile
    return " ".join(lines)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_plaintext_client_is_refused(hub):
    config = {k: v for k, v in client_config(hub).items() if not k.startswith("ssl.")}
    # The TLS listener hangs up on the first plaintext request (the API versions query).
    assert "closed by peer" in _refused({**config, "security.protocol": "SASL_PLAINTEXT"})
    assert AdminClient(client_config(hub)).list_topics(timeout=30).topics  # the same login over TLS is served


def test_a_client_that_does_not_trust_the_hubs_ca_is_refused(hub, tmp_path):
    other_ca, _ = pki.ca_paths(tmp_path)
    pki.ensure_ca(tmp_path)  # a CA of its own: the broker's certificate is not signed by it
    assert "certificate verify failed" in _refused({**client_config(hub), "ssl.ca.location": str(other_ca)})


def test_a_member_with_its_credentials_file_reads_its_topics_over_tls(hub, tmp_path):
    issued = credentials.path(hub, "globex")
    assert issued.stat().st_mode & 0o777 == 0o600
    member_file = tmp_path / "globex.json"
    shutil.copy(issued, member_file)
    # The member's machine: its credentials file and nothing else of the hub's (no var/secrets, no CA file).
    on_member = Settings(namespace=hub.namespace, bootstrap_servers=hub.bootstrap_servers, credentials_file=member_file,
                         var_dir=tmp_path / "var", members_file=hub.members_file)
    config = client_config(on_member, "globex")
    assert config["security.protocol"] == "SASL_SSL" and "ssl.ca.location" not in config
    consumer = Consumer({**config, "group.id": Topics(hub.namespace).member_group_prefix("globex") + "tls",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([Topics(hub.namespace).share(TLP.GREEN, "finance")])
    seen: list[dict] = []
    try:
        for _ in range(100):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.append(json.loads(msg.value()))
            if len(seen) == len(RECORDS):
                break
    finally:
        consumer.close()
    assert seen == RECORDS


def _readme_kcat_block() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- kcat example: tests/security/test_tls.py runs this block -->\n```sh\n(.*?)```", readme,
                      re.S)
    assert found, "README.md lost its tested kcat example"
    return found.group(1)


def _kcat(hub: Settings, workdir: Path, script: str) -> subprocess.CompletedProcess:
    shutil.copy(credentials.path(hub, "globex"), workdir / "globex.json")
    # The README's topics are the default namespace's; the test's namespace has its own prefix.
    script = script.replace("kizuna.", f"{hub.namespace}.")
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(shutil.which("kcat") is None or shutil.which("jq") is None,
                    reason="needs Debian's kcat and jq (`apt-get install kcat jq`; .ci/run installs them)")
def test_debians_kcat_reads_a_members_topic_with_its_certificate_as_the_readme_shows(hub, tmp_path):
    version = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    done = _kcat(hub, tmp_path, _readme_kcat_block())
    assert done.returncode == 0, f"{version}\n{done.stderr}"
    assert [json.loads(line) for line in done.stdout.splitlines()] == RECORDS
    assert (tmp_path / "globex.key").stat().st_mode & 0o777 == 0o600
    # The certificate names the member's principal, so its ACLs apply: another's inbox is refused.
    other = _kcat(hub, tmp_path, _readme_kcat_block().replace("kizuna.share.green.finance", "kizuna.org.acme.inbox"))
    assert other.returncode != 0 and "authoriz" in other.stderr.lower(), other.stderr


def _cert_config(hub: Settings, creds: credentials.Credentials, workdir: Path) -> dict:
    """A librdkafka client logging in with the member's certificate, as stock tools do."""
    for name, text in (("ca.pem", creds.ca_cert), ("member.crt", creds.client_cert), ("member.key", creds.client_key)):
        (workdir / name).write_text(text or "")
    return {"bootstrap.servers": creds.cert_bootstrap_servers, "security.protocol": "SSL",
            "ssl.ca.location": str(workdir / "ca.pem"), "ssl.certificate.location": str(workdir / "member.crt"),
            "ssl.key.location": str(workdir / "member.key")}


def _reads(config: dict, topic: str) -> int | None:
    """None if globex can read `topic` to its end, else the broker's error code."""
    namespace = topic.split(".", 1)[0]
    consumer = Consumer({**config, "group.id": Topics(namespace).member_group_prefix("globex") + "rotation",
                         "enable.partition.eof": True, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        for _ in range(40):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error():
                code = msg.error().code()
                return None if code == KafkaError._PARTITION_EOF else code
        return KafkaError._TIMED_OUT
    finally:
        consumer.close()


def test_rotation_refuses_the_old_password_at_once_and_the_old_certificate_and_token_after_the_overlap(hub, tmp_path):
    topic = Topics(hub.namespace).share(TLP.GREEN, "finance")
    old = credentials.load(hub, "globex")
    (tmp_path / "old").mkdir()
    old_cert = _cert_config(hub, old, tmp_path / "old")
    assert _reads(old_cert, topic) is None
    new = rotation.rotate(hub, "globex", overlap_s=3600)
    (tmp_path / "new").mkdir()
    assert new.cert_generation == old.cert_generation + 1 and new.token != old.token
    # SCRAM: one credential per user, so the old password is refused at once, the new one served.
    assert "Authentication failed" in _refused({**client_config(hub, "globex"), "sasl.password": old.kafka_password})
    assert _reads(client_config(hub, "globex"), topic) is None
    # During the overlap both certificates and both tokens work.
    assert _reads(_cert_config(hub, new, tmp_path / "new"), topic) is None and _reads(old_cert, topic) is None
    taxii = TaxiiSettings(tls=False, allow_plain_http=True)
    assert access.member_for_token(hub, old.token) is not None
    # The overlap ends (as if the hour had passed): a sync drops the old certificate's ACLs, the old token fails.
    credentials.path(hub, "globex").write_text(new.model_copy(update={"previous_until": 1.0}).model_dump_json())
    registry = members.load(hub.members_file)
    access.sync(hub, admin(hub), registry, access.standings(hub, registry))
    assert _reads(old_cert, topic) in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    assert _reads(_cert_config(hub, new, tmp_path / "new"), topic) is None
    assert access.member_for_token(hub, old.token) is None and access.member_for_token(hub, new.token) is not None
    assert _ask(tmp_path, taxii, hub, "globex", old.token) == 401
    assert _ask(tmp_path, taxii, hub, "globex", new.token) == 200
