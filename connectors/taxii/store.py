"""The TAXII object store: every version of every record of the share/contrib/inbox topics,
materialised for paging. SQLite (stdlib) by default, PostgreSQL (psycopg) when configured.

One table of object versions keyed (collection, id, modified). Each version gets an `added`
time when it is inserted, strictly increasing per collection, and a sequence number; the
index on (collection, added, seq) makes `added_after` and `next` a keyset seek, so a page
costs the same at the millionth object as at the first (never OFFSET into a scan).

A single writer (the materialiser) inserts; any number of threads read.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from streams.settings import ConfigError

_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")
_NEXT = re.compile(r"^(\d{1,19})\.(\d{1,19})$")
_LAST_SEQ = 2**63 - 1
VERSION_KEYWORDS = ("last", "first", "all")


class BadQuery(ValueError):
    """A request parameter the store cannot use; the message says which and why."""


def parse_timestamp(text: str, what: str = "timestamp") -> int:
    """RFC 3339 UTC ('2025-01-31T12:00:00.123Z') -> microseconds since the epoch."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise BadQuery(f"{what} {text[:40]!r} is not a UTC timestamp like 2025-01-31T12:00:00.000Z")
    moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    fraction = (match.group(2) or "").ljust(6, "0")[:6]
    return int(moment.timestamp()) * 1_000_000 + int(fraction)


def format_timestamp(micros: int) -> str:
    """Microseconds -> RFC 3339 UTC; millisecond precision when that is exact (the hub's own stamps)."""
    seconds, fraction = divmod(micros, 1_000_000)
    base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{fraction // 1000:03d}Z" if fraction % 1000 == 0 else f"{base}.{fraction:06d}Z"


def now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    added: int
    id: str
    modified: int
    body: str


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    more: bool
    next: str | None


@dataclass(frozen=True)
class Query:
    """TAXII filters of one request. `versions`: keywords last/first/all or `modified` times (µs)."""

    limit: int
    added_after: int | None = None
    next: str | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str | int, ...] = ("last",)

    def cursor(self) -> tuple[int, int] | None:
        """The keyset position to continue after: the later of `added_after` and `next`."""
        bounds = []
        if self.added_after is not None:
            bounds.append((self.added_after, _LAST_SEQ))
        if self.next is not None:
            match = _NEXT.match(self.next)
            if match is None:
                raise BadQuery(f"next {self.next[:40]!r} is not a value this server gave out")
            bounds.append((int(match.group(1)), int(match.group(2))))
        return max(bounds) if bounds else None


@dataclass
class _Dialect:
    """What differs between SQLite and PostgreSQL; everything else is the same SQL."""

    name: str
    connect: Callable[[], Any]
    schema: list[str]
    placeholder: str
    transaction: Callable[[Any], Any]


def _sqlite(path: Path) -> _Dialect:
    import sqlite3

    def connect() -> Any:
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the TAXII store {path} (KIZUNA_TAXII_STORE_URL): {exc}") from None
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    path.parent.mkdir(parents=True, exist_ok=True)
    return _Dialect("sqlite", connect, _schema("INTEGER PRIMARY KEY", "INTEGER"), "?", transaction)


def _postgres(url: str) -> _Dialect:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency; a broken install says so
        raise ConfigError("KIZUNA_TAXII_STORE_URL names PostgreSQL but psycopg is not installed") from None

    def connect() -> Any:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"cannot open the TAXII store (KIZUNA_TAXII_STORE_URL): {str(exc).strip()}") from None

    return _Dialect("postgresql", connect, _schema("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT"),
                    "%s", lambda conn: conn.transaction())


