"""What every `kizuna` command shares: the consoles, exit codes, failing with a plain message, settings,
the hub's login and the scope checks. `streams.cli` and the connectors' CLIs import this module; it
imports no CLI, so there is no cycle.

Exit codes scripts can rely on: 0 success; 1 partly rejected (the good items were sent); 2 usage or
configuration error, nothing sent; 3 nothing usable (sent, so the rejection is on record); 4 Kafka
unreachable or delivery failed; 5 internal error.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.sectors import canonical_sector
from streams.settings import ConfigError, Settings, get_settings
from streams.tlp import parse_level

if TYPE_CHECKING:
    from streams.members import Registry

EXIT_PARTIAL, EXIT_USAGE, EXIT_UNUSABLE, EXIT_KAFKA, EXIT_INTERNAL = 1, 2, 3, 4, 5

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def say(console: Console, label: str, message: str) -> None:
    """`label` (rich markup, ours) then `message` as plain text: file names, values and reasons quote
    what users and members sent, which must never style or rewrite the terminal."""
    console.print(f"{label} {escape(message)}" if label else escape(message))


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `message` (escaped) as an error; the caller raises the returned Exit."""
    say(err, "[red]error:[/]", message)
    return typer.Exit(code)


def settings() -> Settings:
    """The hub's settings, or exit 2 with the variable to fix."""
    try:
        return get_settings()
    except ConfigError as exc:
        raise fail(str(exc)) from None


def hub_login() -> Settings:
    """Settings logged in as the hub's own principal (<namespace>-hub), never as the broker's admin;
    exits 2, naming the fix, when `kizuna setup` has not written that login's password yet."""
    from streams.credentials import hub_principal

    current = settings()
    if current.kafka_user == "admin":
        os.environ["KIZUNA_KAFKA_USER"] = hub_principal(current.namespace)  # also for what this process starts
        get_settings.cache_clear()
        current = settings()
    try:
        current.kafka_secret()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return current


def registry(current: Settings) -> Registry:
    """The members registry, or exit 2 naming the file and the problem."""
    from streams import members

    try:
        return members.load(current.members_file)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def scope(tlp: str | None, sectors: Iterable[str] | None) -> tuple[str | None, list[str]]:
    """A submission's TLP and sectors as the sender gave them, checked (exit 2 when unknown); sectors
    come back in their canonical spelling."""
    if tlp is not None and parse_level(tlp) is None:
        raise fail(f"--tlp {tlp!r} is not a TLP level (clear, green, amber, amber+strict, red)")
    given = list(sectors or [])
    unknown = [s for s in given if canonical_sector(s) is None]
    if unknown:
        raise fail(f"unknown sector(s) {', '.join(unknown)}; `kizuna sectors` lists them")
    return tlp, [sector for s in given if (sector := canonical_sector(s)) is not None]


def listing(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table on a terminal; piped to a file or a program, one tab-separated line per row (the table
    would wrap and truncate long topic names)."""
    if not sys.stdout.isatty():
        for row in rows:
            sys.stdout.write("\t".join(row) + "\n")
        sys.stdout.flush()
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def unwrap(text: str | None) -> str:
    """A docstring's paragraphs each on one line: a command group's help is shown as written, so a
    hard-wrapped docstring would break its sentences in the middle of the command list."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in (text or "").strip().split("\n\n"))


def json_lines(rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line on standard output, for scripts."""
    for row in rows:
        sys.stdout.write(orjson.dumps(row).decode() + "\n")
    sys.stdout.flush()
