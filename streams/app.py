"""The Faust application: configuration only, no logic. Agents live in streams/agents/.

Nothing is built at import: `build(settings)` makes the app for the worker (`kizuna worker`), so
tests and tools can import the agents without a broker.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streams.kafka_io import ssl_context
from streams.settings import Settings
from streams.topics import Topics


@dataclass(frozen=True)
class Pipeline:
    """The app and the topics its agents read."""

    app: faust.App
    intake: Any
    intake_bulk: Any
    indicators: Any
    feedback: Any


def _credentials(settings: Settings) -> faust.SASLCredentials | None:
    """The worker's SCRAM login for aiokafka (librdkafka clients use streams.kafka_io.client_config)."""
    if settings.kafka_security == "plaintext":
        return None
    context = ssl_context(settings) if settings.kafka_security == "sasl_ssl" else None
    return faust.SASLCredentials(username=settings.kafka_user, password=settings.kafka_secret(),
                                 mechanism="SCRAM-SHA-512", ssl_context=context)


def build(settings: Settings) -> Pipeline:
    topics = Topics(settings.namespace)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        topics.worker_group,
        broker=f"kafka://{settings.bootstrap_servers.replace(',', ';kafka://')}",
        broker_credentials=_credentials(settings),
        store="memory://",  # merge state is kept by streams/state.py, not Faust tables
        datadir=str(settings.state_dir / "faust"),  # Faust's default is a directory in the cwd
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.partitions,
        topic_allow_declare=False,  # `kizuna topics create` owns the topic plan
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=4096,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        broker_max_poll_records=500,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 3,
        web_port=settings.web_port,
        web_host="127.0.0.1",
        origin="streams",
    )

    def raw(name: str) -> Any:
        return app.topic(name, value_serializer="raw", key_serializer="raw")

    return Pipeline(app, raw(topics.intake), raw(topics.intake_bulk), raw(topics.indicators), raw(topics.feedback))
