"""How long-running processes wait out the broker (streams.kafka_io.Outage): one log line when an
outage starts and one when it ends however many retries lie between, the waiting gauge meanwhile,
and only transient errors count as an outage (a refusal is not waited out)."""
from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from prometheus_client import REGISTRY

from streams.kafka_io import Outage, transient

AWAY = KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure"))


def _sample(name: str, process: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"process": process})


def test_an_outage_is_logged_once_and_shown_as_waiting(caplog):
    outage = Outage("unit-outage", logging.getLogger("kizuna.test"), first_s=0.001, most_s=0.004)
    with caplog.at_level(logging.WARNING, logger="kizuna.test"):
        for _ in range(6):
            outage.wait(AWAY)
        assert _sample("kizuna_broker_waiting", "unit-outage") == 1
        assert len(caplog.records) == 1 and "retrying with backoff" in caplog.records[0].getMessage()
        outage.ok()
        outage.ok()  # no outage any more: nothing to say
    assert _sample("kizuna_broker_waiting", "unit-outage") == 0
    assert _sample("kizuna_broker_outages_total", "unit-outage") == 1
    assert [r.getMessage().split(" after ")[0] for r in caplog.records][1:] == ["unit-outage: Kafka is back"]


def test_only_a_broker_away_is_transient_not_a_refusal():
    assert transient(AWAY)
    assert transient(KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE)))
    assert not transient(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert not transient(KafkaException(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED)))
