"""MISP events into the hub: from files, directories, a MISP instance's REST API and MISP's
ZeroMQ publish stream. Each event becomes one signed submission (`streams.intake.submit`,
format `misp`); the hub converts it with misp-stix and strips the provider's identity."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from connectors.misp.settings import MispSettings
from streams import intake
from streams.settings import ConfigError, Settings

# MISP's publish topic that carries a whole event as {"Event": {...}} (ZeroMQ and the Kafka plugin).
EVENT_TOPIC = "misp_json"


class MispUnavailable(Exception):
    """The MISP instance could not be read: unreachable, refused the key, or answered an error."""


@dataclass(slots=True)
class Found:
    """One event to submit, or why a piece of input is not one."""

    source: str  # file, file#index, event uuid: for messages and as the submission's file name
    event: dict[str, Any] | None = None  # {"Event": {...}}
    problem: str | None = None


@dataclass
class ImportReport:
    submitted: list[tuple[str, str]] = field(default_factory=list)  # (source, submission id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why)


def events_in(document: Any, source: str) -> list[Found]:
    """The events of a MISP JSON document: one event, a list, or a restSearch {"response": [...]}."""
    if isinstance(document, dict) and isinstance(document.get("response"), list):
        document = document["response"]
    if isinstance(document, dict) and isinstance(document.get("Event"), dict):
        return [Found(source, {"Event": document["Event"]})]
    if isinstance(document, list):
        found = []
        for index, item in enumerate(document):
            found += events_in(item, f"{source}#{index}") if isinstance(item, (dict, list)) else [
                Found(f"{source}#{index}", problem="not a MISP event")]
        return found
    return [Found(source, problem="not a MISP event ({\"Event\": {...}}, a list of them or a restSearch response)")]


def publish_message(raw: bytes | str, source: str) -> Found | None:
    """One message of MISP's publish stream, `misp_json {"Event": ...}` or the bare JSON;
    None for the other topics (attributes, sightings, heartbeats), which carry no whole event."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    if not text:
        return None
    topic, body = (EVENT_TOPIC, text) if text.startswith("{") else tuple(text.split(" ", 1) + [""])[:2]
    if topic != EVENT_TOPIC:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Found(source, problem=f"not valid JSON: {exc}")
    found = events_in(document, source)
    return found[0] if len(found) == 1 else Found(source, problem="a publish message carries one event")


def from_path(path: Path) -> Iterator[Found]:
    """Events in a file (JSON, or one publish message per line) or in the *.json files of a
    directory, a MISP feed's included (its manifest.json is an index, not an event)."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.name != "manifest.json")
        if not files:
            yield Found(str(path), problem="no *.json files in the directory")
        for file in files:
            yield from from_path(file)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield Found(str(path), problem=f"cannot read it: {exc.strerror}")
        return
    try:
        yield from events_in(orjson.loads(raw), str(path))
    except orjson.JSONDecodeError:
        lines = raw.splitlines()  # a capture of the publish stream, one message per line
        messages = [publish_message(line, f"{path}:{n}") for n, line in enumerate(lines, 1)]
        found = [m for m in messages if m is not None]
        yield from found or [Found(str(path), problem="neither MISP JSON nor MISP publish messages")]


# --- REST -----------------------------------------------------------------------------------------

@dataclass
class Position:
    """How far the REST import got: the newest event timestamp submitted, and the events
    submitted at exactly that second (MISP's `timestamp` filter is inclusive)."""

    timestamp: int = 0
    at_timestamp: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> Position:
        try:
            saved = orjson.loads(path.read_bytes())
            return cls(int(saved["timestamp"]), set(saved["at_timestamp"]))
        except FileNotFoundError:
            return cls()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ConfigError(f"the MISP import position {path} is damaged; "
                              "delete it to import everything again") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps({"timestamp": self.timestamp, "at_timestamp": sorted(self.at_timestamp)}))
        temporary.replace(path)

    def is_new(self, event: dict[str, Any]) -> bool:
        stamp, key = _stamp(event)
        return stamp > self.timestamp or (stamp == self.timestamp and key not in self.at_timestamp)

    def advance(self, event: dict[str, Any]) -> None:
        stamp, key = _stamp(event)
        if stamp > self.timestamp:
            self.timestamp, self.at_timestamp = stamp, set()
        if stamp == self.timestamp:
            self.at_timestamp.add(key)


