"""Record contracts: pydantic models that mirror schemas/*.avsc, and the Avro codec.

Schemas are parsed once; messages are Avro single-object encoded (the writer's schema
fingerprint, then the body), so readers of one version read the next and the previous.
Agents pass plain dicts on the hot path; the models are the documented contract
and validate at the edges (CLI, tests). tests/unit/test_records.py checks that
models and schemas agree.
"""
from __future__ import annotations

import io
import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from pydantic import BaseModel, Field

from streams.settings import ROOT

SCHEMA_DIR = ROOT / "schemas"


class Submission(BaseModel):
    submission_id: str
    submitter: str
    received_at: int = Field(description="Epoch milliseconds.")
    format: str = "auto"
    filename: str | None = None
    tlp: str | None = None
    sectors: list[str] = Field(default_factory=list)
    recipients: list[str] = Field(default_factory=list)
    payload: bytes
    signature: bytes | None = Field(None, description="HMAC-SHA256 by the member's signing key.")
    override_distribution: bool = Field(False, description="Share MISP events narrower by distribution than `tlp` "
                                        "at `tlp` anyway (--override-distribution).")


class NormalizedRecord(BaseModel):
    id: str
    stix_type: str
    tlp: str
    observable: str | None = None
    value: str | None = None
    pattern: str | None = None
    indicator_types: list[str] = Field(default_factory=list)
    body: str | None = None
    warninglists: list[str] = Field(default_factory=list)
    for_detection: bool = Field(True, description="False: not marked for detection by the provider (MISP to_ids).")
    withdrawn: bool = Field(False, description="True: the reporter withdraws its reports of this record.")


class FeedbackRecord(BaseModel):
    feedback_id: str
    id: str
    member: str = Field(description="Pseudonym of the member.")
    kind: str
    count: int
    tlp: str
    observed_at: int


class NormalizedBatch(BaseModel):
    submission_id: str
    reporter: str = Field(description="Keyed pseudonym of the submitter, never its name.")
    sectors: list[str] = Field(default_factory=list)
    observed_at: int = Field(description="Epoch milliseconds.")
    recipients: list[str] = Field(default_factory=list)
    named: str | None = None
    records: list[NormalizedRecord]
    feedback: list[FeedbackRecord] = Field(default_factory=list)


class Feedback(BaseModel):
    feedback_id: str
    member: str
    kind: str
    indicator: str
    count: int = 1
    tlp: str | None = None
    observed_at: int = Field(description="Epoch milliseconds.")
    signature: bytes | None = Field(None, description="HMAC-SHA256 by the member's signing key.")


class FeedbackBatch(BaseModel):
    items: list[Feedback]


class Rejection(BaseModel):
    """JSON on kizuna.rejected: what could not be used, where, and why."""

    submission_id: str
    reporter: str = Field(description="Pseudonym of the submitter, never its name.")
    where: str = Field(description="File, object id, attribute or line the problem is in.")
    code: str = Field(description="Reason code, see docs/records.md.")
    reason: str = Field(description="What is wrong, for a person to fix.")
    format: str
    received_at: datetime
    outcome: str = Field("rejected", description="rejected (defective, fix it) or skipped (left out by a "
                         "documented policy, not an error); see docs/records.md.")


MAGIC = b"\xc3\x01"  # Avro single-object encoding: marker, 8-byte schema fingerprint, body


def _fingerprint(schema: Any) -> bytes:
    return int(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"), 16).to_bytes(8, "little")


class AvroCodec:
    """Avro single-object encoding for one schema, parsed once.

    Every message names its writer's schema by fingerprint, so a reader decodes
    records of any earlier version it ships (schemas/history/) by resolution, and
    records of a later version by reading its own fields: schemas evolve only by
    appending fields with defaults (docs/records.md), which an older reader skips.
    """

    def __init__(self, schema_file: str) -> None:
        self.schema = _parse(SCHEMA_DIR / schema_file)
        self.fingerprint = _fingerprint(self.schema)
        stem = schema_file.removesuffix(".avsc")
        older = (_parse(path) for path in sorted((SCHEMA_DIR / "history").glob(f"{stem}.v*.avsc")))
        self.writers = {_fingerprint(schema): schema for schema in older}

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(MAGIC + self.fingerprint)
        fastavro.schemaless_writer(buffer, self.schema, record)
        return buffer.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode a record of this schema, an older one (resolved to ours) or a newer one."""
        if data[:2] != MAGIC or len(data) < 10:
            raise ValueError("not an Avro single-object encoded record")
        body = io.BytesIO(memoryview(data)[10:])
        writer = self.writers.get(bytes(data[2:10]))
        if writer is None:  # ours (the fast path: no resolution step) or a newer version's prefix
            record = fastavro.schemaless_reader(body, self.schema, None)
        else:
            record = fastavro.schemaless_reader(body, writer, self.schema)
        if not isinstance(record, dict):
            raise ValueError("not a record")
        return record


def _parse(path: Path) -> Any:
    return fastavro.parse_schema(json.loads(path.read_text()))


@lru_cache(maxsize=None)
def codec(schema_file: str) -> AvroCodec:
    return AvroCodec(schema_file)


def submission_codec() -> AvroCodec:
    return codec("submission.avsc")


def batch_codec() -> AvroCodec:
    return codec("normalized_batch.avsc")


def feedback_codec() -> AvroCodec:
    return codec("feedback.avsc")
