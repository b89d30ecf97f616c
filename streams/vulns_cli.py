"""`kizuna assets` and `kizuna vulns`: a member's registered software, and the vulnerability notices
that match it (docs/vulnerabilities.md). `kizuna vulns poll` runs the source pollers as the hub.

Exit codes as `kizuna`: 0 done; 1 some rows or components unusable (named by line or index, the
rest sent); 2 usage or configuration error; 3 nothing usable; 4 Kafka unreachable or delivery failed.
"""
from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path
from typing import Annotated, Any, Optional

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from streams import cliutil as ui
from streams.cliutil import EXIT_KAFKA, EXIT_PARTIAL, EXIT_UNUSABLE, err, out
from streams.settings import ConfigError, Settings

assets_cli = typer.Typer(no_args_is_help=True, help=(
    "Your registered software (assets), matched against every vulnerability advisory the hub knows. "
    "Only the hub reads them: no other member, log line or metric shows them.\n\n"
    "Name software by a CPE 2.3 name (cpe:2.3:a:vendor:product:version:...), a CPE 2.2 URI as JVN writes them "
    "(cpe:/a:vendor:product:version), a package URL (pkg:maven/group/name@version), or --vendor/--product/--version."))
vulns_cli = typer.Typer(invoke_without_command=True, help=(
    "Vulnerability notices for your assets, newest and most severe first; Japanese where JVN has the text "
    "(--lang en for English). `kizuna vulns poll` (operators) reads the sources onto kizuna.vulns."))

Member = Annotated[str, typer.Option("--as", help="Your member id (your issued credentials sign and read).")]
Json = Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts.")]


def register_vulns(cli: typer.Typer) -> None:
    """The one registration streams/cli.py makes."""
    cli.add_typer(assets_cli, name="assets")
    cli.add_typer(vulns_cli, name="vulns")


def _member(settings: Settings, member: str) -> None:
    """Fail now, plainly, without the member's credentials (KIZUNA_CREDENTIALS_FILE or the hub's copy)."""
    from streams import credentials

    try:
        credentials.load(settings, member)
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None


def _send(settings: Settings, member: str, changes: list[dict[str, Any]]) -> None:
    from streams import assets
    from streams.kafka_io import DeliveryFailed

    try:
        assets.send(settings, member, changes)
    except DeliveryFailed as exc:
        raise ui.fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None


