"""Record contracts: pydantic models that mirror schemas/*.avsc, and the Avro codec.

Schemas are parsed once; messages are schemaless Avro (the topic fixes the schema).
Agents pass plain dicts on the hot path; the models are the documented contract
and validate at the edges (CLI, tests). tests/unit/test_records.py checks that
models and schemas agree.
"""
from __future__ import annotations

import io
import json
from datetime import datetime
from functools import lru_cache
from typing import Any

import fastavro
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


class AvroCodec:
    """Schemaless Avro for one schema, parsed once."""

    def __init__(self, schema_file: str) -> None:
        self.schema = fastavro.parse_schema(json.loads((SCHEMA_DIR / schema_file).read_text()))

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.schema, record)
        return buffer.getvalue()

    def decode(self, data: bytes, writer_schema: Any = None) -> dict[str, Any]:
        """Decode; with `writer_schema` (an older or newer version) resolve it to ours."""
        if writer_schema is None:  # same schema: no resolution step, several times faster
            return fastavro.schemaless_reader(io.BytesIO(data), self.schema, None)
        return fastavro.schemaless_reader(io.BytesIO(data), writer_schema, self.schema)


@lru_cache(maxsize=None)
def codec(schema_file: str) -> AvroCodec:
    return AvroCodec(schema_file)


def submission_codec() -> AvroCodec:
    return codec("submission.avsc")


def batch_codec() -> AvroCodec:
    return codec("normalized_batch.avsc")


def feedback_codec() -> AvroCodec:
    return codec("feedback.avsc")
