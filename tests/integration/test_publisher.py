"""The worker's producer on the broker: a record the broker refuses surfaces at flush, naming the topic.

Delivery reports call back into Python only for failures (`delivery.report.only.error`), so this is
the test that a failure still reaches the agent, which then stops rather than commit past it."""
from __future__ import annotations

import uuid

import pytest

from streams.kafka_io import DeliveryFailed, Publisher
from streams.topics import Topics
from tests.harness import drop_namespace, open_namespace


def test_a_refused_record_fails_the_flush_and_the_next_flush_is_clean(tmp_path) -> None:
    namespace = "p" + uuid.uuid4().hex[:10]
    settings = open_namespace(namespace, tmp_path, partitions=1)
    topics = Topics(namespace)
    try:
        publisher = Publisher(settings, "publisher-test")
        for n in range(100):
            publisher.send(topics.audit, b"fine", str(n).encode())
        publisher.flush_sync()  # all delivered: no error, nothing left
        publisher.send(topics.audit, b"fine", b"a")
        publisher.send(topics.merge_state, b"x", None, 0)  # a compacted topic refuses a record without a key
        with pytest.raises(DeliveryFailed, match=topics.merge_state):
            publisher.flush_sync()
        publisher.send(topics.audit, b"fine", b"b")
        publisher.flush_sync()
    finally:
        drop_namespace(settings)