def _schema(sequence: str, integer: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS objects (
            seq {sequence},
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            modified {integer} NOT NULL,
            added {integer} NOT NULL,
            type TEXT NOT NULL,
            latest SMALLINT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (collection, id, modified))""",
        "CREATE INDEX IF NOT EXISTS objects_by_added ON objects (collection, added, seq)",
        f"""CREATE TABLE IF NOT EXISTS positions (
            topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset {integer} NOT NULL, PRIMARY KEY (topic, part))""",
        "CREATE TABLE IF NOT EXISTS statuses (id TEXT PRIMARY KEY, member TEXT NOT NULL, body TEXT NOT NULL)",
    ]


@dataclass
class AddResult:
    inserted: int = 0
    duplicates: int = 0
    unusable: list[tuple[int, str]] = field(default_factory=list)  # (index in the batch, why)


class ObjectStore:
    """Object versions per collection, positions in the topics they came from, and the status
    resources of TAXII POSTs."""

    def __init__(self, url: str, clock: Callable[[], int] = now_micros) -> None:
        if url.startswith("sqlite:///"):
            self._dialect = _sqlite(Path(url.removeprefix("sqlite:///")))
        elif url.startswith(("postgresql://", "postgres://")):
            self._dialect = _postgres(url)
        else:
            raise ConfigError(f"TAXII store URL must be sqlite:///PATH or postgresql://..., not "
                              f"{url.split('://')[0]}://")
        self._clock = clock
        self._local = threading.local()
        self._last_added: dict[str, int] = {}
        conn = self._conn()
        for statement in self._dialect.schema:
            conn.execute(statement)

    @property
    def dialect(self) -> str:
        return self._dialect.name

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._dialect.connect()
        return conn

    def _sql(self, statement: str) -> str:
        return statement if self._dialect.placeholder == "?" else statement.replace("?", "%s")

    def _execute(self, statement: str, params: Iterable[Any] = ()) -> Any:
        return self._conn().execute(self._sql(statement), tuple(params))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- writing (the materialiser) ---------------------------------------------------------

    def add(self, objects: Iterable[tuple[str, bytes]], positions: dict[tuple[str, int], int]) -> AddResult:
        """Insert (collection, STIX JSON) versions and advance the topic positions in one
        transaction, so a crash replays from exactly where the store stands."""
        result = AddResult()
        conn = self._conn()
        with self._dialect.transaction(conn):
            for index, (collection, raw) in enumerate(objects):
                self._add_one(index, collection, raw, result)
            for (topic, part), offset in positions.items():
                self._execute("INSERT INTO positions (topic, part, next_offset) VALUES (?, ?, ?) "
                              "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset",
                              (topic, part, offset))
        return result

    def _add_one(self, index: int, collection: str, raw: bytes, result: AddResult) -> None:
        try:
            obj = orjson.loads(raw)
            object_id, stix_type = obj["id"], obj["type"]
            modified = parse_timestamp(obj.get("modified") or obj["created"], "modified")
            if not isinstance(object_id, str) or not isinstance(stix_type, str):
                raise TypeError("id and type must be strings")
        except (orjson.JSONDecodeError, KeyError, TypeError, BadQuery, AttributeError) as exc:
            result.unusable.append((index, f"{type(exc).__name__}: {exc}"))
            return
        current = self._execute("SELECT modified FROM objects WHERE collection = ? AND id = ? AND latest = 1",
                                (collection, object_id)).fetchone()
        if current is not None and current[0] == modified:
            result.duplicates += 1
            return
        newest = current is None or modified > current[0]
        added = max(self._clock(), self._last(collection) + 1)
        inserted = self._execute(
            "INSERT INTO objects (collection, id, modified, added, type, latest, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (collection, id, modified) DO NOTHING",
            (collection, object_id, modified, added, stix_type, 1 if newest else 0, raw.decode())).rowcount
        if not inserted:  # an older version seen before (a replay)
            result.duplicates += 1
            return
        if newest and current is not None:
            self._execute("UPDATE objects SET latest = 0 WHERE collection = ? AND id = ? AND modified = ?",
                          (collection, object_id, current[0]))
        self._last_added[collection] = added
        result.inserted += 1

    def _last(self, collection: str) -> int:
        if collection not in self._last_added:
            row = self._execute("SELECT MAX(added) FROM objects WHERE collection = ?", (collection,)).fetchone()
            self._last_added[collection] = row[0] or 0
        return self._last_added[collection]

    def positions(self) -> dict[tuple[str, int], int]:
        """Next offset to read per (topic, partition)."""
        return {(topic, part): offset for topic, part,
                offset in self._execute("SELECT topic, part, next_offset FROM positions")}

    # --- reading (the TAXII server) -----------------------------------------------------------

    def page(self, collection: str, query: Query) -> Page:
        """Objects (or manifest entries) of a collection in `added` order, one page."""
        return self._run(*self._page_statement(collection, query), query.limit)

    def versions(self, collection: str, object_id: str, query: Query) -> Page:
        """Every version of one object in a collection, in `added` order."""
        return self._run(*self._keyset(["collection = ?", "id = ?"], [collection, object_id], query), query.limit)

    def plan(self, collection: str, query: Query) -> str:
        """How the database runs a page query (EXPLAIN): tests check it seeks the index."""
        statement, params = self._page_statement(collection, query)
        prefix = "EXPLAIN QUERY PLAN " if self.dialect == "sqlite" else "EXPLAIN "
        return " | ".join(str(row[-1]) for row in self._execute(prefix + statement, params))

    def _page_statement(self, collection: str, query: Query) -> tuple[str, list[Any]]:
        where, params = ["collection = ?"], [collection]
        if query.ids:
            where.append(f"id IN ({', '.join('?' * len(query.ids))})")
            params += query.ids
        if query.types:
            where.append(f"type IN ({', '.join('?' * len(query.types))})")
            params += query.types
        version = self._version_clause(query.versions, params)
        if version:
            where.append(version)
        return self._keyset(where, params, query)

    @staticmethod
    def _keyset(where: list[str], params: list[Any], query: Query) -> tuple[str, list[Any]]:
        cursor = query.cursor()
        if cursor is not None:
            # A row value after the collection equality: SQLite and PostgreSQL seek the index to it.
            where.append("(added, seq) > (?, ?)")
            params = [*params, *cursor]
        statement = (f"SELECT seq, added, id, modified, body FROM objects WHERE {' AND '.join(where)} "
                     f"ORDER BY collection, added, seq LIMIT ?")
        return statement, [*params, query.limit + 1]

    def _run(self, statement: str, params: list[Any], limit: int) -> Page:
        rows = [Row(*r) for r in self._execute(statement, params)]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, more, f"{rows[-1].added}.{rows[-1].seq}" if more else None)

    @staticmethod
    def _version_clause(versions: tuple[str | int, ...], params: list[Any]) -> str:
        if "all" in versions:
            return ""
        options = []
        if "last" in versions:
            options.append("latest = 1")
        if "first" in versions:
            options.append("NOT EXISTS (SELECT 1 FROM objects AS older WHERE older.collection = objects.collection "
                           "AND older.id = objects.id AND older.modified < objects.modified)")
        times = [v for v in versions if isinstance(v, int)]
        if times:
            options.append(f"modified IN ({', '.join('?' * len(times))})")
            params += times
        return f"({' OR '.join(options)})"

    def count(self, collection: str | None = None) -> int:
        if collection is None:
            return int(self._execute("SELECT COUNT(*) FROM objects").fetchone()[0])
        return int(self._execute("SELECT COUNT(*) FROM objects WHERE collection = ?", (collection,)).fetchone()[0])

    # --- status resources of POSTs to the intake collection --------------------------------------

    def save_status(self, status_id: str, member: str, status: dict[str, Any]) -> None:
        with self._dialect.transaction(self._conn()):
            self._execute("INSERT INTO statuses (id, member, body) VALUES (?, ?, ?)",
                          (status_id, member, orjson.dumps(status).decode()))

    def status(self, status_id: str, member: str) -> dict[str, Any] | None:
        """A status resource, only for the member that made the request."""
        row = self._execute("SELECT body FROM statuses WHERE id = ? AND member = ?", (status_id, member)).fetchone()
        return orjson.loads(row[0]) if row else None
