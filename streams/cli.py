"""`kizuna`: submit, read, run and inspect the hub.

Exit codes scripts can rely on: 0 success; 1 partly rejected (the good items were
sent); 2 usage or configuration error, nothing sent; 3 nothing usable (sent, so
the rejection is on record); 4 Kafka unreachable or delivery failed.
"""
from __future__ import annotations

import gc
import sys
import time
import uuid

import orjson
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer import _click as click
from rich.console import Console
from rich.table import Table

from streams.core.formats import FORMATS, Limits, parse_submission
from streams.core.normalize import normalize
from streams.sectors import ALL, SECTORS, canonical_sector
from streams.settings import ConfigError, Settings, get_settings
from streams.tlp import parse_level
from streams.topics import Topics

EXIT_PARTIAL, EXIT_USAGE, EXIT_UNUSABLE, EXIT_KAFKA = 1, 2, 3, 4

cli = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
topics_cli = typer.Typer(help="The topic plan: list it, or create it on the broker.", invoke_without_command=True)
cli.add_typer(topics_cli, name="topics")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


@cli.command()
def submit(
    path: Annotated[Path, typer.Argument(help="File to submit: STIX bundle, MISP event JSON, CSV or text.")],
    member: Annotated[str, typer.Option("--as", help="Your member id.")],
    tlp: Annotated[Optional[str], typer.Option(help="TLP for objects without their own marking: clear, green, amber, amber+strict.")] = None,
    sector: Annotated[Optional[list[str]], typer.Option("--sector", help="Share with this sector only (repeatable); default: the whole community.")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "auto",
    to: Annotated[Optional[list[str]], typer.Option("--to", help="Send only to this member's inbox (repeatable); needed for TLP:RED.")] = None,
) -> None:
    """Put a submission on kizuna.intake, after checking it here with the hub's own parser."""
    from streams.kafka_io import DeliveryFailed, Publisher
    from streams.records import submission_codec

    settings = _settings()
    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}")
    if tlp is not None and parse_level(tlp) is None:
        raise _fail(f"--tlp {tlp!r} is not a TLP level (clear, green, amber, amber+strict, red)")
    unknown = [s for s in sector or [] if canonical_sector(s) is None]
    if unknown:
        raise _fail(f"unknown sector(s) {', '.join(unknown)}; `kizuna sectors` lists them")
    if not path.is_file():
        raise _fail(f"{path}: no such file")
    size = path.stat().st_size
    if size > settings.max_submission_bytes:
        raise _fail(f"{path}: {size} bytes, the limit is {settings.max_submission_bytes} (KIZUNA_MAX_SUBMISSION_BYTES)")
    payload = path.read_bytes()
    envelope = {
        "submission_id": str(uuid.uuid4()),
        "submitter": member,
        "received_at": int(time.time() * 1000),
        "format": fmt,
        "filename": path.name,
        "tlp": tlp,
        "sectors": [canonical_sector(s) for s in sector or []],
        "recipients": sorted(set(to or [])),
        "payload": payload,
    }
    limits = Limits(settings.max_submission_bytes, settings.max_objects, settings.max_json_depth)
    parsed = parse_submission(payload, fmt, path.name, limits)
    checked = normalize(envelope, parsed, "you")
    publisher = Publisher(settings, "kizuna-cli")
    publisher.send(Topics(settings.namespace).intake, submission_codec().encode(envelope), envelope["submission_id"].encode())
    try:
        publisher.flush_sync(timeout=30)
    except DeliveryFailed as exc:
        raise _fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    for rejected in checked.rejections:
        err.print(f"[yellow]rejected[/] {path.name}: {rejected['where']}: {rejected['reason']} [{rejected['code']}]")
    out.print(f"submitted {envelope['submission_id']} ({parsed.format}): "
              f"{len(checked.records)} objects accepted, {len(checked.rejections)} rejected")
    if checked.rejections:
        raise typer.Exit(EXIT_PARTIAL if checked.records else EXIT_UNUSABLE)


