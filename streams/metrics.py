"""Prometheus metrics of the workers. Labels carry stage, format, TLP, sector, reason: never
indicator values or member names (DESIGN rule 5)."""
from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

SUBMISSIONS = Counter("kizuna_submissions_total", "Submissions taken from intake", ["format"])
NORMALIZED = Counter("kizuna_records_normalized_total", "Objects normalised into records", ["stix_type"])
REJECTIONS = Counter("kizuna_rejections_total", "Items rejected to kizuna.rejected", ["reason"])
MERGED = Counter("kizuna_merge_objects_total", "Objects merged per batch: published a new version or suppressed as duplicate", ["outcome"])
PUBLISHED = Counter("kizuna_published_total", "Record versions published", ["tlp", "sector", "tier"])
FEEDBACK = Counter("kizuna_feedback_total", "Valid feedback taken in", ["kind"])
STATUS = Counter("kizuna_general_versions_total", "Versions published to general members, by status (confirmed, revoked)", ["tlp", "status"])
CONFIDENCE = Histogram("kizuna_published_confidence", "Confidence of published record versions", ["tlp"],
                       buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
LATENCY = Histogram(
    "kizuna_publish_latency_seconds", "From intake receipt to publication acknowledged by the broker", ["tlp"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
STAGE_SECONDS = Histogram(
    "kizuna_stage_seconds", "Processing time of one message per stage", ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)


def serve(port: int) -> None:
    if port:
        start_http_server(port)
