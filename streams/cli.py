"""`kizuna`: submit, read, run and inspect the hub.

Exit codes scripts can rely on: 0 success (objects skipped by a documented policy, such as
the provider's identity, are not errors); 1 partly rejected (the good items were
sent); 2 usage or configuration error, nothing sent; 3 nothing usable (sent, so
the rejection is on record); 4 Kafka unreachable or delivery failed; 5 internal error.
"""
from __future__ import annotations

import gc
import sys
import time
import uuid
from collections import Counter

import orjson
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer import _click as click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams import access
from streams.core.formats import FORMATS, Limits, parse_submission
from streams.core.items import Reason
from streams.core.normalize import normalize
from streams.sectors import ALL, SECTORS, canonical_sector
from streams.settings import ConfigError, Settings, get_settings
from streams.tlp import parse_level
from streams.topics import Topics

EXIT_PARTIAL, EXIT_USAGE, EXIT_UNUSABLE, EXIT_KAFKA, EXIT_INTERNAL = 1, 2, 3, 4, 5

cli = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
topics_cli = typer.Typer(help="The topic plan: list it, or create it on the broker.", invoke_without_command=True)
cli.add_typer(topics_cli, name="topics")
members_cli = typer.Typer(help="The members registry and each member's access on the broker.", invoke_without_command=True)
cli.add_typer(members_cli, name="members")
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
    member: Annotated[str, typer.Option("--as", help="Your member id (your issued credentials sign it).")],
    tlp: Annotated[Optional[str], typer.Option(help="TLP for objects without their own marking: clear, green, amber, amber+strict.")] = None,
    sector: Annotated[Optional[list[str]], typer.Option("--sector", help="Share with this sector only (repeatable); default: the whole community.")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "auto",
    to: Annotated[Optional[list[str]], typer.Option("--to", help="Send only to this member's inbox (repeatable); needed for TLP:RED.")] = None,
    bulk: Annotated[Optional[bool], typer.Option("--bulk/--live", help="Intake lane; default: bulk above KIZUNA_BULK_BYTES. "
                                                                     "The bulk lane yields to live submissions.")] = None,
    override_distribution: Annotated[bool, typer.Option(
        "--override-distribution", help="Share MISP events whose distribution (0 your organisation, 4 sharing group) "
                                        "is narrower than --tlp at --tlp anyway; without it they stop here.")] = False,
) -> None:
    """Put a submission on the intake, after checking it here with the hub's own parser."""
    from streams import intake
    from streams.kafka_io import DeliveryFailed

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
    sectors = [canonical_sector(s) for s in sector or []]
    limits = Limits.of(settings)
    parsed = parse_submission(payload, fmt, path.name, limits)
    checked = normalize(intake.envelope(member, payload, fmt, path.name, tlp, sectors, to or [],
                                        override_distribution=override_distribution), parsed, "you")
    narrower = [r for r in checked.rejections if r["code"] == Reason.DISTRIBUTION]
    if narrower:  # scope is never widened silently: nothing is sent, the one flag that would is named
        raise _fail(f"{path.name}: {len(narrower)} object(s) come from MISP events whose distribution is narrower than "
                    f"--tlp {tlp} (e.g. {narrower[0]['where']}). Nothing was sent. To share them at TLP:"
                    f"{str(tlp).upper()} anyway, submit again with --override-distribution. / "
                    "MISP の配布範囲が --tlp より狭いため送信しませんでした。"
                    "--override-distribution を付けると指定の TLP で共有します。")
    try:
        submission_id = intake.submit(settings, member, payload, fmt, path.name, tlp, sectors, to or [], bulk=bulk,
                                      override_distribution=override_distribution)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except DeliveryFailed as exc:
        raise _fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    for rejected in checked.rejections:
        # escape: file names, places and reasons quote the submission, which must not style the terminal
        err.print("[yellow]rejected[/] " + escape(f"{path.name}: {rejected['where']}: {rejected['reason']} [{rejected['code']}]"))
    skips = Counter(item["code"] for item in checked.skipped)
    for code, count in sorted(skips.items()):  # policy, not errors: counted, one line a reason
        example = next(item["reason"] for item in checked.skipped if item["code"] == code)
        err.print("[cyan]skipped[/] " + escape(f"{count} × [{code}] {example} / 方針により共有しません"))
    out.print(f"submitted {submission_id} ({parsed.format}): {len(checked.records)} objects accepted, "
              f"{len(checked.skipped)} skipped by policy, {len(checked.rejections)} rejected")
    if checked.rejections:  # skips never change the exit code
        raise typer.Exit(EXIT_PARTIAL if checked.records else EXIT_UNUSABLE)


