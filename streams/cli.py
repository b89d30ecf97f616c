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
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import orjson
import typer

from connectors.misp.cli import misp_cli
from connectors.siem.cli import export_cli
from connectors.taxii.cli import taxii_cli
from streams import access, trust_cli, withdraw_cli
from streams.cliutil import (
    EXIT_INTERNAL,
    EXIT_KAFKA,
    EXIT_PARTIAL,
    EXIT_UNUSABLE,
    EXIT_USAGE,
    err,
    hub_login,
    json_lines,
    listing,
    out,
    say,
    scope,
    unwrap,
)
from streams.cliutil import fail as _fail
from streams.cliutil import registry as _registry
from streams.cliutil import settings as _settings
from streams.constants import REQUEST_TIMEOUT_S
from streams.core.formats import FORMATS, Limits, parse_submission
from streams.core.items import Reason
from streams.core.normalize import normalize
from streams.rotation import members_rotate
from streams.sectors import ALL, NAMES_JA, SECTORS
from streams.settings import ConfigError, Settings
from streams.topics import Topics
from streams.vulns_cli import register_vulns

cli = typer.Typer(help=unwrap(__doc__), no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode="rich")
topics_cli = typer.Typer(help="The topic plan: list it, or create it on the broker.", invoke_without_command=True)
members_cli = typer.Typer(help="The members registry and each member's access on the broker.",
                          invoke_without_command=True)
# Every subcommand group registers here, one line each.
cli.add_typer(topics_cli, name="topics")
cli.add_typer(members_cli, name="members")
cli.add_typer(taxii_cli, name="taxii")
cli.add_typer(export_cli, name="export")
cli.add_typer(misp_cli, name="misp")
members_cli.command("rotate")(members_rotate)
register_vulns(cli)
cli.command("explain")(trust_cli.explain)
cli.command("vouch")(trust_cli.vouch)
cli.command("withdraw")(withdraw_cli.withdraw)
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts.")]


