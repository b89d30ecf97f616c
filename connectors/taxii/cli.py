"""`kizuna taxii`: serve the hub's TAXII 2.1 API to members, keep its object store filled from the
topics, and poll remote TAXII servers into the hub. Exit codes as `kizuna` (see `kizuna --help`);
`poll` exits 2 when the remote server refuses or cannot be reached."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from streams import cliutil as ui
from streams.settings import ConfigError, Settings

if TYPE_CHECKING:
    from connectors.taxii import materialize as materialize_
    from connectors.taxii.settings import TaxiiSettings
    from connectors.taxii.store import ObjectStore

taxii_cli = typer.Typer(help=ui.unwrap(__doc__), no_args_is_help=True)


def _configured(as_hub: bool) -> tuple[Settings, TaxiiSettings]:
    """The hub's settings (logged in as the hub's own principal when `as_hub`) and this connector's."""
    from connectors.taxii.settings import get_taxii_settings

    settings = ui.hub_login() if as_hub else ui.settings()  # the server reads as <namespace>-hub, never as admin
    try:
        return settings, get_taxii_settings()
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None


def _store(settings: Settings, taxii: TaxiiSettings) -> ObjectStore:
    from connectors.taxii.store import ObjectStore

    try:
        return ObjectStore(taxii.store_location(settings))
    except (ConfigError, OSError) as exc:
        raise ui.fail(f"TAXII store {taxii.store_location(settings).split('@')[-1]}: {exc}") from None


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=ui.err, transient=True)


@taxii_cli.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Listen address (default KIZUNA_TAXII_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Listen port (default KIZUNA_TAXII_PORT).")] = None,
    materialize: Annotated[bool, typer.Option(help="Keep the store filled from the topics in the background.")] = True,
) -> None:
    """Serve TAXII 2.1 to members (discovery at /taxii2/) until Ctrl-C."""
    from aiohttp import web

    from connectors.taxii.materialize import Follower
    from connectors.taxii.server import build_app, tls_context
    from streams import metrics

    settings, taxii = _configured(as_hub=True)
    _log_to_stderr()
    host, port = host or taxii.host, port or taxii.port
    try:
        context = tls_context(settings, taxii)
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None
    store = _store(settings, taxii)
    follower = Follower(settings, taxii.store_location(settings)) if materialize else None
    if follower is not None:
        follower.start()
    metrics.serve(taxii.metrics_port)
    ui.say(ui.err, "", f"TAXII 2.1 server on {'https' if context else 'http'}://{host}:{port}/taxii2/ "
           f"({store.dialect} store{', materialising the topics' if follower else ''}"
           f"{f'; metrics on :{taxii.metrics_port}/metrics' if taxii.metrics_port else ''})")
    try:
        web.run_app(build_app(settings, taxii, store), host=host, port=port, ssl_context=context, print=None,
                    access_log=None)
    except OSError as exc:
        raise ui.fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        if follower is not None:
            follower.stop.set()
            follower.join(10)
        store.close()


@taxii_cli.command()
def materialize(
    follow: Annotated[bool, typer.Option("--follow", help="Keep going as records arrive, until Ctrl-C.")] = False,
) -> None:
    """Copy the share, contrib and inbox topics into the TAXII store, up to their current end."""
    import threading

    from connectors.taxii.materialize import Materializer, keep_following

    settings, taxii = _configured(as_hub=True)
    store = _store(settings, taxii)
    materializer = Materializer(settings, store)
    if follow:
        _log_to_stderr()  # a broker outage is waited out, and said so once
    try:
        with _spinner() as progress:
            task = progress.add_task("reading the topics")

            def shown(done: materialize_.Progress) -> None:
                progress.update(task, description=f"{done.read:,} records read, {done.inserted:,} new versions stored")

            if follow:
                done = keep_following(settings, store, threading.Event(), on_batch=shown,
                                      progress=materializer.progress)
            else:
                done = materializer.run(on_batch=shown)
    except KeyboardInterrupt:
        done = materializer.progress
    finally:
        store.close()
    ui.out.print(f"{done.read:,} records read: {done.inserted:,} new versions stored, {done.duplicates:,} already "
                      f"there, {done.tombstones:,} tombstones, {done.unusable:,} not STIX (logged)")


@taxii_cli.command()
def poll(
    url: Annotated[str, typer.Argument(help="API root of the remote TAXII 2.1 server, e.g. https://isac.example/api1/.")],
    collection: Annotated[str, typer.Option("--collection", help="Id of the remote collection to read.")],
    member: Annotated[str, typer.Option("--as", help="The member the objects are submitted as (its credentials sign "
                                                     "them).")],
    tlp: Annotated[Optional[str], typer.Option(help="TLP for objects without their own marking.")] = None,
    sector: Annotated[Optional[list[str]], typer.Option("--sector",
                                                        help="Share with this sector only (repeatable); default: the "
                                                             "whole community.")] = None,
    follow: Annotated[bool, typer.Option("--follow",
                                         help="Keep polling every KIZUNA_TAXII_POLL_INTERVAL_S, until Ctrl-C.")
                        ] = False,
) -> None:
    """Import what a remote TAXII 2.1 collection added since the last poll (position kept under var/taxii/)."""
    from connectors.taxii.client import PollError
    from connectors.taxii.client import poll as poll_once
    from streams import credentials
    from streams.kafka_io import DeliveryFailed

    settings, taxii = _configured(as_hub=False)
    if not url.startswith(("http://", "https://")):
        raise ui.fail(f"{url!r} is not an http(s) URL of a TAXII API root")
    tlp, sectors = ui.scope(tlp, sector)
    try:
        credentials.load(settings, member)
    except ConfigError as exc:
        raise ui.fail(str(exc)) from None
    try:
        while True:
            try:
                with _spinner() as progress:
                    task = progress.add_task(f"polling {url}")
                    result = poll_once(settings, taxii, url, collection, member, tlp, sectors,
                                       on_page=lambda r: progress.update(task, description=f"{r.objects:,} objects in "
                                                                                           f"{r.pages} pages"))
            except (PollError, DeliveryFailed) as exc:
                failed = str(exc) if isinstance(exc, PollError) else f"could not submit to the hub: {exc}"
                if not follow:
                    raise ui.fail(failed, ui.EXIT_USAGE if isinstance(exc, PollError) else ui.EXIT_KAFKA) from None
                ui.say(ui.err, "[yellow]poll failed:[/]", f"{failed}; next try in {taxii.poll_interval_s:.0f} s")
            except ConfigError as exc:
                raise ui.fail(str(exc)) from None
            else:
                ui.say(ui.out, "", f"{result.objects:,} objects in {result.pages} pages: {result.submissions} "
                       f"submissions as {member}; next poll starts after {result.position or 'the beginning'}")
                if result.no_dates:
                    ui.err.print("[yellow]warning:[/] the server sends no X-TAXII-Date-Added-Last: every poll reads "
                                 "the whole collection")
            if not follow:
                return
            time.sleep(taxii.poll_interval_s)
    except KeyboardInterrupt:
        return
