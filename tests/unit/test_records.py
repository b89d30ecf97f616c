import json

import pytest

from streams.records import (
    SCHEMA_DIR,
    Feedback,
    FeedbackBatch,
    FeedbackRecord,
    NormalizedBatch,
    NormalizedRecord,
    Submission,
    batch_codec,
    submission_codec,
)

AVRO_TYPES = {"string": str, "long": int, "bytes": bytes}


def avro_fields(schema_file, array_field=None):
    schema = json.loads((SCHEMA_DIR / schema_file).read_text())
    if array_field:
        schema = next(f["type"]["items"] for f in schema["fields"] if f["name"] == array_field)
    return {f["name"]: f for f in schema["fields"]}


@pytest.mark.parametrize(
    ("model", "schema_file", "record_name"),
    [(Submission, "submission.avsc", None), (NormalizedRecord, "normalized_batch.avsc", "records"),
     (FeedbackRecord, "normalized_batch.avsc", "feedback"), (NormalizedBatch, "normalized_batch.avsc", None),
     (FeedbackBatch, "feedback.avsc", None), (Feedback, "feedback.avsc", "items")],
)
def test_models_agree_with_schemas(model, schema_file, record_name):
    fields = avro_fields(schema_file, record_name)  # record_name: the array field whose items are the record
    assert list(fields) == list(model.model_fields)
    for name, field in fields.items():
        nullable = isinstance(field["type"], list) and "null" in field["type"]
        assert (not model.model_fields[name].is_required()) == ("default" in field), name
        if nullable:
            assert model.model_fields[name].default is None, name


def test_submission_round_trip():
    envelope = Submission(submission_id="s", submitter="acme", received_at=1, payload=b"\x00\xff", sectors=["finance"])
    data = envelope.model_dump()
    assert Submission(**submission_codec().decode(submission_codec().encode(data))) == envelope


def test_batch_round_trip():
    record = NormalizedRecord(id="indicator--1", stix_type="indicator", tlp="green", observable="ipv4-addr",
                              value="45.77.65.211")
    batch = NormalizedBatch(submission_id="s", reporter="m-1", sectors=["gas"], observed_at=5, records=[record])
    assert NormalizedBatch(**batch_codec().decode(batch_codec().encode(batch.model_dump()))) == batch
