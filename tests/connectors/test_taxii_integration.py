"""The TAXII connector against real peers: the real broker and worker (tests.harness), `kizuna
taxii serve` as a subprocess read by the OASIS taxii2-client as an ISAC would, and `kizuna taxii
poll` reading the OASIS reference server, medallion, started here with its memory backend."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from connectors.taxii.materialize import collection_id, stix_topics
from streams import access, credentials
from streams.kafka_io import client_config
from streams.settings import ROOT
from streams.tlp import TLP
from tests.harness import Hub, free_port, member_ids, namespace_env

pytestmark = pytest.mark.integration

TAXII = "application/taxii+json;version=2.1"
INDICATORS = 3000
web = requests.Session()  # trusts the hub's CA once the server fixture has started (its `verify`)


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} not open within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module", autouse=True)
def _verify_as_told() -> Iterator[None]:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own `verify` (psf/requests#3829):
    without them each client here trusts exactly what it is given."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        patch.delenv("CURL_CA_BUNDLE", raising=False)
        yield


@pytest.fixture(scope="module")
def env(hub: Hub) -> dict[str, str]:
    """Environment of `kizuna taxii ...` in the hub's namespace, logged in as the hub's principal."""
    return {**namespace_env(hub.settings, hub.settings.var_dir), "KIZUNA_TAXII_METRICS_PORT": str(free_port()),
            "KIZUNA_TAXII_PORT": str(free_port()), "KIZUNA_TAXII_PAGE_SIZE_MAX": "1000"}


def kizuna(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", "taxii", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _domains(records: list[dict]) -> set[str]:
    return {next(iter(r.get("extensions", {}).values()), {}).get("value") for r in records}


@pytest.fixture(scope="module")
def published(hub: Hub) -> list[dict]:
    """A few thousand indicators submitted by acme (TLP:GREEN, whole community), as the worker published them."""
    lines = "\n".join(f"taxii-{i}.example.net" for i in range(INDICATORS))
    hub.submit(f"indicator\n{lines}\n".encode(), member="acme", tlp="green", fmt="csv", filename="feed.csv")
    topic = hub.topics.contrib(TLP.GREEN, "all")
    records = hub.until(topic, lambda found: len({r["id"] for r in found}) >= INDICATORS, timeout=90)
    assert len({r["id"] for r in records}) == INDICATORS
    return records


@pytest.fixture(scope="module")
def server(hub: Hub, env: dict[str, str], published: list[dict]) -> Iterator[str]:
    """The store materialised by `kizuna taxii materialize`, then `kizuna taxii serve` on a free port."""
    done = kizuna(env, "materialize")
    assert done.returncode == 0, done.stderr
    assert f"{INDICATORS:,} new versions stored" in done.stdout, done.stdout
    again = kizuna(env, "materialize")  # continues from the positions kept in the store
    assert again.returncode == 0 and again.stdout.startswith("0 records read"), again.stdout
    log = hub.settings.var_dir / "taxii-serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "taxii", "serve"], env=env, cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_for_port(int(env["KIZUNA_TAXII_PORT"]), proc, log)
        web.verify = str(hub.settings.ca_file())
        yield f"https://127.0.0.1:{env['KIZUNA_TAXII_PORT']}"
    finally:
        _stop(proc)


def token(hub: Hub, member: str) -> str:
    return credentials.load(hub.settings, member).token


def test_an_isac_lists_exactly_its_collections_and_pages_through_thousands(hub, server, published):
    api = Server(f"{server}/taxii2/", user="acme", password=token(hub, "acme"), verify=web.verify)
    assert api.title and len(api.api_roots) == 1
    root = api.default
    assert root.versions == [TAXII]
    listed = {c.id: c for c in root.collections}
    stix = set(stix_topics(hub.topics, member_ids()))
    entitled = {collection_id(t) for t in access.readable_topics(hub.settings, "acme") if t in stix}
    intake_id = collection_id(hub.topics.intake)
    assert set(listed) == entitled | {intake_id}
    assert listed[intake_id].can_write and not listed[intake_id].can_read
    green_all = listed[collection_id(hub.topics.contrib(TLP.GREEN, "all"))]
    assert green_all.title == "TLP:GREEN whole community (contributors: every record, with its status)"

    envelopes = list(as_pages(green_all.get_objects, per_request=500))
    objects = [obj for envelope in envelopes for obj in envelope.get("objects", [])]
    assert len(envelopes) == INDICATORS // 500 and not envelopes[-1]["more"]
    assert sorted(o["id"] for o in objects) == sorted(r["id"] for r in published)
    assert {o["type"] for o in objects} == {"indicator"}

    manifest = green_all.get_manifest(limit=1000)
    assert manifest["more"] and len(manifest["objects"]) == 1000
    entry = manifest["objects"][-1]
    assert set(entry) == {"id", "date_added", "version", "media_type"}
    later = [o for e in as_pages(green_all.get_objects, per_request=1000, added_after=entry["date_added"])
             for o in e.get("objects", [])]
    assert len(later) == INDICATORS - 1000 and entry["id"] not in {o["id"] for o in later}

    one = green_all.get_object(entry["id"])["objects"]
    assert [o["id"] for o in one] == [entry["id"]] and one[0]["modified"] == entry["version"]
    assert green_all.object_versions(entry["id"])["versions"] == [entry["version"]]


def test_a_member_sees_no_collection_it_is_not_entitled_to(hub, server, published):
    contrib = collection_id(hub.topics.contrib(TLP.GREEN, "all"))
    # pinned general tier
    general = ApiRoot(f"{server}/api/", user="initech", password=token(hub, "initech"), verify=web.verify)
    listed = {c.id for c in general.collections}
    assert contrib not in listed and collection_id(hub.topics.share(TLP.GREEN, "all")) in listed
    assert collection_id(hub.topics.inbox("acme")) not in listed
    for path in (f"collections/{contrib}/", f"collections/{contrib}/objects/", f"collections/{contrib}/manifest/",
                 f"collections/{collection_id(hub.topics.inbox('acme'))}/objects/", f"collections/{uuid.uuid4()}/"):
        answer = web.get(f"{server}/api/{path}", auth=("initech", token(hub, "initech")),
                         headers={"Accept": TAXII})
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"] == TAXII and answer.json()["http_status"] == "404"
        assert "TLP" not in answer.text  # the answer does not name what it hides


def test_https_by_default_a_client_must_trust_the_hubs_ca(hub, server):
    """taxii2-client with the hub's CA works; without it (system CAs only) the handshake is refused, and
    nothing answers plain HTTP on the TLS port."""
    assert Server(f"{server}/taxii2/", user="acme", password=token(hub, "acme"), verify=web.verify).title
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        Server(f"{server}/taxii2/", user="acme", password=token(hub, "acme")).title
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.replace("https://", "http://") + "/taxii2/", auth=("acme", token(hub, "acme")), timeout=10)


def test_credentials_are_required_and_checked(hub, server):
    url = f"{server}/api/collections/"
    assert web.get(url, headers={"Accept": TAXII}).status_code == 401
    assert "Basic" in web.get(url).headers["WWW-Authenticate"]
    assert web.get(url, auth=("acme", "not-the-token")).status_code == 401
    # acme's token, someone else's name
    assert web.get(url, auth=("globex", token(hub, "acme"))).status_code == 401
    bearer = web.get(url, headers={"Authorization": f"Bearer {token(hub, 'acme')}", "Accept": TAXII})
    assert bearer.status_code == 200 and bearer.headers["Content-Type"] == TAXII
    assert web.get(url, auth=("acme", token(hub, "acme")), headers={"Accept": "text/html"}).status_code == 406


def test_bad_parameters_get_a_taxii_error_saying_which(hub, server):
    objects = f"{server}/api/collections/{collection_id(hub.topics.contrib(TLP.GREEN, 'all'))}/objects/"
    auth = ("acme", token(hub, "acme"))
    for params, word in (({"limit": "lots"}, "limit"), ({"added_after": "yesterday"}, "added_after"),
                         ({"next": "x"}, "next"), ({"match[version]": "newest"}, "match[version]")):
        answer = web.get(objects, params=params, auth=auth, headers={"Accept": TAXII})
        assert answer.status_code == 400 and word in answer.json()["description"], params


def test_a_bundle_posted_to_intake_becomes_a_submission_with_a_status(hub, server):
    green = TLP.GREEN.marking_id
    indicators = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                   "created": "2025-06-01T00:00:00.000Z", "modified": "2025-06-01T00:00:00.000Z",
                   "pattern": f"[domain-name:value = 'posted-{i}.example.org']", "pattern_type": "stix",
                   "valid_from": "2025-06-01T00:00:00Z", "object_marking_refs": [green]} for i in range(3)]
    identity = {"type": "identity", "spec_version": "2.1", "id": f"identity--{uuid.uuid4()}", "name": "Globex SOC",
                "created": "2025-06-01T00:00:00.000Z", "modified": "2025-06-01T00:00:00.000Z"}
    intake_url = f"{server}/api/collections/{collection_id(hub.topics.intake)}/"
    intake = Collection(intake_url, user="globex", password=token(hub, "globex"), verify=web.verify)
    status = intake.add_objects({"objects": [*indicators, identity]}, wait_for_completion=False)
    assert (status.status, status.total_count, status.success_count, status.failure_count) == ("complete", 4, 3, 1)
    assert status.failures[0]["id"] == identity["id"] and "withheld" in status.failures[0]["message"]
    globex_root = ApiRoot(f"{server}/api/", user="globex", password=token(hub, "globex"), verify=web.verify)
    again = globex_root.get_status(status.id)
    assert again.success_count == 3 and {s["id"] for s in again.successes} == {i["id"] for i in indicators}
    with pytest.raises(requests.HTTPError) as other:
        ApiRoot(f"{server}/api/", user="acme", password=token(hub, "acme"), verify=web.verify).get_status(status.id)
    assert other.value.response.status_code == 404
    reading = web.get(intake_url + "objects/", auth=("globex", token(hub, "globex")), headers={"Accept": TAXII})
    assert reading.status_code == 403

    wanted = {f"posted-{i}.example.org" for i in range(3)}
    records = hub.until(hub.topics.contrib(TLP.GREEN, "all"), lambda found: wanted <= _domains(found), timeout=60)
    assert wanted <= _domains(records)
    assert not any("Globex" in json.dumps(r) for r in records)


def test_intake_scope_from_query_parameters_and_clear_refusals(hub, server):
    auth, intake_id = ("wayne", token(hub, "wayne")), collection_id(hub.topics.intake)
    objects_url = f"{server}/api/collections/{intake_id}/objects/"
    unmarked = {"objects": [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                             "created": "2025-06-01T00:00:00.000Z", "modified": "2025-06-01T00:00:00.000Z",
                             "pattern": "[ipv4-addr:value = '203.0.113.77']", "pattern_type": "stix",
                             "valid_from": "2025-06-01T00:00:00Z"}]}
    headers = {"Accept": TAXII, "Content-Type": TAXII}
    posted = web.post(objects_url, params={"tlp": "amber", "sector": "finance"}, data=json.dumps(unmarked),
                           auth=auth, headers=headers)
    assert posted.status_code == 202 and posted.json()["success_count"] == 1
    records = hub.until(hub.topics.contrib(TLP.AMBER, "finance"), lambda found: "203.0.113.77" in _domains(found))
    assert "203.0.113.77" in _domains(records)

    def refused(url: str, **kwargs) -> tuple[int, str]:
        answer = web.post(url, auth=auth, **{"headers": headers, "data": json.dumps(unmarked), **kwargs})
        return answer.status_code, answer.json().get("description", "")

    assert refused(objects_url,
                   params={"tlp": "purple"}) == (400, "tlp 'purple' is not a TLP level (clear, green, amber, "
                                                      "amber+strict, red)")
    assert refused(objects_url, params={"sector": "mars"})[0] == 400
    assert refused(objects_url, data="{not json")[0] == 400
    assert refused(objects_url, data='{"objects": []}')[0] == 400
    assert refused(objects_url, headers={"Accept": TAXII, "Content-Type": "application/json"})[0] == 415
    readable = collection_id(hub.topics.share(TLP.GREEN, "all"))
    assert refused(f"{server}/api/collections/{readable}/objects/")[0] == 403
    assert refused(f"{server}/api/collections/{collection_id(hub.topics.inbox('acme'))}/objects/")[0] == 404


def test_metrics_count_requests_by_endpoint_template_never_by_member_or_id(hub, server, env):
    acme = ("acme", token(hub, "acme"))
    shown, hidden = (collection_id(hub.topics.contrib(TLP.GREEN, sector)) for sector in ("all", "finance"))
    assert web.get(f"{server}/api/collections/{shown}/objects/", auth=acme, params={"limit": 1}).status_code == 200
    assert web.get(f"{server}/api/collections/{hidden}/objects/", auth=acme).status_code == 404
    text = web.get(f"http://127.0.0.1:{env['KIZUNA_TAXII_METRICS_PORT']}/metrics").text
    lines = [line for line in text.splitlines() if line.startswith("kizuna_taxii_requests_total{")]
    assert any('endpoint="/api/collections/{collection}/objects/"' in line and 'status="200"' in line for line in lines)
    assert any('status="404"' in line for line in lines)
    for member in member_ids():
        assert member not in text
    assert shown not in text and hidden not in text


# --- the poller against medallion -------------------------------------------------------------

REMOTE_OBJECTS = 300
REMOTE_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


@pytest.fixture(scope="module")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """medallion with its memory backend, serving a collection of a few hundred unmarked indicators."""
    work = tmp_path_factory.mktemp("medallion")
    base = 1_748_736_000  # 2025-06-01
    objects, manifest = [], []
    for i in range(REMOTE_OBJECTS):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i)) + ".000Z"
        objects.append({"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=i + 1)}",
                        "created": stamp, "modified": stamp, "pattern_type": "stix", "valid_from": stamp,
                        "pattern": f"[domain-name:value = 'remote-{i}.example.com']"})  # TLP from `--tlp`
        manifest.append({"id": objects[-1]["id"], "date_added": stamp.replace(".000Z", ".000000Z"), "version": stamp,
                         "media_type": "application/stix+json;version=2.1"})
    port = free_port()
    data = {
        "/discovery": {"title": "An ISAC", "default": f"http://127.0.0.1:{port}/isac/",
                       "api_roots": [f"http://127.0.0.1:{port}/isac/"]},
        "isac": {"information": {"title": "ISAC feed", "versions": [TAXII], "max_content_length": 10_000_000},
                 "status": [],
                 "collections": [{"id": REMOTE_COLLECTION, "title": "Indicators", "can_read": True, "can_write": False,
                                  "media_types": ["application/stix+json;version=2.1"],
                                  "objects": objects, "manifest": manifest}]},
    }
    (work / "data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                          "filename": str(work / "data.json")},
              "users": {"kizuna": "isac-secret"}, "taxii": {"max_page_size": 100}}
    (work / "config.json").write_text(json.dumps(config))
    log = work / "medallion.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "medallion"), "--host", "127.0.0.1", "--port", str(port),
                             str(work / "config.json")], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/isac/"
    finally:
        _stop(proc)


def _intake_end(hub: Hub) -> int:
    consumer = Consumer({**client_config(hub.settings), "group.id": f"t-{uuid.uuid4()}"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(hub.topics.intake, p), timeout=10)[1]
                   for p in range(hub.settings.partitions))
    finally:
        consumer.close()


def test_poll_imports_a_remote_collection_once(hub, env, medallion, tmp_path):
    poller = {**env, "KIZUNA_TAXII_REMOTE_USER": "kizuna", "KIZUNA_TAXII_REMOTE_PASSWORD": "isac-secret",
              "KIZUNA_TAXII_STATE_DIR": str(tmp_path), "KIZUNA_TAXII_POLL_PAGE_SIZE": "100"}
    first = kizuna(poller, "poll", medallion, "--collection", REMOTE_COLLECTION, "--as", "hooli", "--tlp", "clear")
    assert first.returncode == 0, first.stderr
    assert f"{REMOTE_OBJECTS} objects in 3 pages: 3 submissions" in first.stdout, first.stdout
    wanted = {f"remote-{i}.example.com" for i in range(REMOTE_OBJECTS)}
    records = hub.until(hub.topics.contrib(TLP.CLEAR, "all"), lambda found: wanted <= _domains(found), timeout=60)
    assert wanted <= _domains(records)
    position = json.loads((tmp_path / "poll-positions.json").read_text())
    assert list(position.values()) == [time.strftime("%Y-%m-%dT%H:%M:%S",
                                                     time.gmtime(1_748_736_000 + REMOTE_OBJECTS - 1)) + ".000Z"]

    before = _intake_end(hub)
    second = kizuna(poller, "poll", medallion, "--collection", REMOTE_COLLECTION, "--as", "hooli", "--tlp", "clear")
    assert second.returncode == 0, second.stderr
    assert "0 objects in 1 pages: 0 submissions" in second.stdout, second.stdout
    assert _intake_end(hub) == before  # nothing was submitted again


def test_poll_follow_keeps_polling_from_its_position_until_interrupted(hub, env, medallion, tmp_path):
    poller = {**env, "KIZUNA_TAXII_REMOTE_USER": "kizuna", "KIZUNA_TAXII_REMOTE_PASSWORD": "isac-secret",
              "KIZUNA_TAXII_STATE_DIR": str(tmp_path), "KIZUNA_TAXII_POLL_PAGE_SIZE": "100",
              "KIZUNA_TAXII_POLL_INTERVAL_S": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "taxii", "poll", medallion, "--collection",
                             REMOTE_COLLECTION, "--as", "hooli", "--tlp", "clear", "--follow"],
                            env=poller, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        summaries = [proc.stdout.readline() for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        _stop(proc)
    assert f"{REMOTE_OBJECTS} objects in 3 pages" in summaries[0]
    assert all("0 objects in 1 pages" in line for line in summaries[1:]), summaries


def test_poll_says_what_is_wrong_without_a_traceback(hub, env, medallion, tmp_path):
    poller = {**env, "KIZUNA_TAXII_STATE_DIR": str(tmp_path), "KIZUNA_TAXII_REMOTE_USER": "kizuna",
              "KIZUNA_TAXII_REMOTE_PASSWORD": "wrong"}
    refused = kizuna(poller, "poll", medallion, "--collection", REMOTE_COLLECTION, "--as", "hooli")
    assert refused.returncode == 2 and "HTTP 401" in refused.stderr and "Traceback" not in refused.stderr
    stranger = kizuna(poller, "poll", medallion, "--collection", REMOTE_COLLECTION, "--as", "nobody")
    assert stranger.returncode == 2 and "no credentials for member 'nobody'" in stranger.stderr
    down = kizuna(poller, "poll", f"http://127.0.0.1:{free_port()}/isac/", "--collection", "x", "--as", "hooli")
    assert down.returncode == 2 and "cannot reach" in down.stderr
    assert not (tmp_path / "poll-positions.json").exists()


def test_a_withdrawal_revokes_the_record_in_the_inbox_on_the_topics_and_in_the_taxii_store(hub, server):
    """globex shares a value with acme's inbox (AMBER) and with everyone (GREEN), then withdraws it with
    `kizuna withdraw`: both are revoked on their topics, the TAXII server serves the revocation, and
    globex's audit trail says why; withdrawing what it never shared is a skip, not an error."""
    value = f"withdrawn-{uuid.uuid4().hex[:8]}.example"
    hub.submit(f"value\n{value}\n".encode(), member="globex", tlp="amber", fmt="csv", to=["acme"])
    hub.submit(f"value\n{value}\n".encode(), member="globex", tlp="green", fmt="csv")
    inbox, green = hub.topics.inbox("acme"), hub.topics.contrib(TLP.GREEN, "all")
    for topic in (inbox, green):
        assert value in _domains(hub.until(topic, lambda rs: value in _domains(rs)))

    done = subprocess.run([sys.executable, "-m", "streams.cli", "withdraw", value, "--as", "globex", "--json"],
                          env=hub.worker.env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    record_id = json.loads(done.stdout)["withdrawn"][0]

    def revoked(records: list[dict]) -> list[dict]:
        return [r for r in records if r["id"] == record_id and r.get("revoked") is True]

    for topic in (inbox, green):
        last = revoked(hub.until(topic, lambda rs: bool(revoked(rs)), timeout=60))
        assert len(last) == 1, topic
        extension = next(iter(last[0]["extensions"].values()))
        assert extension["withdrawn"] is True and extension["reporter_count"] == 0 and extension["value"] == value

    collection = Collection(f"{server}/api/collections/{collection_id(inbox)}/", user="acme",
                            password=token(hub, "acme"), verify=web.verify)
    deadline, served = time.monotonic() + 60, []
    while time.monotonic() < deadline and not any(o.get("revoked") for o in served):
        served = collection.get_object(record_id).get("objects", [])  # the newest version, as TAXII serves
        time.sleep(0.5)
    assert [o.get("revoked") for o in served] == [True]

    trail = hub.until(hub.topics.member_audit("globex"),
                      lambda rows: any(d.get("cause") == "withdrawn" for r in rows for d in r))
    withdrawn = [d for rows in trail for d in rows if d["id"] == record_id and d.get("cause") == "withdrawn"]
    assert {(d["topic"], d["status"]) for d in withdrawn} >= {(inbox, "revoked"), (green, "revoked")}

    stray = f"never-shared-{uuid.uuid4().hex[:8]}.example"
    assert subprocess.run([sys.executable, "-m", "streams.cli", "withdraw", stray, "--as", "globex"],
                          env=hub.worker.env, capture_output=True, cwd=ROOT, timeout=60).returncode == 0
    outcomes = hub.until(hub.topics.member_rejected("globex"), lambda rs: any(r["format"] == "withdrawal" for r in rs))
    skipped = [r for r in outcomes if r["format"] == "withdrawal"]
    assert [(r["code"], r["outcome"]) for r in skipped] == [("nothing-to-withdraw", "skipped")]