@cli.command()
def feedback(
    indicator: Annotated[str, typer.Argument(help="The record's STIX id, or the indicator value (evil.example, 1.2.3.4 ...).")],
    member: Annotated[str, typer.Option("--as", help="Your member id (your issued credentials sign it).")],
    kind: Annotated[str, typer.Option(help="sighting, false-positive or confirm.")],
    count: Annotated[int, typer.Option(help="How many times it was seen (sightings only).")] = 1,
    tlp: Annotated[Optional[str], typer.Option(help="TLP of this feedback; default: your member default.")] = None,
) -> None:
    """Report a sighting, a confirmation or a false positive on kizuna.feedback."""
    from streams import intake
    from streams.core.canonical import InvalidValue
    from streams.core.feedback import KINDS, MAX_COUNT, resolve
    from streams.kafka_io import DeliveryFailed

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
    item = intake.feedback_item(member, indicator, kind, count, tlp)
    try:
        intake.send_feedback(settings, member, [item])
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except DeliveryFailed as exc:
        raise _fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    out.print(f"feedback {item['feedback_id']}: {kind} on {record_id}")


@members_cli.callback()
def members_list(ctx: typer.Context) -> None:
    """Members with their standing (contributions in the window), tier and learned reliability
    (with a subcommand: add, remove, show or sync them)."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.core.normalize import pseudonym
    from streams.core.reputation import Book
    from streams.kafka_io import read_partition
    from streams.tlp import TLP

    settings = _settings()
    known = _registry(settings)
    book = Book()
    for _, value in read_partition(settings, Topics(settings.namespace).reputation, 0):
        book.apply(orjson.loads(value))
    tiers = access.standings(settings, known, book)
    secret = settings.pseudonym_secret()
    table = Table("member", "sectors", "max TLP", "tier", "contributions", "reliability (green)", "outcomes +/-")
    for member in known.members:
        alpha, beta = book.counts(pseudonym(secret, member.id), TLP.GREEN)
        now = tiers[member.id]
        table.add_row(member.id, ",".join(member.sectors) or "all", member.max_tlp,
                      now.tier + (" (pinned)" if now.pinned else ""),
                      f"{now.contributions} in {settings.standing_window_days} d (bar {settings.standing_bar})",
                      f"{alpha / (alpha + beta):.2f}", f"{alpha - 1:.0f} / {beta - 1:.0f}")
    out.print(table)


@members_cli.command("show")
def members_show(member_id: Annotated[str, typer.Argument(help="Member id.")]) -> None:
    """One member: its registry entry, tier now, credentials file, and every topic it may read."""
    from streams import credentials

    settings = _settings()
    member = _registry(settings).get(member_id)
    if member is None:
        raise _fail(f"no member {member_id!r}; `kizuna members` lists them", EXIT_UNUSABLE)
    for field, value in member.model_dump().items():
        out.print(f"{field}: {value}")
    now = access.standings(settings, _registry(settings))[member_id]
    out.print(f"tier now: {now.tier}{' (pinned)' if now.pinned else ''}, {now.contributions} contributions "
              f"in {settings.standing_window_days} d (bar {settings.standing_bar})")
    out.print(f"kafka user: {credentials.principal(settings.namespace, member_id)}; credentials file: "
              f"{credentials.path(settings, member_id) if credentials.issued(settings, member_id) else 'not issued'}")
    out.print("may read:")
    for name in access.readable(Topics(settings.namespace), member, now.tier):
        out.print(f"  {name}")


@members_cli.command("add")
def members_add(
    member_id: Annotated[str, typer.Argument(help="Member id: lower case, digits, dashes; names its inbox topic.")],
    name: Annotated[str, typer.Option(help="Display name (never shared unless --consent-named).")] = "",
    sector: Annotated[Optional[list[str]], typer.Option("--sector", help="A sector of the member (repeatable).")] = None,
    tier: Annotated[str, typer.Option(help="auto (follows standing), contributor or general.")] = "auto",
    default_tlp: Annotated[Optional[str], typer.Option(help="TLP of its submissions that carry none.")] = None,
    max_tlp: Annotated[str, typer.Option(help="Highest TLP of the sector topics it may read.")] = "amber+strict",
    consent_named: Annotated[bool, typer.Option("--consent-named", help="Records may name it as their source.")] = False,
) -> None:
    """Add a member: registry entry, its topics, SCRAM credentials and ACLs; prints its credentials file."""
    from pydantic import ValidationError

    from streams import credentials, members as registry
    from streams.members import Member

    settings = _settings()
    known = _registry(settings)
    if known.get(member_id) is not None:
        raise _fail(f"member {member_id!r} exists; `kizuna members remove` it first to re-issue")
    try:
        member = Member(id=member_id, name=name, sectors=sector or [], tier=tier, default_tlp=default_tlp,
                        max_tlp=max_tlp, consent_named=consent_named)
    except ValidationError as exc:
        raise _fail("; ".join(f"{e['loc'][0] if e['loc'] else 'member'}: {e['msg']}" for e in exc.errors())) from None
    registry.save(settings.members_file, registry.Registry(members=[*known.members, member]))
    _provision(settings)
    out.print(f"member {member_id} added; hand it {credentials.path(settings, member_id)} "
              f"(KIZUNA_CREDENTIALS_FILE on its machine)")


@members_cli.command("remove")
def members_remove(member_id: Annotated[str, typer.Argument(help="Member id.")]) -> None:
    """Remove a member: its ACLs and login are revoked at once, its own topics deleted."""
    from streams import credentials, members as registry
    from streams.kafka_io import admin

    settings = _settings()
    known = _registry(settings)
    if known.get(member_id) is None:
        raise _fail(f"no member {member_id!r}; `kizuna members` lists them", EXIT_UNUSABLE)
    registry.save(settings.members_file, registry.Registry(members=[m for m in known.members if m.id != member_id]))
    client = admin(settings)
    access.drop_user(client, credentials.principal(settings.namespace, member_id))
    credentials.withdraw(settings, member_id)
    client.delete_topics(Topics(settings.namespace).member_topics(member_id), request_timeout=30)
    out.print(f"member {member_id} removed: login and ACLs revoked, its topics deleted")


@members_cli.command("sync")
def members_sync(
    every: Annotated[float, typer.Option(help="Repeat every this many seconds (0: once), so standing changes take effect.")] = 0,
) -> None:
    """Make the broker match the registry and each member's standing: credentials, topics, ACLs."""
    settings = _settings()
    while True:
        _provision(settings)
        if not every:
            return
        time.sleep(every)


