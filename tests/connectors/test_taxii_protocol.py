"""Pure parts of the TAXII server and poller: credentials, content negotiation, the status
resource of a POST, and where the poller resumes."""
from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from connectors.taxii.client import PollError, Positions, _position
from connectors.taxii.server import _accepts_taxii, _credentials, _status, build_app, tls_context
from connectors.taxii.settings import TaxiiSettings
from connectors.taxii.store import ObjectStore
from streams.settings import ConfigError, Settings


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("header", "expected"), [
    (basic("acme", "s3cret:with:colons"), ("acme", "s3cret:with:colons")),
    ("Bearer abc", (None, "abc")), ("Token abc", (None, "abc")), ("bearer  abc ", (None, "abc")),
    (basic("acme", ""), None), ("Basic !!!", None), ("Bearer ", None), ("Digest x", None), ("", None),
])
def test_credentials_from_the_authorization_header(header, expected):
    assert _credentials(header) == expected


@pytest.mark.parametrize(("accept", "ok"), [
    ("application/taxii+json;version=2.1", True), ("application/taxii+json", True), ("*/*", True),
    ("text/html, application/taxii+json; version=2.1", True), ("application/taxii+json;version=2.0", False),
    ("application/json", False), ("text/html", False),
])
def test_content_negotiation(accept, ok):
    assert _accepts_taxii(accept) is ok


def test_status_lists_each_object_with_the_parsers_verdict():
    objects = [{"id": "indicator--1", "modified": "2025-06-01T00:00:00.000Z"}, {"id": "identity--2"}, "not an object"]
    problems = {"object identity--2": "identity objects are not shared [withheld]",
                "objects[2]": "not a JSON object [malformed]"}
    status = _status("sub-1", 1_748_736_000.0, objects, problems)
    assert (status["status"], status["total_count"], status["success_count"], status["failure_count"],
            status["pending_count"]) == ("complete", 3, 1, 2, 0)
    assert status["successes"] == [{"id": "indicator--1", "version": "2025-06-01T00:00:00.000Z"}]
    assert [f["id"] for f in status["failures"]] == ["identity--2", "objects[2]"]
    assert status["request_timestamp"] == "2025-06-01T00:00:00.000Z"


def test_a_problem_with_the_whole_submission_fails_every_object():
    status = _status("sub-2", 0.0, [{"id": "indicator--1"}, {"id": "indicator--2"}],
                     {"envelope": "unknown sector 'mars' [unknown-sector]"})
    assert status["success_count"] == 0 and {f["message"] for f in status["failures"]} == {"unknown sector 'mars' "
                                                                                           "[unknown-sector]"}


def test_position_mid_collection_rereads_the_boundary_date_at_the_end_does_not():
    assert _position("2025-06-01T00:00:05.000Z", more=False) == "2025-06-01T00:00:05.000Z"
    assert _position("2025-06-01T00:00:05.000Z", more=True) == "2025-06-01T00:00:04.999999Z"
    with pytest.raises(PollError, match="X-TAXII-Date-Added-Last"):
        _position("soon", more=False)


def test_positions_are_kept_per_collection_and_a_damaged_file_is_named(tmp_path):
    positions = Positions(tmp_path)
    positions.put("https://a/api/collections/1/", "2025-06-01T00:00:00.000Z")
    positions.put("https://a/api/collections/2/", "2025-06-02T00:00:00.000Z")
    assert Positions(tmp_path).get("https://a/api/collections/1/") == "2025-06-01T00:00:00.000Z"
    assert positions.get("https://b/") is None
    positions.path.write_text("{broken")
    with pytest.raises(PollError, match="poll-positions.json is damaged"):
        positions.get("https://a/api/collections/1/")



async def _discovery(workdir: Path, taxii: TaxiiSettings, settings: Settings, user: str, token: str) -> int:
    from aiohttp.test_utils import TestClient, TestServer

    store = ObjectStore(f"sqlite:///{workdir / 'store.db'}")
    try:
        async with TestClient(TestServer(build_app(settings, taxii, store))) as client:
            answer = await client.get("/taxii2/", headers={"Authorization": basic(user, token)})
            return answer.status
    finally:
        store.close()


def _ask(workdir: Path, taxii: TaxiiSettings, settings: Settings, user: str, token: str) -> int:
    """The status the TAXII server (its app in-process, over plain HTTP) answers a discovery request with."""
    return asyncio.run(_discovery(workdir, taxii, settings, user, token))


@pytest.mark.parametrize(("taxii", "answered"), [
    ({"tls": False}, 403),  # credentials would cross the network in clear: refused before they are checked
    ({"tls": False, "allow_plain_http": True}, 401),  # development: checked (and unknown)
    ({"tls": False, "public_url": "https://taxii.isac.example"}, 401),  # TLS ends at a proxy in front
])
def test_credentials_over_plain_http_only_where_the_operator_said_so(tmp_path, taxii, answered):
    (tmp_path / "members.yaml").write_text("members: []\n")
    settings = Settings(var_dir=tmp_path, members_file=tmp_path / "members.yaml", kafka_password="x")
    assert _ask(tmp_path, TaxiiSettings(**taxii), settings, "acme", "token") == answered


def test_plain_http_without_a_reason_does_not_start(tmp_path):
    settings = Settings(var_dir=tmp_path, kafka_password="x")
    with pytest.raises(ConfigError, match="KIZUNA_TAXII_ALLOW_PLAIN_HTTP"):
        tls_context(settings, TaxiiSettings(tls=False))
    assert tls_context(settings, TaxiiSettings(tls=False, allow_plain_http=True)) is None