@cli.command()
def feedback(
    indicator: Annotated[str, typer.Argument(help="The record's STIX id, or the indicator value (evil.example, 1.2.3.4 ...).")],
    member: Annotated[str, typer.Option("--as", help="Your member id.")],
    kind: Annotated[str, typer.Option(help="sighting, false-positive or confirm.")],
    count: Annotated[int, typer.Option(help="How many times it was seen (sightings only).")] = 1,
    tlp: Annotated[Optional[str], typer.Option(help="TLP of this feedback; default: your member default.")] = None,
) -> None:
    """Report a sighting, a confirmation or a false positive on kizuna.feedback."""
    from streams.core.canonical import InvalidValue
    from streams.core.feedback import KINDS, MAX_COUNT, resolve
    from streams.kafka_io import DeliveryFailed, Publisher
    from streams.records import feedback_codec

    settings = _settings()
    if kind not in KINDS:
        raise _fail(f"--kind must be one of {', '.join(KINDS)}")
    if not 1 <= count <= MAX_COUNT or (kind != "sighting" and count != 1):
        raise _fail(f"--count must be 1..{MAX_COUNT}, and 1 unless --kind sighting")
    if tlp is not None and parse_level(tlp) is None:
        raise _fail(f"--tlp {tlp!r} is not a TLP level")
    try:
        record_id = resolve(indicator)
    except InvalidValue as exc:
        raise _fail(str(exc)) from None
    item = {"feedback_id": str(uuid.uuid4()), "member": member, "kind": kind, "indicator": indicator,
            "count": count, "tlp": tlp, "observed_at": int(time.time() * 1000)}
    publisher = Publisher(settings, "kizuna-cli")
    publisher.send(Topics(settings.namespace).feedback, feedback_codec().encode({"items": [item]}), item["feedback_id"].encode())
    try:
        publisher.flush_sync(timeout=30)
    except DeliveryFailed as exc:
        raise _fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    out.print(f"feedback {item['feedback_id']}: {kind} on {record_id}")


@cli.command()
def members() -> None:
    """Members with their standing (contributions in the window), tier and learned reliability."""
    from streams import members as registry
    from streams.core.normalize import pseudonym
    from streams.core.reputation import Book, standing
    from streams.kafka_io import read_partition
    from streams.tlp import TLP

    settings = _settings()
    try:
        known = registry.load(settings.members_file)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    book = Book()
    for _, value in read_partition(settings, Topics(settings.namespace).reputation, 0):
        book.apply(orjson.loads(value))
    secret, now = settings.pseudonym_secret(), int(time.time() * 1000)
    window = settings.standing_window_days * 86_400_000
    table = Table("member", "sectors", "tier", "contributions", "reliability (green)", "outcomes +/-")
    for member in known.members:
        alias = pseudonym(secret, member.id)
        given = book.contributions(alias, now, window)
        alpha, beta = book.counts(alias, TLP.GREEN)
        tier = standing(given, settings.standing_bar, member.tier)
        table.add_row(member.id, ",".join(member.sectors) or "all", tier + (" (pinned)" if member.tier != "auto" else ""),
                      f"{given} in {settings.standing_window_days} d (bar {settings.standing_bar})",
                      f"{alpha / (alpha + beta):.2f}", f"{alpha - 1:.0f} / {beta - 1:.0f}")
    out.print(table)


@cli.command()
def audit(
    member: Annotated[str, typer.Option("--as", help="Your member id.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts.")] = False,
) -> None:
    """Where your own submissions went: each record version and the topic or inbox it reached."""
    from streams.core.normalize import pseudonym
    from streams.kafka_io import read_partition

    settings = _settings()
    mine = pseudonym(settings.pseudonym_secret(), member).encode()
    trails = [trail for key, value in read_partition(settings, Topics(settings.namespace).audit, 0) if key == mine
              for trail in orjson.loads(value)]
    if as_json:
        for trail in trails:
            sys.stdout.write(orjson.dumps(trail).decode() + "\n")
        return
    table = Table("record", "version", "delivered to", "tier", "status")
    for trail in trails:
        table.add_row(trail["id"], str(trail["modified"]), trail["topic"], trail["tier"], trail["status"])
    out.print(table)


