"""Prometheus metrics of the workers and connectors, served on `/metrics`.

Labels carry stage, format, type, TLP, sector, tier, reason, kind: never indicator values
or member names (DESIGN rule 5). An inbox is a member's, so records published to one are
counted under the sector label "inbox", never "@<member>". The dashboards in
deploy/grafana/ and the alerts in deploy/prometheus/ are written against these names.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from streams import members
from streams.constants import DAY_MS
from streams.core.feedback import KINDS
from streams.core.formats import FORMATS
from streams.core.items import SKIP_REASONS, Reason
from streams.core.merge import INBOX
from streams.core.normalize import pseudonym
from streams.sectors import ALL
from streams.topics import SECTOR_TOPIC_LEVELS

if TYPE_CHECKING:
    from streams.core.reputation import Book
    from streams.settings import Settings

STAGES = ("normalize", "feedback", "merge", "match")
WINDOWS = {"1d": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}

SUBMISSIONS = Counter("kizuna_submissions_total", "Submissions taken from intake and parsed", ["format"])
OBJECTS_IN = Counter("kizuna_objects_in_total", "Usable objects found in submissions", ["format"])
NORMALIZED = Counter("kizuna_records_normalized_total", "Objects normalised into records", ["stix_type"])
REJECTIONS = Counter("kizuna_rejections_total", "Defective items rejected to kizuna.rejected", ["reason"])
SKIPS = Counter("kizuna_skips_total", "Items left out by a documented policy (kizuna.rejected, outcome skipped)",
                ["reason"])
MERGED = Counter("kizuna_merge_objects_total",
                 "Objects merged per batch: published a new version or suppressed as duplicate", ["outcome"])
PUBLISHED = Counter("kizuna_published_total", "Record versions published", ["tlp", "sector", "tier"])
FEEDBACK = Counter("kizuna_feedback_total", "Valid feedback taken in", ["kind"])
WITHDRAWALS = Counter("kizuna_withdrawals_total", "Withdrawals by providers (STIX revoked, MISP deleted, `kizuna "
                      "withdraw`): evidence withdrawn, or nothing of theirs to withdraw", ["outcome"])
STATUS = Counter("kizuna_general_versions_total",
                 "Versions published to general members, by status (confirmed, revoked)", ["tlp", "status"])
CONFIDENCE = Histogram("kizuna_published_confidence", "Confidence of published record versions", ["tlp"],
                       buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
LATENCY = Histogram(
    "kizuna_publish_latency_seconds", "From intake receipt to publication acknowledged by the broker",
    ["tlp", "sector"],
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
)
STAGE_SECONDS = Histogram(
    "kizuna_stage_seconds", "Processing time of one batch per stage", ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
CONSUMER_LAG = Gauge("kizuna_consumer_lag", "Messages not yet consumed, summed over the groups of a kind "
                     "(worker, hub, member) per topic; member topics as <ns>.org.*.<kind>", ["group_kind", "topic"])
LAG_REFRESH = Gauge("kizuna_consumer_lag_refreshed_timestamp_seconds",
                    "When consumer lag was last read from the brokers")

# Vulnerability notices (R8): by basis and action, never by product, asset or member.
VULN_NOTICES = Counter("kizuna_vuln_notices_total", "Asset-match notices sent", ["basis", "action"])
VULN_LATENCY = Histogram("kizuna_vuln_notice_latency_seconds",
                         "From the trigger (advisory or asset change on its topic) to the notice acknowledged by the "
                         "broker", ["trigger"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
VULN_ADVISORIES = Counter("kizuna_vuln_advisories_total", "Advisories taken in by the match agent", ["source"])

# For connectors (the TAXII server): endpoint is the route template, never a path with ids in it.
BROKER_WAITING = Gauge("kizuna_broker_waiting",
                       "1 while this process waits out a Kafka outage (retrying with backoff), else 0", ["process"])
BROKER_OUTAGES = Counter("kizuna_broker_outages_total", "Kafka outages this process waited out or is waiting out",
                         ["process"])
TAXII_REQUESTS = Counter("kizuna_taxii_requests_total", "TAXII requests answered", ["endpoint", "status"])
TAXII_SECONDS = Histogram("kizuna_taxii_request_seconds", "TAXII request handling time", ["endpoint"],
                          buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))



def _start_known_series_at_zero() -> None:
    """Series of the label values known in advance exist from the start, at 0: the first increment
    then shows in rate(), and "no batch for an hour" is measurable right after a restart."""
    for stage in STAGES:
        STAGE_SECONDS.labels(stage)
    for fmt in FORMATS:
        if fmt != "auto":  # the detected format is counted, never "auto"
            SUBMISSIONS.labels(fmt)
            OBJECTS_IN.labels(fmt)
    for reason in (value for name, value in vars(Reason).items() if name.isupper()):
        (SKIPS if reason in SKIP_REASONS else REJECTIONS).labels(reason)
    for kind in KINDS:
        FEEDBACK.labels(kind)
    for outcome in ("published", "suppressed"):
        MERGED.labels(outcome)
    for outcome in ("withdrawn", "nothing-to-withdraw"):
        WITHDRAWALS.labels(outcome)
    for level in SECTOR_TOPIC_LEVELS:
        for status in ("confirmed", "revoked"):
            STATUS.labels(level.slug, status)


_start_known_series_at_zero()


def sector_label(target: str) -> str:
    """The `sector` label of a publication's target: the sector, or "inbox" for a member's inbox."""
    return "inbox" if target.startswith(INBOX) else target


def contributing_members(registry: members.Registry, contributions: Callable[[str], int]) -> dict[str, int]:
    """Members with at least one contribution, per sector they belong to; `all`: every member.
    `contributions(member_id)` counts one member's contributions in the window at hand."""
    out = {ALL: 0}
    for member in registry.members:
        if contributions(member.id) > 0:
            out[ALL] += 1
            for sector in member.sectors:
                if sector != ALL:
                    out[sector] = out.get(sector, 0) + 1
    return out


class ContributorsCollector:
    """`kizuna_contributing_members{sector, window}`, counted from the worker's reputation book when
    Prometheus scrapes: a count per sector, never who."""

    def __init__(self, book: Book, settings: Settings) -> None:
        self.book, self.settings = book, settings
        self.secret = settings.pseudonym_secret()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("kizuna_contributing_members",
                                   "Members that submitted or gave feedback in the window, per sector (all: every "
                                   "member)",
                                   labels=["sector", "window"])
        registry, now = members.load(self.settings.members_file), int(time.time() * 1000)
        for window, span in WINDOWS.items():
            counts = contributing_members(
                registry, lambda member: self.book.contributions(pseudonym(self.secret, member), now, span))
            for sector, count in sorted(counts.items()):
                family.add_metric([sector, window], count)
        yield family


def count_contributors(book: Book, settings: Settings) -> None:
    REGISTRY.register(ContributorsCollector(book, settings))


def serve(port: int) -> bool:
    """Serve /metrics on `port`; 0: not at all (returns whether it serves)."""
    if not port:
        return False
    start_http_server(port)
    return True
