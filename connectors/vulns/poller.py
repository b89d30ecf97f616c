"""The pollers: each source read from its saved position, with conditional requests, a pause between
requests to one host and retries (fetch.Http), and every advisory put on kizuna.vulns keyed by
source:id (compacted: the newest version of each record is what a restarted match agent reads).

Runs as the hub (`kizuna vulns poll`); a failed request leaves the position where it was, so the
next poll reads the same window again.
"""
from __future__ import annotations

import csv
import io
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from xml.etree.ElementTree import ParseError

import orjson

from connectors.vulns import parse
from connectors.vulns.fetch import FetchFailed, Http, State
from connectors.vulns.settings import VulnSettings
from streams.core.vuln_model import Advisory
from streams.kafka_io import Publisher
from streams.settings import Settings
from streams.topics import Topics

log = logging.getLogger("kizuna.vulns")
NVD_TIME = "%Y-%m-%dT%H:%M:%S.000Z"


class Poller:
    def __init__(self, settings: Settings, vulns: VulnSettings, clock: Callable[[], float] = time.time,
                 sink: Callable[[list[Advisory]], None] | None = None) -> None:
        """`sink` takes each batch of advisories (tests); by default they go to kizuna.vulns."""
        self.settings, self.vulns, self.clock, self.sink = settings, vulns, clock, sink
        path = vulns.state_file or settings.state_dir / "vulns.json"
        self.state = State(path)
        self.http = Http(self.state, vulns.min_interval_s, vulns.retries, vulns.backoff_s, vulns.timeout_s,
                         vulns.max_bytes)
        self.publisher = Publisher(settings, f"{settings.namespace}-vulns") if sink is None else None
        self.topic = Topics(settings.namespace).vulns

    def publish(self, advisories: list[Advisory]) -> int:
        """Put advisories on kizuna.vulns and wait for the broker: a position moves only past published ones."""
        if self.publisher is None:
            assert self.sink is not None
            self.sink(advisories)
            return len(advisories)
        for advisory in advisories:
            self.publisher.send(self.topic, orjson.dumps(advisory.to_dict()), advisory.key.encode())
        self.publisher.flush_sync()
        return len(advisories)

    def poll(self, sources: list[str] | None = None) -> dict[str, int]:
        """One poll of each source; returns advisories published per source (-1: the source failed)."""
        done = {}
        for source in sources or self.vulns.sources:
            try:
                done[source] = getattr(self, source)()
            except (FetchFailed, ValueError, ParseError) as exc:  # a bad answer: try again next poll
                log.error("vulns: %s poll failed, position kept: %s", source, exc)
                done[source] = -1
        return done

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll()
            stop.wait(self.vulns.poll_interval_s)

    # --- sources ------------------------------------------------------------------------------

    def kev(self) -> int:
        """The catalogue; a CVE CISA has taken out of it since the last poll is published withdrawn."""
        answer = self.http.get(self.vulns.kev_url, conditional=True)
        if answer.status == 304:
            return 0
        listed = parse.kev(orjson.loads(answer.body))
        ids = {advisory.id for advisory in listed}
        gone = sorted(set(self.state.get("kev_listed", [])) - ids)
        count = self.publish(listed + [Advisory("kev", cve, cves=[cve], withdrawn=True) for cve in gone])
        self.state.put("kev_listed", sorted(ids))
        self.http.done(answer)
        return count

    def nvd(self) -> int:
        """Changes by lastModStartDate/EndDate in windows the API allows, page by page."""
        now = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        position = self.state.get("nvd_position")
        start = (datetime.strptime(position, NVD_TIME).replace(tzinfo=timezone.utc) if position
                 else now - timedelta(days=self.vulns.nvd_backfill_days))
        headers = {"apiKey": self.vulns.nvd_api_key.get_secret_value()} if self.vulns.nvd_api_key else {}
        count = 0
        while start < now:
            end = min(now, start + timedelta(days=self.vulns.nvd_window_days))
            index = 0
            while True:
                params = {"lastModStartDate": start.strftime(NVD_TIME), "lastModEndDate": end.strftime(NVD_TIME),
                          "resultsPerPage": self.vulns.nvd_page_size, "startIndex": index}
                page = orjson.loads(self.http.get(self.vulns.nvd_url, params, headers).body)
                count += self.publish(parse.nvd(page))
                index += int(page.get("resultsPerPage", 0))
                if not page.get("resultsPerPage") or index >= int(page.get("totalResults", 0)):
                    break
            self.state.put("nvd_position", end.strftime(NVD_TIME))
            start = end
        return count

    def jvn(self) -> int:
        """Entries changed since the last poll (getVulnOverviewList by last-update date, and the JVNDB
        RSS feeds), each read in full with getVulnDetailInfo (ten at a time, the API's limit)."""
        seen: dict[str, str] = dict(self.state.get("jvn_seen", {}))
        changed: dict[str, str] = {}
        today = datetime.fromtimestamp(self.clock(), tz=timezone.utc).astimezone(timezone(timedelta(hours=9)))
        backfill = today - timedelta(days=self.vulns.nvd_backfill_days)
        since = self.state.get("jvn_position") or backfill.date().isoformat()
        first = 1
        while True:
            year, month, day = since.split("-")
            params = {"method": "getVulnOverviewList", "feed": "hnd", "startItem": first,
                      "maxCountItem": self.vulns.jvn_page_size, "lang": self.vulns.jvn_lang,
                      "rangeDatePublic": "n", "rangeDatePublished": "n", "rangeDateFirstPublished": "n",
                      "datePublishedStartY": year, "datePublishedStartM": month, "datePublishedStartD": day}
            items, status = parse.jvn_list(self.http.get(self.vulns.myjvn_url, params).body)
            changed.update({i: m for i, m in items if seen.get(i) != m})
            first += len(items)
            if not items or first > int(status.get("totalRes", 0)):
                break
        feeds = []
        for url in self.vulns.jvn_rss_urls:
            answer = self.http.get(url, conditional=True)
            if answer.status != 304:
                items, _ = parse.jvn_list(answer.body)
                changed.update({i: m for i, m in items if seen.get(i) != m})
                feeds.append(answer)
        count = 0
        ids = sorted(changed)
        for batch in (ids[i:i + 10] for i in range(0, len(ids), 10)):
            params = {"method": "getVulnDetailInfo", "feed": "hnd", "vulnId": "+".join(batch),
                      "lang": self.vulns.jvn_lang}
            count += self.publish(parse.jvn_detail(self.http.get(self.vulns.myjvn_url, params).body))
            seen.update({i: changed[i] for i in batch})
            self.state.put("jvn_seen", seen)
        for answer in feeds:
            self.http.done(answer)
        self.state.put("jvn_position", today.date().isoformat())
        return count

    def csaf(self) -> int:
        """Each CSAF source: a document URL, or a provider directory whose changes.csv lists documents."""
        count = 0
        for url in self.vulns.csaf_urls:
            if url.endswith(".json"):
                answer = self.http.get(url, conditional=True)
                if answer.status != 304:
                    count += self.publish(parse.csaf(orjson.loads(answer.body)))
                    self.http.done(answer)
                continue
            base = url.rstrip("/")
            positions: dict[str, Any] = dict(self.state.get("csaf_positions", {}))
            answer = self.http.get(f"{base}/changes.csv", conditional=True)
            if answer.status == 304:
                continue
            rows = sorted((row[1], row[0]) for row in csv.reader(io.StringIO(answer.body.decode())) if len(row) >= 2)
            for changed_at, path in rows:
                if changed_at <= positions.get(base, ""):
                    continue
                if ".." in path or path.startswith("/"):
                    log.warning("vulns: CSAF changes.csv row with an unsafe path skipped")
                    continue
                document = self.http.get(f"{base}/{path}")
                count += self.publish(parse.csaf(orjson.loads(document.body)))
                positions[base] = changed_at
                self.state.put("csaf_positions", positions)
            self.http.done(answer)
        return count
