"""Schema evolution: the next version (an added optional field) and this one read each other."""
import copy
import io
import json

import fastavro
import pytest

from streams.records import SCHEMA_DIR, AvroCodec

SCHEMAS = ["submission.avsc", "normalized_batch.avsc", "feedback.avsc"]
SAMPLES = {
    "submission.avsc": {"submission_id": "s", "submitter": "acme", "received_at": 1, "format": "csv", "filename": None,
                        "tlp": "green", "sectors": [], "recipients": [], "payload": b"value\nevil.example\n", "signature": b"s"},
    "normalized_batch.avsc": {"submission_id": "s", "reporter": "m-1", "sectors": ["gas"], "observed_at": 1,
                              "recipients": [], "named": None,
                              "records": [{"id": "indicator--1", "stix_type": "indicator", "tlp": "green",
                                           "observable": "domain-name", "value": "evil.example", "pattern": None,
                                           "indicator_types": [], "body": None, "warninglists": []}],
                              "feedback": []},
    "feedback.avsc": {"items": [{"feedback_id": "f", "member": "acme", "kind": "sighting", "indicator": "evil.example",
                                 "count": 2, "tlp": None, "observed_at": 1, "signature": None}]},
}


def next_version(schema_file):
    schema = json.loads((SCHEMA_DIR / schema_file).read_text())
    evolved = copy.deepcopy(schema)
    evolved["fields"].append({"name": "added_later", "type": ["null", "string"], "default": None})
    return fastavro.parse_schema(evolved)


@pytest.mark.parametrize("schema_file", SCHEMAS)
def test_current_reader_reads_the_next_version(schema_file):
    newer = next_version(schema_file)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, newer, {**SAMPLES[schema_file], "added_later": "x"})
    assert AvroCodec(schema_file).decode(buffer.getvalue(), writer_schema=newer) == SAMPLES[schema_file]


@pytest.mark.parametrize("schema_file", SCHEMAS)
def test_next_version_reads_the_current_one(schema_file):
    data = AvroCodec(schema_file).encode(SAMPLES[schema_file])
    current = fastavro.parse_schema(json.loads((SCHEMA_DIR / schema_file).read_text()))
    read = fastavro.schemaless_reader(io.BytesIO(data), current, next_version(schema_file))
    assert read == {**SAMPLES[schema_file], "added_later": None}
