"""The TAXII object store, the same tests on SQLite and on a real PostgreSQL (a throw-away
cluster started from the machine's PostgreSQL binaries; skipped, saying so, where there are none).
Clocks are deterministic: `added` times come from a counter, never the wall clock."""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from connectors.taxii.store import BadQuery, ObjectStore, Query, format_timestamp, parse_timestamp
from tests.harness import free_port

T0 = parse_timestamp("2025-06-01T00:00:00.000Z")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    return found


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster for this test session, on a Unix socket in a scratch directory."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed here (no initdb/pg_ctl)")
    base = Path(tempfile.mkdtemp(prefix="kizuna-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        os.chown(base, pwd.getpwnam("postgres").pw_uid, -1)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "kizuna", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                    f"-p {port} -k {base} -c listen_addresses='' -c fsync=off", "start"], check=True,
                   capture_output=True)
    try:
        yield f"postgresql://kizuna@/postgres?host={base}&port={port}"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.replace("/postgres?", f"/{name}?")


def ticking(start: int = T0, step: int = 1000):
    """A deterministic clock: every call is `step` µs later."""
    counter = itertools.count(start, step)
    return lambda: next(counter)


def indicator(n: int, modified: str = "2025-05-01T00:00:00.000Z", **extra) -> bytes:
    return orjson.dumps({"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=n)}",
                         "created": "2025-05-01T00:00:00.000Z", "modified": modified,
                         "pattern": f"[ipv4-addr:value = '10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}']", **extra})


def ids_of(page) -> list[str]:
    return [row.id for row in page.rows]


def read_all(store: ObjectStore, collection: str, limit: int, **filters) -> tuple[list[str], int]:
    """Every object of a collection by following `next`; (ids in order, pages)."""
    ids, pages, token = [], 0, None
    while True:
        page = store.page(collection, Query(limit=limit, next=token, **filters))
        ids += ids_of(page)
        pages += 1
        assert len(page.rows) <= limit
        if not page.more:
            assert page.next is None
            return ids, pages
        token = page.next


def test_timestamps_round_trip_at_the_hubs_and_finer_precision():
    assert format_timestamp(parse_timestamp("2025-01-31T12:00:00.123Z")) == "2025-01-31T12:00:00.123Z"
    assert format_timestamp(parse_timestamp("2025-01-31T12:00:00.123456Z")) == "2025-01-31T12:00:00.123456Z"
    assert parse_timestamp("2025-01-31T12:00:00Z") == parse_timestamp("2025-01-31T12:00:00.000000Z")
    assert parse_timestamp("2025-01-31T12:00:00.123456789Z") == parse_timestamp("2025-01-31T12:00:00.123456Z")
    for bad in ("2025-01-31", "2025-01-31T12:00:00+09:00", "yesterday", "2025-13-01T00:00:00Z"):
        with pytest.raises((BadQuery, ValueError)):
            parse_timestamp(bad)


def test_pages_follow_next_through_every_object_once_in_added_order(store_url):
    store = ObjectStore(store_url, clock=ticking())
    n = 100_000 if store_url.startswith("sqlite") else 5_000
    store.add([("c1" if i % 2 else "c2", indicator(i)) for i in range(n)], {})
    ids, pages = read_all(store, "c1", limit=997)
    expected = [f"indicator--{uuid.UUID(int=i)}" for i in range(1, n, 2)]
    assert ids == expected  # insertion order is added order, nothing skipped or repeated
    assert pages == -(-len(expected) // 997)
    assert store.count("c1") == len(expected) and store.count() == n


def test_paging_is_an_index_seek_not_a_scan(store_url):
    store = ObjectStore(store_url, clock=ticking())
    store.add([("c1", indicator(i)) for i in range(2000)], {})
    page = store.page("c1", Query(limit=100))
    plan = store.plan("c1", Query(limit=100, next=page.next))
    if store.dialect == "sqlite":  # the range starts at the cursor: no rows before it are visited
        assert "USING INDEX objects_by_added (collection=? AND added>?)" in plan, plan
    else:
        assert "Index Cond: ((collection = 'c1'::text) AND (ROW(added, seq) > ROW(" in plan, plan


def test_added_after_continues_after_a_page_and_is_exclusive(store_url):
    store = ObjectStore(store_url, clock=ticking())
    store.add([("c", indicator(i)) for i in range(50)], {})
    first = store.page("c", Query(limit=20))
    rest = store.page("c", Query(limit=100, added_after=first.rows[-1].added))
    assert ids_of(first) + ids_of(rest) == [f"indicator--{uuid.UUID(int=i)}" for i in range(50)]
    assert store.page("c", Query(limit=100, added_after=rest.rows[-1].added)).rows == []


def test_added_strictly_increases_even_when_the_clock_stands_still(store_url):
    store = ObjectStore(store_url, clock=lambda: T0)
    store.add([("c", indicator(i)) for i in range(10)], {})
    store.add([("c", indicator(i)) for i in range(10, 20)], {})
    added = [row.added for row in store.page("c", Query(limit=100)).rows]
    assert added == sorted(set(added)) and len(added) == 20 and added[0] == T0


def test_versions_last_first_all_and_by_time(store_url):
    store = ObjectStore(store_url, clock=ticking())
    v1, v2, v3 = "2025-05-01T00:00:00.000Z", "2025-05-02T00:00:00.000Z", "2025-05-03T00:00:00.000Z"
    store.add([("c", indicator(1, v1)), ("c", indicator(2, v1))], {})
    store.add([("c", indicator(1, v3, revoked=True))], {})
    store.add([("c", indicator(1, v2))], {})  # an older version arriving late
    store.add([("c", indicator(1, v1))], {})  # a replay
    last = store.page("c", Query(limit=10))
    assert [(row.id[-1], format_timestamp(row.modified)) for row in last.rows] == [("2", v1), ("1", v3)]
    assert orjson.loads(last.rows[1].body)["revoked"] is True
    first = store.page("c", Query(limit=10, versions=("first",), ids=(f"indicator--{uuid.UUID(int=1)}",)))
    assert [format_timestamp(r.modified) for r in first.rows] == [v1]
    every = store.versions("c", f"indicator--{uuid.UUID(int=1)}", Query(limit=10))
    assert [format_timestamp(r.modified) for r in every.rows] == [v1, v3, v2]  # in added order
    chosen = store.page("c", Query(limit=10, versions=(parse_timestamp(v2),)))
    assert [format_timestamp(r.modified) for r in chosen.rows] == [v2]
    assert len(store.page("c", Query(limit=10, versions=("all",))).rows) == 4


def test_filters_by_id_and_type(store_url):
    store = ObjectStore(store_url, clock=ticking())
    malware = orjson.dumps({"type": "malware", "id": "malware--" + str(uuid.UUID(int=7)), "is_family": True,
                            "created": "2025-05-01T00:00:00.000Z", "modified": "2025-05-01T00:00:00.000Z"})
    store.add([("c", indicator(1)), ("c", malware), ("c", indicator(2))], {})
    assert [r.id.split("--")[0] for r in store.page("c", Query(limit=10, types=("malware",))).rows] == ["malware"]
    wanted = (f"indicator--{uuid.UUID(int=2)}", "indicator--nope")
    assert ids_of(store.page("c", Query(limit=10, ids=wanted))) == [wanted[0]]


def test_objects_and_positions_commit_together_or_not_at_all(store_url):
    store = ObjectStore(store_url, clock=ticking())
    store.add([("c", indicator(0))], {("kizuna.share.green.all", 0): 1})

    def broken():
        yield "c", indicator(1)
        raise RuntimeError("crash mid-batch")

    with pytest.raises(RuntimeError):
        store.add(broken(), {("kizuna.share.green.all", 0): 2})
    assert store.positions() == {("kizuna.share.green.all", 0): 1}
    assert store.count("c") == 1
    reopened = ObjectStore(store_url, clock=ticking(T0 + 10**9))
    assert reopened.positions() == {("kizuna.share.green.all", 0): 1}


def test_records_that_are_not_stix_objects_are_reported_with_where_not_stored(store_url):
    store = ObjectStore(store_url, clock=ticking())
    result = store.add([("c", b"not json"), ("c", indicator(1)), ("c", b'{"type": "indicator"}'),
                        ("c", b'["a list"]'), ("c", indicator(2, modified="last tuesday"))], {})
    assert result.inserted == 1
    assert [index for index, _ in result.unusable] == [0, 2, 3, 4]
    assert "modified" in result.unusable[3][1]


def test_status_resources_belong_to_the_member_that_posted(store_url):
    store = ObjectStore(store_url)
    store.save_status("s-1", "acme", {"id": "s-1", "status": "complete"})
    assert store.status("s-1", "acme") == {"id": "s-1", "status": "complete"}
    assert store.status("s-1", "globex") is None
    assert store.status("s-2", "acme") is None


def test_a_next_token_not_given_out_is_a_clear_error(tmp_path):
    store = ObjectStore(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(BadQuery, match="next"):
        store.page("c", Query(limit=10, next="'; DROP TABLE objects; --"))