@cli.command()
def setup() -> None:
    """Create the topic plan, the workers' login and every member's credentials and ACLs (idempotent)."""
    settings = _settings()
    _provision(settings)


def _registry(settings: Settings):
    from streams import members as registry

    try:
        return registry.load(settings.members_file)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _provision(settings: Settings) -> None:
    from streams.kafka_io import admin, create_topics

    known = _registry(settings)
    created, _ = create_topics(settings, Topics(settings.namespace).plan(settings, [m.id for m in known.members]))
    client = admin(settings)
    access.ensure_hub(settings, client)
    report = access.sync(settings, client, known, access.standings(settings, known))
    out.print(f"{time.strftime('%H:%M:%S')} setup: {len(created)} topics created; {len(known.members)} members, "
              f"{len(report.issued)} credentials issued, {len(report.removed)} removed; "
              f"ACL rules {report.acls_added} added, {report.acls_removed} removed")


@cli.command()
def audit(
    member: Annotated[str, typer.Option("--as", help="Your member id (read with your own credentials).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts.")] = False,
) -> None:
    """Where your own submissions went: each record version and the topic or inbox it reached."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from streams.kafka_io import client_config

    settings = _settings()
    topic = Topics(settings.namespace).member_audit(member)
    try:
        config = client_config(settings, member)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    consumer = Consumer({**config, "group.id": Topics(settings.namespace).member_group_prefix(member) + "audit",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    trails = []
    try:
        while True:
            msg = consumer.poll(10)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                break
            if msg.error():
                raise _fail(f"{topic}: {msg.error().str()}", EXIT_KAFKA)
            trails += orjson.loads(msg.value())
    finally:
        consumer.close()
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
    member: Annotated[Optional[str], typer.Option("--as", help="Read as this member, with its credentials.")] = None,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record.")] = False,
    max_records: Annotated[int, typer.Option("--max", help="Stop after this many records (0: no limit).")] = 0,
    timeout: Annotated[float, typer.Option(help="Stop after this many seconds without a record (0: never).")] = 10.0,
) -> None:
    """Print one JSON record per line, as a SIEM's plain Kafka consumer would read them."""
    from confluent_kafka import Consumer, KafkaError

    from streams.kafka_io import client_config

    settings = _settings()
    names = Topics(settings.namespace)
    try:
        config = client_config(settings, member)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    group = (names.member_group_prefix(member) if member else names.hub_group_prefix) + f"cli-{uuid.uuid4()}"
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest" if from_beginning else "latest",
                         "enable.auto.commit": False})
    if topic not in consumer.list_topics(timeout=10).topics:
        consumer.close()
        raise _fail(f"no topic {topic!r} that you may read; `kizuna members show` lists what a member may read")
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
                raise _fail(f"{topic}: {msg.error().str()}", EXIT_KAFKA)
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
    """Run the Faust worker (normalize, merge, route) with Prometheus /metrics, until Ctrl-C.
    It logs in as the hub's own principal (<namespace>-hub), never as the broker's admin."""
    import os

    from streams.credentials import hub_principal

    settings = _settings()
    if settings.kafka_user == "admin":
        os.environ["KIZUNA_KAFKA_USER"] = hub_principal(settings.namespace)
        get_settings.cache_clear()
        settings = _settings()
        settings.kafka_secret()  # fails now, with the fix, if `kizuna setup` has not run
    from faust.worker import Worker

    from streams import metrics
    from streams.agents import feedback, merge, normalize  # noqa: F401  (registers the agents)
    from streams.app import app

    # The warning lists are millions of long-lived objects: without this, every full garbage
    # collection walks them all, which halves the worker's throughput (measured, docs/performance.md).
    gc.freeze()
    metrics.serve(settings.metrics_port, lag_of=settings)
    if settings.metrics_port:
        err.print(f"metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
    Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


from connectors.taxii.cli import taxii_cli  # noqa: E402
cli.add_typer(taxii_cli, name="taxii")
from connectors.siem.cli import export_cli  # noqa: E402
cli.add_typer(export_cli, name="export")
from connectors.misp.cli import misp_cli  # noqa: E402
cli.add_typer(misp_cli, name="misp")


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
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly rather than print a traceback
        err.print(f"[red]internal error:[/] {type(exc).__name__}: {exc} (a kizuna bug; please report it)")
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