def _stamp(event: dict[str, Any]) -> tuple[int, str]:
    body = event["Event"]
    stamp = body.get("timestamp")
    return (int(stamp) if str(stamp).isdigit() else 0), str(body.get("uuid"))


def position_file(misp: MispSettings, hub: Settings, member: str, url: str) -> Path:
    """One position per MISP instance and member (the same instance may feed several members)."""
    return misp.positions_dir(hub) / f"rest-{uuid.uuid5(uuid.NAMESPACE_URL, url)}-{member}.json"


def from_rest(misp: MispSettings, url: str, position: Position) -> Iterator[Found]:
    """Events changed since `position`, page by page, from MISP's restSearch through PyMISP."""
    from pymisp import PyMISP
    from pymisp.exceptions import PyMISPError

    if misp.key is None:
        raise ConfigError("the REST import needs the MISP API key in KIZUNA_MISP_KEY")
    try:
        client = PyMISP(url, misp.key.get_secret_value(), ssl=misp.verify(), timeout=misp.timeout_s,
                        tool="kizuna-misp-import")
    except PyMISPError as exc:
        raise MispUnavailable(f"MISP at {url}: {exc}") from None
    page = 1
    while True:
        try:
            answer = client.search(controller="events", return_format="json", timestamp=position.timestamp or None,
                                   published=True if misp.published_only else None, include_sightings=True,
                                   limit=misp.page_size, page=page, pythonify=False)
        except PyMISPError as exc:
            raise MispUnavailable(f"MISP at {url}: {exc}") from None
        if isinstance(answer, dict) and "errors" in answer:
            raise MispUnavailable(f"MISP at {url} refused the search: {answer['errors']}")
        found = events_in(answer, f"{url} page {page}") if answer else []
        for item in found:
            if item.event is not None:
                item.source = str(item.event["Event"].get("uuid") or item.source)
                if position.is_new(item.event):
                    yield item
            else:
                yield item
        if len(found) < misp.page_size:
            return
        page += 1


# --- ZeroMQ ---------------------------------------------------------------------------------------

def from_zmq(url: str, max_events: int = 0, idle_timeout_s: float = 0.0,
             ready: Callable[[], None] | None = None) -> Iterator[Found]:
    """Events as MISP publishes them on its ZeroMQ socket, until `max_events` (0: no limit) or
    `idle_timeout_s` without a message (0: wait for ever). `ready` is called once subscribed."""
    import zmq

    context: Any = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.SUBSCRIBE, EVENT_TOPIC.encode())
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(url)
    if ready is not None:
        ready()
    count = 0
    try:
        while not max_events or count < max_events:
            if not socket.poll(int(idle_timeout_s * 1000) if idle_timeout_s else None):
                return
            found = publish_message(socket.recv(), f"{url} message {count + 1}")
            if found is not None:
                count += 1
                yield found
    finally:
        socket.close()


# --- submitting ---------------------------------------------------------------------------------

def submit_all(hub: Settings, member: str, found: Iterable[Found], tlp: str | None = None,
               sectors: Iterable[str] = (), recipients: Iterable[str] = (),
               on_submitted: Callable[[Found, str], None] | None = None) -> ImportReport:
    """Each event as one submission; what is not an event is reported, never dropped silently.
    Raises streams.kafka_io.DeliveryFailed when the broker does not take a submission."""
    report = ImportReport()
    for item in found:
        if item.event is None:
            report.skipped.append((item.source, item.problem or "not a MISP event"))
            continue
        payload = orjson.dumps(item.event)
        if len(payload) > hub.max_submission_bytes:
            report.skipped.append((item.source,
                                   f"{len(payload)} bytes, the hub takes at most {hub.max_submission_bytes}"))
            continue
        name = Path(item.source.split("#")[0]).name if "/" in item.source else item.source
        submission_id = intake.submit(hub, member, payload, fmt="misp", filename=name[:200] or "misp-event.json",
                                      tlp=tlp, sectors=list(sectors), recipients=list(recipients))
        report.submitted.append((item.source, submission_id))
        if on_submitted is not None:
            on_submitted(item, submission_id)
    return report
