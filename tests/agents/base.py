"""A test base for the agents, in the spirit of IntelMQ's `BotTestCase` (intelmq/lib/test.py): each
agent's step runs on recorded input with a recording publisher and a fixed clock, no broker, and
every agent gets the same generic checks: it publishes only to topics of the plan, what it rejects is
a well-formed pseudonymous rejection, and no input, however damaged, makes it raise.

A subclass says how to build its step (`make`), how to run it on messages (`run`) and gives good
input (`good`); agent-specific tests sit next to the generic ones in the subclass.
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import members
from streams.agents.base import Context
from streams.core.items import Reason
from streams.records import Rejection
from streams.settings import Settings
from streams.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
MEMBERS_FILE = ROOT / "tests" / "fixtures" / "members.yaml"
NOW_MS = 1_795_000_000_000  # 2026-11-18: the fixtures' indicators are recent at this time
REASONS = {value for name, value in vars(Reason).items() if name.isupper()}


@dataclass(frozen=True)
class Sent:
    topic: str
    value: bytes | None
    key: bytes | None
    partition: int | None


class Recorder:
    """streams.agents.base.Sender that keeps every message instead of producing it."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.flushes = 0

    def send(self, topic: str, value: bytes | None, key: bytes | None = None, partition: int | None = None) -> None:
        self.sent.append(Sent(topic, value, key, partition))

    async def flush(self, timeout: float = 60.0) -> None:
        self.flushes += 1

    def on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


def agent_settings(var_dir: Path, **overrides: Any) -> Settings:
    return Settings(namespace="tagents", pseudonym_key="agent-tests", members_file=MEMBERS_FILE, var_dir=var_dir,
                    warninglists=False, store="memory", partitions=2, **overrides)


def damaged(good: list[bytes], seed: int = 13) -> list[bytes]:
    """Input no writer should produce: empty, noise, truncated and bit-flipped copies of good input."""
    rng = random.Random(seed)
    out = [b"", b"\x00", b"\xff" * 64, b"{}", b'{"items": []}', bytes(rng.getrandbits(8) for _ in range(256))]
    for raw in good:
        out += [raw[: len(raw) // 2], raw[:-1], raw + b"\x00"]
        for _ in range(8):
            flipped = bytearray(raw)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            out.append(bytes(flipped))
    return out


class AgentTestCase:
    """Generic checks every agent passes; subclasses set `make`, `run` and `good`."""

    def make(self, ctx: Context) -> Any:
        raise NotImplementedError

    def run(self, step: Any, raws: list[bytes]) -> None:
        raise NotImplementedError

    def good(self, settings: Settings) -> list[bytes]:
        raise NotImplementedError

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return agent_settings(tmp_path)

    def execute(self, settings: Settings, raws: list[bytes]) -> Recorder:
        recorder = Recorder()
        self.run(self.make(Context(settings, recorder, clock=lambda: NOW_MS)), raws)
        return recorder

    # --- the generic checks -------------------------------------------------------------------

    def test_good_input_is_published(self, settings: Settings) -> None:
        recorder = self.execute(settings, self.good(settings))
        assert recorder.sent, "good input published nothing"
        assert not recorder.on(Topics(settings.namespace).rejected), "good input was rejected"

    def test_publishes_only_to_planned_topics(self, settings: Settings) -> None:
        member_ids = [m.id for m in members.load(settings.members_file).members]
        planned = {spec.name for spec in Topics(settings.namespace).plan(settings, member_ids)}
        recorder = self.execute(settings, self.good(settings) + self.damaged(self.good(settings)))
        assert {s.topic for s in recorder.sent} <= planned

    def test_damaged_input_never_raises_and_is_rejected(self, settings: Settings) -> None:
        good = self.good(settings)
        for raw in self.damaged(good):
            recorder = self.execute(settings, [raw])  # raising fails the test
            # Damaged bytes may still decode (a flipped bit in a value): then it is processed as sent.
            assert recorder.sent or raw in good
        rejected = self.execute(settings, [b"\x00not a record"]).on(Topics(settings.namespace).rejected)
        assert rejected and all(orjson.loads(s.value or b"")["code"] == Reason.MALFORMED for s in rejected)

    def test_rejections_are_well_formed_and_pseudonymous(self, settings: Settings) -> None:
        topics = Topics(settings.namespace)
        registry = members.load(settings.members_file)
        good = self.good(settings)
        recorder = self.execute(settings, good + self.damaged(good) + self.rejected(settings))
        hub_wide = recorder.on(topics.rejected)
        assert hub_wide, "nothing was rejected"
        for sent in hub_wide:
            item = Rejection.model_validate_json(sent.value or b"").model_dump()
            assert item["code"] in REASONS
            text = (sent.value or b"").decode() + (sent.key or b"").decode()
            for member in registry.members:  # DESIGN rule 3: no member id or name on the hub-wide topic
                assert f'"{member.id}"' not in text and (not member.name or member.name not in text)
        own = [s for s in recorder.sent if s.topic.startswith(topics.ns + ".org.") and s.topic.endswith(".rejected")]
        assert {s.value for s in own} <= {s.value for s in hub_wide}, "a member got a rejection the hub did not log"

    def test_replay_publishes_the_same(self, settings: Settings) -> None:
        """At-least-once: the same input on a fresh step gives the same messages (deterministic ids)."""
        first, second = (self.execute(settings, self.good(settings)) for _ in range(2))
        assert [(s.topic, s.key, s.partition) for s in first.sent] == [(s.topic, s.key,
                                                                        s.partition) for s in second.sent]

    def damaged(self, good: list[bytes]) -> list[bytes]:
        return damaged(good)

    def rejected(self, settings: Settings) -> list[bytes]:
        """Well-formed input the agent must reject (a subclass adds its own)."""
        return []


def run_async(coroutine_factory: Callable[[], Any]) -> Any:
    return asyncio.run(coroutine_factory())
