"""`kizuna export`: one member's records as a SIEM takes them: Elastic Common Schema documents,
CEF over syslog, or blocklists (plain lists per kind and a Suricata rules file).

Each export reads exactly what the member may read, with the member's own Kafka login. Without
--follow it reads the current content of those topics, writes once and stops; with --follow it
keeps going until Ctrl-C or SIGTERM, writing after each batch and committing only what was
written. Exit codes as `kizuna`: 0 done, 1 some records could not be read (named on stderr, the
rest was written), 2 usage or configuration error, 3 no such member, 4 Kafka or the syslog
receiver failed.
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams import cliutil as ui
from streams.settings import ConfigError, Settings

if TYPE_CHECKING:
    from connectors.siem.settings import SiemSettings
    from connectors.siem.stream import Output, Tally

export_cli = typer.Typer(no_args_is_help=True, help=(
    "One member's shared indicators as a SIEM takes them: ECS documents, CEF over syslog, blocklists. "
    "Reads what the member may read, with its own Kafka login; without --follow the current content, once.\n\n"
    "Exit codes: 0 done, 1 some records unreadable (named; the rest written), 2 usage or configuration error, "
    "3 no such member, 4 Kafka or the syslog receiver failed."))

Member = Annotated[Optional[str],
                   typer.Option("--as", help="Member whose entitlements to follow (default KIZUNA_SIEM_MEMBER).")]
Follow = Annotated[bool, typer.Option("--follow", help="Keep exporting new versions until Ctrl-C.")]
OutDir = Annotated[Optional[Path],
                   typer.Option("--out",
                                help="Output directory (default KIZUNA_SIEM_OUT_DIR, else var/siem/<member>).")]



def _configured(member: str | None) -> tuple[Settings, SiemSettings, str]:
    """The hub's settings, this connector's, and the member, checked: it exists and has credentials."""
    from connectors.siem.settings import get_siem_settings
    from streams import members
    from streams.kafka_io import client_config

    settings = ui.settings()
    try:
        siem = get_siem_settings()
        member = member or siem.member
        if member is None:
            raise ui.fail("say whose entitlements to follow: --as MEMBER (or KIZUNA_SIEM_MEMBER)")
        if members.load(settings.members_file).get(member) is None:
            raise ui.fail(f"no member {member!r}; `kizuna members` lists them", ui.EXIT_UNUSABLE)
        client_config(settings, member)  # fails now, naming the fix, if no credentials were issued
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None
    return settings, siem, member


def _run(settings: Settings, siem: SiemSettings, member: str, output: Output, follow: bool,
         describe: Callable[[Tally], str]) -> None:
    """Run one export with progress on stderr; exit with the code its outcome calls for."""
    from connectors.siem.cef import SyslogFailed
    from connectors.siem.stream import Export, ExportFailed

    stop = threading.Event()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=ui.err, transient=True)
    task = progress.add_task(f"reading {member}'s topics", total=None)

    def advanced(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    def written(tally: Tally) -> None:
        if follow:
            ui.say(ui.err, "", f"{time.strftime('%H:%M:%S')} {describe(tally)}")

    export = Export(settings, siem, member, output, follow, on_progress=advanced, on_write=written)
    # Ctrl-C or SIGTERM: finish the batch, write, commit, then stop.
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with progress:
            tally = export.run(stop)
    except (ExportFailed, SyslogFailed) as exc:
        raise ui.fail(str(exc), ui.EXIT_KAFKA) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if tally.missing_topics:
        shown = ", ".join(tally.missing_topics[:3]) + (", ..." if len(tally.missing_topics) > 3 else "")
        ui.say(ui.err, "[yellow]warning:[/]", f"{len(tally.missing_topics)} topics {member} may read are not visible "
               f"to it on the broker (missing, or its ACLs not synced yet: `kizuna members sync`), not read: {shown}")
    for problem in tally.problems:
        ui.say(ui.err, "[yellow]unreadable[/]", problem)  # record text is never markup
    if tally.unreadable > len(tally.problems):
        ui.err.print(f"[yellow]unreadable[/] ... {tally.unreadable - len(tally.problems)} more")
    if not follow:
        ui.say(ui.err, "", describe(tally))
    ui.err.print(f"{tally.records} records read: {tally.indicators} indicators, {tally.other_objects} other objects "
                 f"(not for a SIEM), {tally.unreadable} unreadable")
    if tally.unreadable:
        raise typer.Exit(ui.EXIT_PARTIAL)


@export_cli.command("ecs")
def export_ecs(
    member: Member = None,
    follow: Follow = False,
    out: OutDir = None,
    stdout: Annotated[bool, typer.Option("--stdout",
                                         help="Write the documents to standard output instead of a file.")] = False,
) -> None:
    """Elastic Common Schema threat.indicator documents, one JSON object per line (threat-indicators.ndjson)."""
    from connectors.siem.stream import EcsOutput

    settings, siem, member = _configured(member)
    path = None if stdout else (out or siem.output_dir(settings, member)) / "threat-indicators.ndjson"
    output = EcsOutput(path, settings.hub_name, follow)
    _run(settings, siem, member, output, follow,
         lambda tally: f"ecs: {tally.written} documents {'written to ' + str(path) if path else 'written'}")


@export_cli.command("cef")
def export_cef(
    member: Member = None,
    follow: Follow = False,
    syslog: Annotated[Optional[str], typer.Option(help="Receiver, tls://host:port (RFC 5425), tcp://host:port or "
                                                       "udp://host:port (default KIZUNA_SIEM_SYSLOG); "
                                                       "none: CEF lines on standard output.")] = None,
) -> None:
    """ArcSight CEF events, one per indicator, in RFC 5424 syslog messages over TLS, TCP or UDP."""
    from connectors.siem.cef import SyslogSender
    from connectors.siem.settings import syslog_address
    from connectors.siem.stream import CefOutput

    settings, siem, member = _configured(member)
    receiver = syslog or siem.syslog
    if receiver is not None:
        try:
            syslog_address(receiver)
        except ValueError as exc:
            raise ui.fail(f"--syslog: {exc}") from None
    sender = SyslogSender(receiver, siem.syslog_timeout_s, siem.syslog_ca_file) if receiver else None
    output = CefOutput(sender, siem.syslog_hostname, siem.syslog_facility, follow)
    _run(settings, siem, member, output, follow,
         lambda tally: f"cef: {tally.written} events {'sent to ' + receiver if receiver else 'written'}")


@export_cli.command("blocklist")
def export_blocklist(member: Member = None, follow: Follow = False, out: OutDir = None) -> None:
    """Plain lists per kind (ipv4-addr.txt, domain-name.txt ...) and Suricata rules (kizuna.rules), each
    replaced atomically.

    Revoked and expired indicators leave the lists, and unconfirmed ones stay out unless
    KIZUNA_SIEM_BLOCK_UNCONFIRMED."""
    from connectors.siem.stream import BlocklistOutput

    settings, siem, member = _configured(member)
    directory = out or siem.output_dir(settings, member)
    output = BlocklistOutput(directory, siem.sid_base, siem.block_unconfirmed)
    _run(settings, siem, member, output, follow,
         lambda tally: f"blocklist: {tally.written} indicators listed in {directory}"
         + (f"; {len(output.unlistable)} complex patterns have no single value to list" if output.unlistable else ""))