@cli.command()
def consume(
    topic: Annotated[str, typer.Argument(help="Topic to read, e.g. kizuna.share.green.finance.")],
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record.")] = False,
    max_records: Annotated[int, typer.Option("--max", help="Stop after this many records (0: no limit).")] = 0,
    timeout: Annotated[float, typer.Option(help="Stop after this many seconds without a record (0: never).")] = 10.0,
) -> None:
    """Print one JSON record per line, as a SIEM's plain Kafka consumer would read them."""
    from confluent_kafka import Consumer, KafkaError

    settings = _settings()
    consumer = Consumer({
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": f"kizuna-cli-{uuid.uuid4()}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
    })
    if topic not in consumer.list_topics(timeout=10).topics:
        consumer.close()
        raise _fail(f"no topic {topic!r}; `kizuna topics` lists them")
    consumer.subscribe([topic])
    count, idle_since = 0, time.monotonic()
    try:
        while not max_records or count < max_records:
            msg = consumer.poll(0.5)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                if timeout and time.monotonic() - idle_since > timeout:
                    break
                continue
            if msg.error():
                raise _fail(str(msg.error()), EXIT_KAFKA)
            sys.stdout.write(msg.value().decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            count, idle_since = count + 1, time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@topics_cli.callback()
def topics_list(ctx: typer.Context) -> None:
    """List the topic plan (with `create`: create it on the broker)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    table = Table("topic", "partitions", "config", "carries")
    for spec in Topics(settings.namespace).plan(settings, _member_ids(settings)):
        table.add_row(spec.name, str(spec.partitions), ",".join(f"{k}={v}" for k, v in spec.config.items()), spec.purpose)
    out.print(table)


def _member_ids(settings: Settings) -> list[str]:
    from streams import members as registry

    try:
        return [m.id for m in registry.load(settings.members_file).members]
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@topics_cli.command("create")
def topics_create() -> None:
    """Create every planned topic that does not exist yet (idempotent), members' inboxes included."""
    from confluent_kafka import KafkaException

    settings = _settings()
    try:
        from streams.kafka_io import create_topics

        created, existing = create_topics(settings, Topics(settings.namespace).plan(settings, _member_ids(settings)))
    except KafkaException as exc:
        raise _fail(f"Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    out.print(f"topics: {len(created)} created, {len(existing)} already there")


@cli.command()
def sectors() -> None:
    """List the sectors records can be shared with."""
    for name in (*SECTORS, ALL):
        out.print(name)


@cli.command()
def worker() -> None:
    """Run the Faust worker (normalize, merge, route) with Prometheus /metrics, until Ctrl-C."""
    settings = _settings()
    from faust.worker import Worker

    from streams import metrics
    from streams.agents import feedback, merge, normalize  # noqa: F401  (registers the agents)
    from streams.app import app

    # The warning lists are millions of long-lived objects: without this, every full garbage
    # collection walks them all, which halves the worker's throughput (measured, docs/performance.md).
    gc.freeze()
    metrics.serve(settings.metrics_port)
    if settings.metrics_port:
        err.print(f"metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
    Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


def main() -> None:
    from confluent_kafka import KafkaException

    try:
        code = cli(standalone_mode=False)  # returns the code of a typer.Exit
    except KafkaException as exc:
        err.print(f"[red]error:[/] Kafka: {exc.args[0].str() if exc.args else exc} "
                  "(is the broker up, and the topic plan created with `kizuna topics create`?)")
        sys.exit(EXIT_KAFKA)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
