"""What every agent step is given rather than builds: the publisher, the clock, the members
registry and the pseudonym key. The worker passes the real ones (`Context.for_worker`); a test
passes a recording publisher and a fixed clock and runs the step on recorded input, with no broker.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from streams import credentials, members, metrics
from streams.core.signing import Verdict, member_key, verdict
from streams.settings import Settings
from streams.topics import Topics


class Sender(Protocol):
    """streams.kafka_io.Publisher, or a test's recording stand-in."""

    def send(self, topic: str, value: bytes | None, key: bytes | None = None, partition: int | None = None) -> None: ...

    async def flush(self, timeout: float = 60.0) -> None: ...


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Context:
    settings: Settings
    publisher: Sender
    clock: Callable[[], int] = wall_clock_ms  # milliseconds since the epoch

    def __post_init__(self) -> None:
        self.topics = Topics(self.settings.namespace)
        self.secret = self.settings.pseudonym_secret()

    @classmethod
    def for_worker(cls, settings: Settings, name: str) -> Context:
        """The worker's own: a librdkafka producer named after the agent."""
        from streams.kafka_io import Publisher

        return cls(settings, Publisher(settings, f"{settings.namespace}-{name}"))

    def registry(self) -> members.Registry:
        """The members registry as it is now (re-read when the file changes)."""
        return members.load(self.settings.members_file)

    def signing_key(self, member: str) -> bytes:
        """The member's current signing key (the hub signs with it for the member: sightings in a submission)."""
        generation = credentials.keyring(self.settings, member).generation
        return member_key(self.secret, self.settings.namespace, member, generation)

    def signature(self, member: str, signed_by: Callable[[bytes], bool]) -> Verdict:
        """Whether what `member` sent carries its signature: by its current key, by its previous key within
        a rotation's overlap (both accepted, judged by this context's clock), by a retired key, or none."""
        return verdict(self.secret, self.settings.namespace, member, credentials.keyring(self.settings, member),
                       self.clock() / 1000, signed_by)

    def reject(self, member: str | None, item: dict[str, Any]) -> None:
        """The one rejection fan-out: kizuna.rejected (keyed by the pseudonym), the member's own
        rejections topic when the member is known, and the metric by reason code (skips, items a
        documented policy withheld, travel the same way and count apart)."""
        raw = orjson.dumps(item)
        self.publisher.send(self.topics.rejected, raw, item["reporter"].encode())
        if member is not None:
            self.publisher.send(self.topics.member_rejected(member), raw, item["submission_id"].encode())
        (metrics.SKIPS if item.get("outcome") == "skipped" else metrics.REJECTIONS).labels(item["code"]).inc()


def in_steps(events: Sequence[Any], limit: int) -> Iterator[list[Any]]:
    """Consecutive runs of a batch's Faust events holding at most `limit` bytes of message values (at
    least one event each): many small messages share one step, and its flushes, while a step of large
    ones stays as small as the limit."""
    step: list[Any] = []
    size = 0
    for event in events:
        length = len(event.value or b"")
        if step and size + length > limit:
            yield step
            step, size = [], 0
        step.append(event)
        size += length
    if step:
        yield step
