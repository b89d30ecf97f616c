"""The pollers against a local server speaking each source's real format (tests/vulnsources.py):
windows and paging (NVD), conditional requests, retries, saved positions, batching (MyJVN),
CSAF provider directories, and XML that must not be expanded."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from connectors.vulns.poller import Poller
from connectors.vulns.settings import VulnSettings
from streams.core.vuln_model import Advisory
from streams.settings import Settings
from tests.vulnsources import serving

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()


@pytest.fixture()
def source(tmp_path):
    with serving() as server:
        published: list[Advisory] = []

        def poller(**overrides: object) -> Poller:
            settings = VulnSettings(**{
                "kev_url": f"{server.url}/kev.json", "nvd_url": f"{server.url}/nvd", "myjvn_url": f"{server.url}/myjvn",
                "jvn_rss_urls": [f"{server.url}/rss.rdf"], "csaf_urls": [f"{server.url}/csaf/"], "min_interval_s": 0,
                "retries": 2, "backoff_s": 0.01, "state_file": tmp_path / "vulns.json", **overrides})
            return Poller(Settings(var_dir=tmp_path), settings, clock=lambda: NOW, sink=published.extend)

        yield server, poller, published


def test_nvd_windows_paging_key_and_position(source) -> None:
    server, poller, published = source
    got = poller(nvd_backfill_days=250, nvd_page_size=2, nvd_api_key="k3y").poll(["nvd"])
    assert got == {"nvd": 9}  # three windows (120 + 120 + 10 days), each read in pages of two
    asked = [(q["lastModStartDate"][0], q["lastModEndDate"][0], q["startIndex"][0]) for p, q, _ in server.requests]
    assert [a[2] for a in asked] == ["0", "2"] * 3
    windows = sorted({(a[0], a[1]) for a in asked})
    for (start, end), (next_start, _) in zip(windows, windows[1:]):
        assert end == next_start  # contiguous, nothing skipped
    for start, end in windows:
        span = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
        assert span.days <= 120
    assert all(h.get("apikey") == "k3y" for _, _, h in server.requests)
    assert {a.id for a in published} == {"CVE-2021-44228", "CVE-2022-41993", "CVE-2024-53704"}
    assert json.loads((poller().state.path).read_text())["nvd_position"] == "2026-12-01T00:00:00.000Z"
    server.requests.clear()
    assert poller().poll(["nvd"]) == {"nvd": 0} and server.requests == []  # nothing newer than the position


def test_retries_then_gives_up_keeping_the_position(source) -> None:
    server, poller, published = source
    server.failures = [503, 429]
    assert poller().poll(["kev"]) == {"kev": 2}
    assert len(server.requests) == 3
    server.failures = [503] * 3
    assert poller(nvd_backfill_days=1).poll(["nvd"]) == {"nvd": -1}
    assert "nvd_position" not in json.loads(poller().state.path.read_text())


def test_kev_conditional_request(source) -> None:
    server, poller, published = source
    assert poller().poll(["kev"]) == {"kev": 2}
    assert poller().poll(["kev"]) == {"kev": 0}  # If-None-Match -> 304
    assert server.requests[-1][2].get("if-none-match")
    kev = {a.id: a.kev for a in published}
    assert kev["CVE-2021-44228"] == {"date_added": "2021-12-10", "due_date": "2021-12-24", "ransomware": "Known",
                                     "required_action": kev["CVE-2021-44228"]["required_action"]}


def test_myjvn_overview_rss_and_detail_in_batches(source) -> None:
    server, poller, published = source
    assert poller().poll(["jvn"]) == {"jvn": 1}
    details = [q for p, q, _ in server.requests if q.get("method") == ["getVulnDetailInfo"]]
    asked = [i for q in details for i in q["vulnId"][0].split("+")]
    # two ids from getVulnOverviewList, four from the RSS feed; at most ten per request
    assert sorted(asked) == ["JVNDB-2023-028576", "JVNDB-2023-028577", "JVNDB-2023-028578", "JVNDB-2023-028579",
                             "JVNDB-2025-002884", "JVNDB-2025-002953"] and all(len(q["vulnId"][0].split("+")) <= 10
                                                                                for q in details)
    advisory = published[0]
    assert advisory.title == {"ja": "電子入札コアシステムにおける複数の脆弱性"}
    assert advisory.cves == ["CVE-2022-41993", "CVE-2022-46287", "CVE-2022-46288"]
    assert advisory.cvss and advisory.cvss["version"] == "3.0" and advisory.cvss["score"] == 6.1
    assert [a.text for a in advisory.affected] == ["v6 R4 およびそれ以前のバージョン"]
    server.requests.clear()
    assert poller().poll(["jvn"]) == {"jvn": 0}  # every id seen at its modified time: nothing read again


def test_csaf_provider_directory(source) -> None:
    server, poller, published = source
    server.extra["/csaf/changes.csv"] = (b'"2022/bsi-2022-0001.json","2022-03-17T13:03:42Z"\n'
                                         b'"../../etc/passwd","2022-03-18T00:00:00Z"\n')
    server.files["/csaf/2022/bsi-2022-0001.json"] = "csaf_bsi-2022-0001.json"
    assert poller().poll(["csaf"]) == {"csaf": 1}
    assert published[0].id == "BSI-2022-0001#CVE-2022-27193" and len(published[0].affected) == 5
    assert not any(".." in p for p, _, _ in server.requests)
    assert poller().poll(["csaf"]) == {"csaf": 0}  # changes.csv unchanged: 304


def test_xml_entities_are_refused(source) -> None:
    server, poller, published = source
    server.files.pop("/rss.rdf")
    server.extra["/rss.rdf"] = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
                                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>')
    assert poller().poll(["jvn"]) == {"jvn": -1} and published == []


def test_settings_fail_with_the_variable_named(monkeypatch) -> None:
    from connectors.vulns.settings import get_vuln_settings
    from streams.settings import ConfigError

    monkeypatch.setenv("KIZUNA_VULNS_SOURCES", '["kev", "osv"]')
    get_vuln_settings.cache_clear()
    with pytest.raises(ConfigError, match="KIZUNA_VULNS_SOURCES"):
        get_vuln_settings()
    get_vuln_settings.cache_clear()


def test_a_cve_taken_out_of_kev_is_published_withdrawn(source) -> None:
    server, poller, published = source
    server.files["/kev.json"] = "kev_later.json"
    assert poller().poll(["kev"]) == {"kev": 3}
    server.files["/kev.json"] = "kev.json"
    published.clear()
    assert poller().poll(["kev"]) == {"kev": 3}
    assert [(a.id, a.withdrawn) for a in published if a.withdrawn] == [("CVE-2023-34192", True)]
