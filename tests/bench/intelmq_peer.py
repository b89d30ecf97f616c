"""IntelMQ side-by-side: events/s of collector -> parser -> deduplicator on this machine.

Why: kizuna's figures mean more next to the established open-source tool doing
the same job on the same indicators and cores. IntelMQ (PyPI ``intelmq``) runs
its bots as separate processes that pass messages through Redis lists, and its
deduplicator keeps message hashes in Redis too.

Pipeline, as an IntelMQ admin would configure it (one generated ``runtime.yaml``):

* ``bench-file-collector``  (``intelmq.bots.collectors.file.collector_file``):
  reads ``indicators.csv`` from a directory as one report (as a downloaded feed is)
* ``bench-csv-parser``      (``intelmq.bots.parsers.generic.parser_csv``):
  one event per line; the CSV has one column per indicator kind
  (``source.ip, source.fqdn, source.url, malware.hash.sha256, malware.hash.md5``),
  only the indicator's own column filled, so every value lands in its proper field
* ``bench-deduplicator``    (``intelmq.bots.experts.deduplicator.expert``):
  IntelMQ's shipped settings (hash of all fields but ``raw`` and ``time.observation``,
  cache TTL one day); unique events go to the Redis list ``bench-output-queue``

Each bot runs in its own process with IntelMQ's own ``Bot.start()`` loop, in
IntelMQ's "library mode" (``standalone=False``): standalone mode refuses to run
as root unless it can switch to an ``intelmq`` user, which these machines
(root, no such user) lack; the message handling is the same code either way.

Clock: ``seconds`` runs from the report appearing in Redis (collector done
reading the file) until the parser and deduplicator queues, including their
in-flight "internal" queues, are empty. Interpreter start-up and the collector's
read of the file are reported apart as ``startup_s``.

Run: ``.venv/bin/python -m tests.bench.intelmq_peer --n 20000``
(installs redis-server with apt-get and IntelMQ into var/bench/intelmq-venv on first use).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.bench.data import indicators

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = ROOT / "var" / "bench"
# Pinned so runs stay comparable: IntelMQ itself and its Redis client (on every
# message's path; IntelMQ only asks for redis>=2.10). setuptools<81 because
# IntelMQ 3.5 still imports pkg_resources, which newer setuptools (and the
# setuptools-less venvs of Python 3.12+) lack.
INTELMQ_REQUIREMENTS = ("intelmq==3.5.0", "redis==8.1.0", "setuptools<81")
REDIS_PORT = 6380
POLL_S = 0.01

KIND_FIELDS = {
    "ipv4-addr": "source.ip",
    "domain-name": "source.fqdn",
    "url": "source.url",
    "file-sha256": "malware.hash.sha256",
    "file-md5": "malware.hash.md5",
}
FIELDS = list(KIND_FIELDS.values())

COLLECTOR, PARSER, DEDUP = "bench-file-collector", "bench-csv-parser", "bench-deduplicator"
OUTPUT_QUEUE = "bench-output-queue"
# A bot's message sits in "<queue>" or, while it is being handled, "<queue>-internal".
BUSY_QUEUES = [f"{PARSER}-queue", f"{PARSER}-queue-internal", f"{DEDUP}-queue", f"{DEDUP}-queue-internal"]

# Runs one bot in its own process with IntelMQ's processing loop.
BOT_RUNNER = "import importlib, sys; importlib.import_module(sys.argv[1]).BOT(sys.argv[2], standalone=False).start()"


def _run(cmd: list[str], **kwargs: Any) -> None:
    """Run a setup command, showing its output only if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def ensure_intelmq(workdir: Path = DEFAULT_WORKDIR) -> Path:
    """Install what the peer run needs, idempotently; returns the IntelMQ venv's python.

    redis-server comes from Debian (apt-get, as root); IntelMQ goes into its own
    venv under ``workdir`` because its pins would clash with the project's.
    A stamp file naming the requirements makes a repeated call a no-op.
    """
    workdir = workdir.resolve()
    if shutil.which("redis-server") is None:
        if os.geteuid() != 0:
            raise RuntimeError("redis-server is missing: run `apt-get install -y redis-server` as root")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            _run(["apt-get", "install", "-y", "-q", "redis-server"], env=env)
        except RuntimeError:  # a fresh machine may have no package lists yet
            _run(["apt-get", "update", "-q"], env=env)
            _run(["apt-get", "install", "-y", "-q", "redis-server"], env=env)
    venv = workdir / "intelmq-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".bench-requirements"
    wanted = "\n".join(INTELMQ_REQUIREMENTS)
    if stamp.is_file() and stamp.read_text() == wanted and python.exists():
        return python
    workdir.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--clear", str(venv)])
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *INTELMQ_REQUIREMENTS])
    stamp.write_text(wanted)
    return python