def read_own(settings: Settings, member: str, topic: str, timeout_s: float = 30.0) -> list[tuple[bytes, bytes | None]]:
    """Every (key, value) of one of the member's own topics, read with the member's login to its end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from streams.kafka_io import client_config
    from streams.topics import Topics

    group = Topics(settings.namespace).member_group_prefix(member) + f"cli-{uuid.uuid4()}"
    consumer = Consumer({**client_config(settings, member), "group.id": group, "enable.auto.commit": False,
                         "enable.partition.eof": True})
    found: list[tuple[bytes, bytes | None]] = []
    try:
        if topic not in consumer.list_topics(timeout=10).topics:
            raise ui.fail(f"no topic {topic} (has `kizuna topics create` run since this member was added?)", EXIT_KAFKA)
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if high <= low:
            return found
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    break
                raise ui.fail(f"{topic}: {error.str()}", EXIT_KAFKA)
            found.append((msg.key() or b"", msg.value()))
            if (msg.offset() or 0) >= high - 1:
                break
    finally:
        consumer.close()
    return found


# --- kizuna assets ----------------------------------------------------------------------------

@assets_cli.command("add")
def assets_add(
    member: Member,
    name: Annotated[Optional[str], typer.Argument(help="CPE 2.3 name, CPE 2.2 URI or purl.")] = None,
    vendor: Annotated[Optional[str], typer.Option(help="Vendor, when not naming by CPE or purl.")] = None,
    product: Annotated[Optional[str], typer.Option(help="Product, with --vendor.")] = None,
    version: Annotated[str, typer.Option(help="Version, with --vendor and --product (none: only advisories "
                                               "whose versions are free text can match).")] = "",
) -> None:
    """Register one piece of software; it is matched at once against every advisory known."""
    from streams import assets
    from streams.core.vuln_model import BadSoftware, asset_id, parse_software

    settings = ui.settings()
    _member(settings, member)
    try:
        software = parse_software(name or "", vendor or "", product or "", version)
    except BadSoftware as exc:
        raise ui.fail(str(exc)) from None
    identifier = asset_id(member, software)
    _send(settings, member, [assets.change(member, "add", identifier, software)])
    out.print(f"asset {identifier}: {escape(software.cpe23())}")


@assets_cli.command("import")
def assets_import(
    member: Member,
    path: Annotated[Path, typer.Argument(help="CSV (cpe | purl | vendor,product,version columns), CycloneDX or "
                                              "SPDX JSON SBOM.")],
) -> None:
    """Register every piece of software a CSV or an SBOM names; unusable rows are named, the rest sent."""
    from streams import assets
    from streams.core.assets_in import parse
    from streams.core.vuln_model import asset_id

    settings = ui.settings()
    _member(settings, member)
    if not path.is_file():
        raise ui.fail(f"{path}: no such file")
    found, problems, fmt = parse(path.read_bytes())
    for where, why in problems:
        err.print(f"[yellow]skipped[/] {escape(where)}: {escape(why)}")
    unique = {asset_id(member, s): s for s in found}
    if unique:
        _send(settings, member, [assets.change(member, "add", i, s) for i, s in unique.items()])
    out.print(f"{len(unique)} assets registered from {fmt} ({len(problems)} skipped)")
    if problems:
        raise typer.Exit(EXIT_PARTIAL if unique else EXIT_UNUSABLE)


@assets_cli.command("list")
def assets_list(member: Member, as_json: Json = False) -> None:
    """Your assets as the hub holds them now."""
    from streams.topics import Topics

    settings = ui.settings()
    _member(settings, member)
    topic = Topics(settings.namespace).member_assets(member)
    current: dict[bytes, bytes | None] = dict(read_own(settings, member, topic))
    rows = [orjson.loads(v) for v in current.values() if v]
    if as_json:
        for row in rows:
            sys.stdout.write(orjson.dumps({"id": row["id"], **row["software"]}).decode() + "\n")
        return
    table = Table("id", "vendor", "product", "version", "as registered")
    for row in sorted(rows, key=lambda r: (r["software"]["vendor"], r["software"]["product"])):
        software = row["software"]
        table.add_row(row["id"], escape(software["vendor"]), escape(software["product"]), escape(software["version"]),
                      escape(software["source"]))
    out.print(table)


@assets_cli.command("remove")
def assets_remove(
    member: Member,
    asset: Annotated[str, typer.Argument(help="The asset id `kizuna assets list` shows, or the name it was added by.")],
) -> None:
    """Remove an asset; notices about it are revoked."""
    from streams import assets
    from streams.core.vuln_model import BadSoftware, asset_id, parse_software

    settings = ui.settings()
    _member(settings, member)
    identifier = asset
    if ":" in asset:
        try:
            identifier = asset_id(member, parse_software(asset))
        except BadSoftware as exc:
            raise ui.fail(str(exc)) from None
    _send(settings, member, [assets.change(member, "remove", identifier, None)])
    out.print(f"asset {identifier}: removal sent")


# --- kizuna vulns -----------------------------------------------------------------------------

@vulns_cli.callback()
def vulns_show(
    ctx: typer.Context,
    member: Annotated[Optional[str], typer.Option("--as", help="Your member id.")] = None,
    lang: Annotated[Optional[str], typer.Option(help="ja or en (default: Japanese where JVN has text).")] = None,
    kev: Annotated[bool, typer.Option("--kev", help="Only vulnerabilities in CISA's KEV catalogue.")] = False,
    as_json: Json = False,
    ecs: Annotated[bool, typer.Option("--ecs", help="Elastic Common Schema documents (vulnerability.*), "
                                                    "one per line, for a SIEM.")] = False,
) -> None:
    """Your vulnerability notices (with `poll`: run the source pollers)."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.core.vuln_notice import ecs as to_ecs
    from streams.core.vuln_notice import notices, text_in
    from streams.topics import Topics

    if member is None:
        raise ui.fail("--as MEMBER is needed")
    if lang not in (None, "ja", "en"):
        raise ui.fail("--lang must be ja or en")
    settings = ui.settings()
    _member(settings, member)
    objects: dict[str, dict[str, Any]] = {}
    for _, value in read_own(settings, member, Topics(settings.namespace).inbox(member)):
        if value:
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            objects[obj.get("id", "")] = obj
    found = [n for n in notices(objects) if n["kev"] or not kev]
    for notice in found if (as_json or ecs) else []:
        record = to_ecs(notice, lang) if ecs else notice
        sys.stdout.write(orjson.dumps(record).decode() + "\n")
    if as_json or ecs:
        return
    table = Table("vulnerability", "CVSS", "KEV", "basis", "software", "noticed", "summary")
    for notice in found:
        _, text = text_in(notice, lang)
        cvss = notice["cvss"] or {}
        software = notice["software"]
        kev_shown = notice["kev_due_date"] or ("yes" if notice["kev"] else "")
        name = f"{software.get('vendor')} {software.get('name')} {software.get('version', '')}"
        table.add_row(notice["vulnerability"], f"{cvss.get('score', '')}", kev_shown, notice["basis"], escape(name),
                      notice["noticed"][:10], escape(text[:160]))
    out.print(table)


@vulns_cli.command("poll")
def vulns_poll(
    once: Annotated[bool, typer.Option("--once", help="Poll each source once and stop.")] = False,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="Only this source (repeatable): "
                                                                         "kev, nvd, jvn, csaf.")] = None,
) -> None:
    """Run the source pollers as the hub: advisories onto kizuna.vulns, positions kept between runs."""
    from connectors.vulns.poller import Poller
    from connectors.vulns.settings import get_vuln_settings

    settings = ui.settings()
    try:
        vulns = get_vuln_settings()
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None
    unknown = sorted(set(source or []) - {"kev", "nvd", "jvn", "csaf"})
    if unknown:
        raise ui.fail(f"unknown source(s) {', '.join(unknown)}: kev, nvd, jvn, csaf")
    poller = Poller(settings, vulns)
    if once:
        done = poller.poll(source)
        for name, count in done.items():
            out.print(f"{name}: " + ("failed (see the log)" if count < 0 else f"{count} advisories published"))
        raise typer.Exit(EXIT_KAFKA if any(c < 0 for c in done.values()) else 0)
    stop = threading.Event()
    try:
        poller.run(stop)
    except KeyboardInterrupt:
        stop.set()
