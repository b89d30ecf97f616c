"""Schema evolution: the next version (an added optional field) and this one read each other,
and records of earlier versions (schemas/history/) are still read."""
import copy
import io
import json

import fastavro
import pytest

from streams.records import MAGIC, SCHEMA_DIR, AvroCodec, _fingerprint

SCHEMAS = ["submission.avsc", "normalized_batch.avsc", "feedback.avsc"]
SAMPLES = {
    "submission.avsc": {"submission_id": "s", "submitter": "acme", "received_at": 1, "format": "csv", "filename": None,
                        "tlp": "green", "sectors": [], "recipients": [], "payload": b"value\nevil.example\n",
                        "signature": b"s", "override_distribution": False},
    "normalized_batch.avsc": {"submission_id": "s", "reporter": "m-1", "sectors": ["gas"], "observed_at": 1,
                              "recipients": [], "named": None,
                              "records": [{"id": "indicator--1", "stix_type": "indicator", "tlp": "green",
                                           "observable": "domain-name", "value": "evil.example", "pattern": None,
                                           "indicator_types": [], "body": None, "warninglists": [],
                                           "for_detection": True, "withdrawn": False}],
                              "feedback": []},
    "feedback.avsc": {"items": [{"feedback_id": "f", "member": "acme", "kind": "sighting", "indicator": "evil.example",
                                 "count": 2, "tlp": None, "observed_at": 1, "signature": None}]},
}


def next_version(schema_file):
    schema = json.loads((SCHEMA_DIR / schema_file).read_text())
    evolved = copy.deepcopy(schema)
    evolved["fields"].append({"name": "added_later", "type": ["null", "string"], "default": None})
    return fastavro.parse_schema(evolved)


def single_object(schema, record) -> bytes:
    buffer = io.BytesIO()
    buffer.write(MAGIC + _fingerprint(schema))
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


@pytest.mark.parametrize("schema_file", SCHEMAS)
def test_current_reader_reads_the_next_version(schema_file):
    data = single_object(next_version(schema_file), {**SAMPLES[schema_file], "added_later": "x"})
    assert AvroCodec(schema_file).decode(data) == SAMPLES[schema_file]


@pytest.mark.parametrize("schema_file", SCHEMAS)
def test_next_version_reads_the_current_one(schema_file):
    data = AvroCodec(schema_file).encode(SAMPLES[schema_file])
    assert data[2:10] == _fingerprint(AvroCodec(schema_file).schema)
    current = fastavro.parse_schema(json.loads((SCHEMA_DIR / schema_file).read_text()))
    read = fastavro.schemaless_reader(io.BytesIO(data[10:]), current, next_version(schema_file))
    assert read == {**SAMPLES[schema_file], "added_later": None}


def test_a_submission_of_the_version_before_signatures_is_read_as_unsigned():
    old = fastavro.parse_schema(json.loads((SCHEMA_DIR / "history" / "submission.v1.avsc").read_text()))
    record = {k: v for k, v in SAMPLES["submission.avsc"].items() if k not in ("signature", "override_distribution")}
    assert AvroCodec("submission.avsc").decode(single_object(old, record)) == {**record, "signature": None,
                                                                               "override_distribution": False}


def test_records_of_the_version_before_to_ids_are_read_as_for_detection():
    old = fastavro.parse_schema(json.loads((SCHEMA_DIR / "history" / "normalized_batch.v1.avsc").read_text()))
    sample = SAMPLES["normalized_batch.avsc"]
    record = {**sample, "records": [{k: v for k, v in r.items() if k not in ("for_detection", "withdrawn")}
                                    for r in sample["records"]]}
    assert AvroCodec("normalized_batch.avsc").decode(single_object(old, record)) == sample


def test_records_of_the_version_before_withdrawals_are_read_as_reports():
    old = fastavro.parse_schema(json.loads((SCHEMA_DIR / "history" / "normalized_batch.v2.avsc").read_text()))
    sample = SAMPLES["normalized_batch.avsc"]
    record = {**sample, "records": [{k: v for k, v in r.items() if k != "withdrawn"} for r in sample["records"]]}
    assert AvroCodec("normalized_batch.avsc").decode(single_object(old, record)) == sample


def test_bytes_without_the_single_object_marker_are_refused():
    with pytest.raises(ValueError, match="single-object"):
        AvroCodec("feedback.avsc").decode(b"\x02\x02f")