class _Redis:
    """Just enough of the Redis protocol (RESP2) to drive the run; keeps redis-py out of the project venv."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._reader = self._sock.makefile("rb")

    def call(self, *args: str | int) -> Any:
        """Send one command and return its reply."""
        return self.pipeline([args])[0]

    def pipeline(self, commands: list[tuple[str | int, ...]]) -> list[Any]:
        """Send several commands in one write and return their replies in order."""
        out = bytearray()
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for arg in args:
                data = str(arg).encode()
                out += b"$%d\r\n%s\r\n" % (len(data), data)
        self._sock.sendall(out)
        return [self._reply() for _ in commands]

    def _reply(self) -> Any:
        line = self._reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._reader.read(size + 2)[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        raise RuntimeError(f"redis: unexpected reply {line!r}")

    def close(self) -> None:
        """Close the connection."""
        self._reader.close()
        self._sock.close()


@contextmanager
def _redis_server(datadir: Path, port: int) -> Iterator[_Redis]:
    """A private, non-persistent redis-server on 127.0.0.1:``port`` for one run."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        raise RuntimeError(f"port {port} is already in use; stop whatever listens there first")
    except ConnectionRefusedError:
        pass
    datadir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(datadir),
         "--save", "", "--appendonly", "no", "--logfile", str(datadir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client = _Redis(port)
                break
            except ConnectionRefusedError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {datadir / 'redis.log'}") from None
                time.sleep(0.05)
        try:
            yield client
        finally:
            client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _runtime_config(rundir: Path) -> dict[str, Any]:
    """The runtime.yaml an IntelMQ admin would write for this three-bot pipeline."""
    bots = {
        COLLECTOR: ("intelmq.bots.collectors.file.collector_file", {
            "path": str(rundir / "incoming"),
            "postfix": ".csv",
            "delete_file": True,
            "name": "kizuna-bench",
            "provider": "kizuna",
            "destination_queues": {"_default": [f"{PARSER}-queue"]},
        }),
        PARSER: ("intelmq.bots.parsers.generic.parser_csv", {
            "columns": FIELDS,
            "delimiter": ",",
            "type": "blacklist",
            "skip_header": False,
            "destination_queues": {"_default": [f"{DEDUP}-queue"]},
        }),
        DEDUP: ("intelmq.bots.experts.deduplicator.expert", {
            "filter_keys": "raw,time.observation",
            "filter_type": "blacklist",
            "redis_cache_host": "127.0.0.1",
            "redis_cache_port": REDIS_PORT,
            "redis_cache_db": 6,
            "redis_cache_ttl": 86400,
            "destination_queues": {"_default": [OUTPUT_QUEUE]},
        }),
    }
    pipeline = {
        f"{direction}_pipeline_{key}": value
        for direction in ("source", "destination")
        for key, value in (("broker", "redis"), ("host", "127.0.0.1"), ("port", REDIS_PORT), ("db", 2))
    }
    config: dict[str, Any] = {
        "global": {
            **pipeline,
            "statistics_host": "127.0.0.1",
            "statistics_port": REDIS_PORT,
            "statistics_database": 3,
            "logging_handler": "file",
            "logging_path": str(rundir / "log"),
            "logging_level": "INFO",
            "error_procedure": "pass",
            "error_dump_message": True,
            "process_manager": "intelmq",
        }
    }
    for bot_id, (module, parameters) in bots.items():
        config[bot_id] = {"bot_id": bot_id, "module": module, "enabled": True, "run_mode": "continuous",
                          "parameters": parameters}
    return config


def _write_csv(path: Path, indicators: list[tuple[str, str]]) -> None:
    """One line per indicator, its value in its kind's column and the others empty."""
    column = {kind: FIELDS.index(field) for kind, field in KIND_FIELDS.items()}
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for kind, value in indicators:
            cells = [""] * len(FIELDS)
            cells[column[kind]] = value
            writer.writerow(cells)


def _start_bot(python: Path, rundir: Path, bot_id: str, module: str) -> subprocess.Popen[bytes]:
    """Start one bot process reading this run's runtime.yaml (via INTELMQ_ROOT_DIR)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTELMQ_")}
    env["INTELMQ_ROOT_DIR"] = str(rundir / "root")
    with (rundir / "log" / f"{bot_id}.stdout").open("wb") as out:  # the child keeps its own copy
        return subprocess.Popen([str(python), "-c", BOT_RUNNER, module, bot_id], env=env, stdout=out, stderr=out)


def _wait_initialized(procs: dict[str, subprocess.Popen[bytes]], logdir: Path, timeout_s: float) -> None:
    """Wait until each bot has logged that its initialization (pipeline connect, init()) completed."""
    deadline = time.monotonic() + timeout_s
    for bot_id, proc in procs.items():
        log = logdir / f"{bot_id}.log"
        while not (log.exists() and "Bot initialization completed." in log.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"IntelMQ bot {bot_id} did not start; see {log} and its .stdout")
            time.sleep(0.05)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the bot processes this run started."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_drained(
    redis: _Redis, procs: dict[str, subprocess.Popen[bytes]], csv_file: Path, deadline: float
) -> tuple[float, float, float]:
    """Poll Redis until the report entered the pipeline and every event left the deduplicator.

    Returns the times the report was first seen, the parser was done and all was
    drained. The collector deletes the file only after its report is in Redis,
    and a message stays in a bot's queue or internal queue until the bot has
    sent its results on, so "file gone and those queues empty" means the
    deduplicator has handled every event.
    """
    redis.call("SELECT", 2)
    t_report = t_parsed = 0.0
    while True:
        lengths = redis.pipeline([("LLEN", q) for q in (*BUSY_QUEUES, OUTPUT_QUEUE)])
        now = time.monotonic()
        if not t_report and any(lengths):
            t_report = now
        if t_report and not t_parsed and not any(lengths[:2]) and not csv_file.exists():
            t_parsed = now
        if t_parsed and not any(lengths[2:4]):
            return t_report, t_parsed, now
        dead = [bot_id for bot_id, proc in procs.items() if proc.poll() is not None]
        if dead or now > deadline:
            raise RuntimeError(f"IntelMQ run failed (dead bots: {dead}, queues: {lengths})")
        time.sleep(POLL_S)


def run_intelmq(indicators: list[tuple[str, str]], workdir: Path = DEFAULT_WORKDIR) -> dict[str, Any]:
    """Push ``indicators`` through IntelMQ's file collector, CSV parser and deduplicator; see module docstring."""
    workdir = workdir.resolve()
    python = ensure_intelmq(workdir)
    rundir = workdir / "intelmq-run"
    shutil.rmtree(rundir, ignore_errors=True)
    for sub in ("root/etc", "log", "incoming"):
        (rundir / sub).mkdir(parents=True)
    config = _runtime_config(rundir)
    (rundir / "root/etc/runtime.yaml").write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    shutil.copy(next(python.parent.parent.glob("lib/python*/site-packages/intelmq/etc/harmonization.conf")),
                rundir / "root/etc/harmonization.conf")
    _write_csv(rundir / "incoming" / "indicators.csv", indicators)
    timeout_s = 120 + len(indicators) / 50

    procs: dict[str, subprocess.Popen[bytes]] = {}
    with _redis_server(rundir / "redis", REDIS_PORT) as redis:
        try:
            for bot_id in (PARSER, DEDUP):
                procs[bot_id] = _start_bot(python, rundir, bot_id, config[bot_id]["module"])
            _wait_initialized(procs, rundir / "log", 60)
            t_spawn = time.monotonic()
            procs[COLLECTOR] = _start_bot(python, rundir, COLLECTOR, config[COLLECTOR]["module"])
            csv_file = rundir / "incoming" / "indicators.csv"
            t_report, t_parsed, t_done = _wait_drained(redis, procs, csv_file, t_spawn + timeout_s)
        finally:
            _stop(list(procs.values()))
        redis.call("SELECT", 2)
        out = [json.loads(raw) for raw in redis.call("LRANGE", OUTPUT_QUEUE, 0, -1)]

    seconds = t_done - t_report
    distinct_in = {(KIND_FIELDS[kind], value) for kind, value in indicators}
    unique_out = {(field, event[field]) for event in out for field in FIELDS if field in event}
    dump = rundir / "log" / f"{PARSER}.dump"
    return {
        "events": len(indicators),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(indicators) / seconds),
        "unique_out": len(unique_out),
        "distinct_in": len(distinct_in),
        "out_messages": len(out),
        "out_matches_in": unique_out == distinct_in,
        "parse_failures": len(json.loads(dump.read_text())) if dump.exists() else 0,
        "parser_done_s": round(t_parsed - t_report, 3),
        "startup_s": round(t_report - t_spawn, 3),
        "intelmq": INTELMQ_REQUIREMENTS[0],
    }


def main() -> None:
    """CLI: generate N indicators (30% duplicates), run IntelMQ on them, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dup-ratio", type=float, default=0.3)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    t0 = time.monotonic()
    ensure_intelmq(args.workdir)
    setup_s = time.monotonic() - t0
    figures = run_intelmq(indicators(args.n, args.dup_ratio), args.workdir)
    print(json.dumps({**figures, "setup_s": round(setup_s, 1)}, indent=2))
    if not figures["out_matches_in"] or figures["parse_failures"]:
        sys.exit("IntelMQ output does not match the distinct input indicators")


if __name__ == "__main__":
    main()