@cli.command()
def submit(
    path: Annotated[Path, typer.Argument(help="File to submit: STIX bundle, MISP event JSON, CSV or text.")],
    member: Annotated[str, typer.Option("--as", help="Your member id (your issued credentials sign it).")],
    tlp: Annotated[Optional[str],
                   typer.Option(help="TLP for objects without their own marking: clear, green, amber, amber+strict.")
                   ] = None,
    sector: Annotated[Optional[list[str]], typer.Option("--sector",
                                                        help="Share with this sector only (repeatable); default: the "
                                                             "whole community.")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "auto",
    to: Annotated[Optional[list[str]],
                  typer.Option("--to", help="Send only to this member's inbox (repeatable); needed for TLP:RED.")
                  ] = None,
    bulk: Annotated[Optional[bool], typer.Option("--bulk/--live",
                                                 help="Intake lane; default: bulk above KIZUNA_BULK_BYTES. "
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
    tlp, sectors = scope(tlp, sector)
    if not path.is_file():
        raise _fail(f"{path}: no such file")
    size = path.stat().st_size
    if size > settings.max_submission_bytes:
        raise _fail(f"{path}: {size} bytes, the limit is {settings.max_submission_bytes} (KIZUNA_MAX_SUBMISSION_BYTES)")
    payload = path.read_bytes()
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
        say(err, "[yellow]rejected[/]", f"{path.name}: {rejected['where']}: {rejected['reason']} [{rejected['code']}]")
    skips = Counter(item["code"] for item in checked.skipped)
    for code, count in sorted(skips.items()):  # policy, not errors: counted, one line a reason
        example = next(item["reason"] for item in checked.skipped if item["code"] == code)
        say(err, "[cyan]skipped[/]", f"{count} × [{code}] {example} / 方針により共有しません")
    withdrawn = sum(1 for record in checked.records if record.get("withdrawn"))
    out.print(f"submitted {submission_id} ({parsed.format}): {len(checked.records) - withdrawn} objects accepted, "
              + (f"{withdrawn} withdrawn, " if withdrawn else "")
              + f"{len(checked.skipped)} skipped by policy, {len(checked.rejections)} rejected")
    if checked.rejections:  # skips never change the exit code
        raise typer.Exit(EXIT_PARTIAL if checked.records else EXIT_UNUSABLE)


@cli.command()
def feedback(
    indicator: Annotated[str, typer.Argument(help="The record's STIX id, or the indicator value (evil.example, "
                                                  "1.2.3.4 ...).")],
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
    tlp, _ = scope(tlp, None)
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
def members_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Members with their standing (contributions in the window), tier and learned weight
    (with a subcommand: add, remove, show or sync them). Piped: one tab-separated line per member."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.core.normalize import pseudonym
    from streams.tlp import TLP

    settings = _settings()
    known = _registry(settings)
    book = access.read_book(settings)
    tiers = access.standings(settings, known, book)
    secret = settings.pseudonym_secret()
    rows: list[dict[str, Any]] = []
    for member in known.members:
        alias = pseudonym(secret, member.id)
        alpha, beta = book.counts(alias, TLP.GREEN)
        now = tiers[member.id]
        rows.append({"member": member.id, "sectors": member.sectors or [ALL], "max_tlp": member.max_tlp,
                     "tier": now.tier, "pinned": now.pinned, "contributions": now.contributions,
                     "window_days": settings.standing_window_days, "bar": settings.standing_bar,
                     "weight_green": round(book.weight(alias, TLP.GREEN), 4),
                     "credit": round(alpha - 1, 1), "blame": round(beta - 1)})
    if as_json:
        return json_lines(rows)
    listing(("member", "sectors", "max TLP", "tier", "contributions", "weight (green)", "credit / blame"),
            ([r["member"], ",".join(r["sectors"]), r["max_tlp"], r["tier"] + (" (pinned)" if r["pinned"] else ""),
              f"{r['contributions']} in {r['window_days']} d (bar {r['bar']})",
              f"{r['weight_green']:.2f}", f"{r['credit']:.1f} / {r['blame']:.0f}"] for r in rows))


@members_cli.command("show")
def members_show(member_id: Annotated[str, typer.Argument(help="Member id.")]) -> None:
    """One member: its registry entry, tier now, credentials file, and every topic it may read."""
    from streams import credentials

    settings = _settings()
    member = _registry(settings).get(member_id)
    if member is None:
        raise _fail(f"no member {member_id!r}; `kizuna members` lists them", EXIT_UNUSABLE)
    for field, value in member.model_dump().items():
        say(out, "", f"{field}: {value}")
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
    sector: Annotated[Optional[list[str]], typer.Option("--sector",
                                                        help="A sector of the member (repeatable).")] = None,
    tier: Annotated[str, typer.Option(help="auto (follows standing), contributor or general.")] = "auto",
    default_tlp: Annotated[Optional[str], typer.Option(help="TLP of its submissions that carry none.")] = None,
    max_tlp: Annotated[str, typer.Option(help="Highest TLP of the sector topics it may read.")] = "amber+strict",
    consent_named: Annotated[bool, typer.Option("--consent-named",
                                                help="Records may name it as their source.")] = False,
) -> None:
    """Add a member: registry entry, its topics, SCRAM credentials and ACLs; prints its credentials file."""
    from pydantic import ValidationError

    from streams import credentials
    from streams import members as registry
    from streams.members import Member

    settings = _settings()
    known = _registry(settings)
    if known.get(member_id) is not None:
        raise _fail(f"member {member_id!r} exists; `kizuna members remove` it first to re-issue")
    try:
        member = Member.model_validate({"id": member_id, "name": name, "sectors": sector or [], "tier": tier,
                                        "default_tlp": default_tlp, "max_tlp": max_tlp, "consent_named": consent_named})
    except ValidationError as exc:
        raise _fail("; ".join(f"{e['loc'][0] if e['loc'] else 'member'}: {e['msg']}" for e in exc.errors())) from None
    registry.save(settings.members_file, registry.Registry(members=[*known.members, member]))
    _provision(settings)
    out.print(f"member {member_id} added; hand it {credentials.path(settings, member_id)} "
              f"(KIZUNA_CREDENTIALS_FILE on its machine)")


@members_cli.command("remove")
def members_remove(member_id: Annotated[str, typer.Argument(help="Member id.")]) -> None:
    """Remove a member: its ACLs and login are revoked at once, its own topics deleted."""
    from streams import credentials
    from streams import members as registry
    from streams.kafka_io import admin

    settings = _settings()
    known = _registry(settings)
    if known.get(member_id) is None:
        raise _fail(f"no member {member_id!r}; `kizuna members` lists them", EXIT_UNUSABLE)
    registry.save(settings.members_file, registry.Registry(members=[m for m in known.members if m.id != member_id]))
    client = admin(settings)
    access.drop_member(client, settings.namespace, member_id)
    credentials.withdraw(settings, member_id)
    names = Topics(settings.namespace)
    client.delete_topics([*names.member_topics(member_id), names.member_assets(member_id)],
                         request_timeout=REQUEST_TIMEOUT_S)
    out.print(f"member {member_id} removed: login and ACLs revoked, its topics deleted")


@members_cli.command("sync")
def members_sync(
    every: Annotated[float, typer.Option(help="Repeat every this many seconds (0: once), so standing changes take "
                                              "effect.")] = 0,
    follow: Annotated[bool, typer.Option("--follow", help="Apply each change of the registry or of standing as it "
                                                         "happens (about a second), until Ctrl-C.")] = False,
) -> None:
    """Make the broker match the registry and each member's standing: credentials, topics, ACLs."""
    settings = _settings()
    if follow:
        import threading

        from streams import membersync

        def synced(report: access.SyncReport, seconds: float) -> None:
            out.print(f"{time.strftime('%H:%M:%S')} sync in {seconds:.2f} s: {len(report.issued)} credentials "
                      f"issued, {len(report.removed)} removed; "
                      f"ACL rules {report.acls_added} added, {report.acls_removed} removed")

        try:
            membersync.follow(settings, threading.Event(), synced)
        except KeyboardInterrupt:
            pass
        return
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
    if settings.warninglists:  # built here once, so that no worker start waits for it
        from streams.warninglist_cache import cache_file, load_shared

        started = time.monotonic()
        load_shared(settings.warninglist_cache)
        out.print(f"{time.strftime('%H:%M:%S')} setup: warning lists ready in {time.monotonic() - started:.1f} s "
                  f"({cache_file(settings.warninglist_cache).name})")


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
    as_json: AsJson = False,
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
            error = msg.error() if msg is not None else None
            if msg is None or (error is not None and error.code() == KafkaError._PARTITION_EOF):
                break
            if error is not None:
                raise _fail(f"{topic}: {error.str()}", EXIT_KAFKA)
            trails += orjson.loads(msg.value() or b"[]")
    finally:
        consumer.close()
    if as_json:
        return json_lines(trails)
    listing(("record", "version", "delivered to", "tier", "status"),
            ([t["id"], str(t["modified"]), t["topic"], t["tier"], t["status"]] for t in trails))


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
            error = msg.error() if msg is not None else None
            if msg is None or (error is not None and error.code() == KafkaError._PARTITION_EOF):
                if timeout and time.monotonic() - idle_since > timeout:
                    break
                continue
            if error is not None:
                raise _fail(f"{topic}: {error.str()}", EXIT_KAFKA)
            sys.stdout.write((msg.value() or b"").decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            count, idle_since = count + 1, time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@topics_cli.callback()
def topics_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the topic plan (with `create`: create it on the broker). Piped: one tab-separated line
    per topic, its name first."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    specs = Topics(settings.namespace).plan(settings, [m.id for m in _registry(settings).members])
    if as_json:
        return json_lines({"topic": s.name, "partitions": s.partitions, "config": s.config, "carries": s.purpose}
                          for s in specs)
    listing(("topic", "partitions", "config", "carries"),
            ([s.name, str(s.partitions), ",".join(f"{k}={v}" for k, v in s.config.items()), s.purpose] for s in specs))


@topics_cli.command("create")
def topics_create() -> None:
    """Create every planned topic that does not exist yet (idempotent), members' inboxes included."""
    from confluent_kafka import KafkaException

    settings = _settings()
    try:
        from streams.kafka_io import create_topics

        member_ids = [m.id for m in _registry(settings).members]
        created, existing = create_topics(settings, Topics(settings.namespace).plan(settings, member_ids))
    except KafkaException as exc:
        raise _fail(f"Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    out.print(f"topics: {len(created)} created, {len(existing)} already there")


@cli.command()
def sectors(as_json: AsJson = False) -> None:
    """List the sectors records can be shared with (`all`: the whole community), with their Japanese names;
    piped, one name per line."""
    if as_json:
        return json_lines({"sector": name, "ja": NAMES_JA[name]} for name in (*SECTORS, ALL))
    if not sys.stdout.isatty():
        sys.stdout.write("".join(f"{name}\n" for name in (*SECTORS, ALL)))
        return
    listing(("sector", "分野 (ja)"), ([name, NAMES_JA[name]] for name in (*SECTORS, ALL)))


WORKER_GC_THRESHOLDS = (50_000, 20, 100)  # generations 0, 1, 2; why: in `worker`


@cli.command()
def worker() -> None:
    """Run the Faust worker (normalize, merge, route) with Prometheus /metrics, until Ctrl-C.
    It logs in as the hub's own principal (<namespace>-hub), never as the broker's admin."""
    settings = hub_login()
    from faust.worker import Worker

    from streams import metrics, native
    from streams.agents import register
    from streams.lag import LagMonitor

    app = register(settings)
    err.print(f"core: {native.status()}")

    # What is loaded by now lives as long as the worker: out of the collector's sight. And a young
    # collection every 50,000 allocations rather than CPython's 700: a batch allocates hundreds of
    # thousands of short-lived dicts, freed by reference counting, and each collection walked them
    # (8.1 k -> 11.1 k ind/s for one worker, docs/performance.md).
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    if metrics.serve(settings.metrics_port):
        LagMonitor(settings).start()
    if settings.metrics_port:
        err.print(f"metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
    Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


def main() -> None:
    from confluent_kafka import KafkaException

    try:
        code = cli(standalone_mode=False)  # returns the code of a typer.Exit
    except KafkaException as exc:
        _fail(f"Kafka: {exc.args[0].str() if exc.args else exc} "
              "(is the broker up, and the topic plan created with `kizuna topics create`?)")
        sys.exit(EXIT_KAFKA)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    except ConfigError as exc:
        _fail(str(exc))
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 - a bug: say so plainly rather than print a traceback
        say(err, "[red]internal error:[/]", f"{type(exc).__name__}: {exc} (a kizuna bug; please report it)")
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
