"""`kizuna misp`: import MISP events into the hub (files, directories, a MISP instance's REST API,
MISP's ZeroMQ publish stream) and export a member's view as a MISP feed.

Exit codes as `kizuna`: 0 done; 1 some input was not a MISP event (the rest was submitted);
2 usage or configuration error, or the MISP instance refused or could not be reached;
3 nothing usable; 4 Kafka unreachable or delivery failed."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from streams import cliutil as ui
from streams.settings import ConfigError, Settings

if TYPE_CHECKING:
    from connectors.misp.importer import ImportReport
    from connectors.misp.settings import MispSettings

misp_cli = typer.Typer(help=ui.unwrap(__doc__), no_args_is_help=True)



def _configured() -> tuple[Settings, MispSettings]:
    from connectors.misp.settings import get_misp_settings

    settings = ui.settings()
    try:
        return settings, get_misp_settings()
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None


def _scope(tlp: str | None, sectors: list[str] | None, misp: MispSettings) -> tuple[str | None, list[str]]:
    """The submission's TLP (this connector's default when none is given) and sectors, checked."""
    return ui.scope(tlp or misp.default_tlp, sectors)


def _finish(report: ImportReport) -> None:
    for source, why in report.skipped:
        ui.say(ui.err, "[yellow]skipped[/]", f"{source}: {why}")
    ui.out.print(f"{len(report.submitted)} MISP events submitted, {len(report.skipped)} inputs skipped "
                   "(what the hub rejects inside an event is on your kizuna.org.<you>.rejected topic)")
    if report.skipped:
        raise typer.Exit(ui.EXIT_PARTIAL if report.submitted else ui.EXIT_UNUSABLE)
    if not report.submitted:
        raise typer.Exit(ui.EXIT_UNUSABLE)


@misp_cli.command("import")
def import_(
    paths: Annotated[Optional[list[Path]], typer.Argument(
        help="MISP event JSON files (an event, a list, a restSearch response, or one ZeroMQ publish message a line) "
             "or directories of them, a MISP feed's included.")] = None,
    member: Annotated[str, typer.Option(
        "--as", help="Your member id (your issued credentials sign each submission).")] = "",
    rest: Annotated[bool, typer.Option("--rest", help="Import from the MISP instance at KIZUNA_MISP_URL (events "
                                                      "changed since the last run).")] = False,
    url: Annotated[Optional[str],
                   typer.Option("--url", help="Import from this MISP instance instead (implies --rest).")] = None,
    zmq: Annotated[bool, typer.Option("--zmq", help="Follow MISP's ZeroMQ publisher at KIZUNA_MISP_ZMQ_URL.")] = False,
    zmq_url: Annotated[Optional[str], typer.Option("--zmq-url",
                                                   help="Follow this ZeroMQ publisher instead (implies --zmq).")
                                    ] = None,
    max_events: Annotated[int, typer.Option("--max",
                                            help="With --zmq: stop after this many events (0: no limit).")] = 0,
    idle_timeout: Annotated[float, typer.Option(help="With --zmq: stop after this many seconds without an event (0: "
                                                     "never).")] = 0.0,
    tlp: Annotated[Optional[str],
                   typer.Option(help="TLP for events with neither a tlp: tag nor a distribution level; narrows every "
                                     "other event. Default: KIZUNA_MISP_DEFAULT_TLP.")] = None,
    sector: Annotated[Optional[list[str]], typer.Option("--sector",
                                                        help="Share with this sector only (repeatable); default: the "
                                                             "whole community.")] = None,
    to: Annotated[Optional[list[str]],
                  typer.Option("--to", help="Send only to this member's inbox (repeatable); needed for TLP:RED and "
                                            "for distribution 0 or 4.")] = None,
) -> None:
    """Submit MISP events to the hub, one submission per event."""
    from connectors.misp import importer
    from streams.kafka_io import DeliveryFailed

    settings, misp = _configured()
    rest, zmq = rest or url is not None, zmq or zmq_url is not None
    if not member:
        raise ui.fail("--as MEMBER is required")
    if sum((bool(paths), rest, zmq)) != 1:
        raise ui.fail("give files or directories, or --rest / --url, or --zmq / --zmq-url: one source at a time")
    tlp, sectors = _scope(tlp, sector, misp)
    position = position_path = None
    try:
        if rest:
            url = url or misp.url
            if url is None:
                raise ui.fail("--rest needs KIZUNA_MISP_URL (or give --url)")
            position_path = importer.position_file(misp, settings, member, url)
            position = importer.Position.load(position_path)
            found: Iterable[importer.Found] = importer.from_rest(misp, url, position)
        elif zmq:
            zmq_url = zmq_url or misp.zmq_url
            if zmq_url is None:
                raise ui.fail("--zmq needs KIZUNA_MISP_ZMQ_URL (or give --zmq-url)")
            found = importer.from_zmq(zmq_url, max_events, idle_timeout,
                                      ready=lambda: ui.say(ui.err, "", f"following {zmq_url} (Ctrl-C stops)"))
        else:
            missing = [str(p) for p in paths or [] if not p.exists()]
            if missing:
                raise ui.fail(f"no such file or directory: {', '.join(missing)}")
            found = [item for path in paths or [] for item in importer.from_path(path)]

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=ui.err, transient=True) as progress:
            task = progress.add_task("submitting MISP events", total=len(found) if isinstance(found, list) else None)

            def submitted(item: importer.Found, submission_id: str) -> None:
                progress.advance(task)
                ui.say(ui.out, "", f"submitted {submission_id}: {item.source}")
                if position is not None and position_path is not None and item.event is not None:
                    position.advance(item.event)
                    position.save(position_path)  # after each event: a crash repeats at most one

            report = importer.submit_all(settings, member, found, tlp, sectors, to or [], on_submitted=submitted)
    except importer.MispUnavailable as exc:
        raise ui.fail(str(exc)) from None
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None
    except DeliveryFailed as exc:
        raise ui.fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", ui.EXIT_KAFKA) from None
    except KeyboardInterrupt:
        ui.err.print("stopped")
        return
    if rest and not report.submitted and not report.skipped:
        ui.say(ui.out, "", f"no MISP events changed since the last import from {url}")
        return
    _finish(report)


@misp_cli.command("feed")
def feed(
    member: Annotated[str, typer.Option("--as", help="The member whose view is exported (read with its own login).")],
    out_dir: Annotated[Optional[Path],
                       typer.Option("--out", help="Directory to write; default KIZUNA_MISP_FEED_DIR or "
                                                  "<KIZUNA_VAR_DIR>/misp-feed/<member>.")] = None,
) -> None:
    """Write what MEMBER may see as a MISP feed (manifest.json, <uuid>.json, hashes.csv) that its
    MISP instance can pull (Sync Actions > Feeds > add a feed of type MISP Feed at this directory's URL)."""
    from connectors.misp import feed as misp_feed

    settings, misp = _configured()
    directory = out_dir or misp.feed_location(settings, member)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=ui.err, transient=True) as progress:
        task = progress.add_task(f"reading what {member} may see")
        try:
            report = misp_feed.export(settings, member, directory,
                                      progress=lambda n: progress.update(task, description=f"read {n} records"))
        except ConfigError as exc:
            raise ui.fail(str(exc)) from None
        except misp_feed.FeedUnavailable as exc:
            raise ui.fail(str(exc), ui.EXIT_KAFKA) from None
    ui.say(ui.out, "", f"MISP feed in {report.directory}: {report.events} events, {report.attributes} attributes "
               f"({report.deleted} revoked, kept as deleted) from {report.records} records")
