"""`kizuna explain` and `kizuna vouch`: why a record is where it is, and the operator's word for a member.

Both are operator commands with the hub's credentials. `explain` reads the record's merge state
from the compacted merge-state changelog (the worker's own source of truth, so it needs no
running worker) and the reputation book from kizuna.reputation; members show only as labels
of their pseudonyms.
"""
from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from streams import access
from streams.settings import Settings


def read_state(settings: Settings, record_id: str) -> dict[str, Any] | None:
    """A record's newest merge state from the compacted changelog, or None when the hub holds none."""
    from streams.core.merge import upgrade
    from streams.core.normalize import merge_partition
    from streams.kafka_io import admin, read_partition
    from streams.topics import Topics

    topic, wanted, found = Topics(settings.namespace).merge_state, record_id.encode(), None
    # the topic's own partition count: the one the worker keyed by, whatever this shell's settings say
    partitions = len(admin(settings).list_topics(topic, timeout=30).topics[topic].partitions)
    if not partitions:
        return None
    for key, value in read_partition(settings, topic, merge_partition(record_id, partitions)):
        if key == wanted:
            found = value  # the newest version wins; None is a tombstone
    return upgrade(orjson.loads(found)) if found is not None else None


def explain(
    indicator: Annotated[str, typer.Argument(help="The record's STIX id, or the indicator value (evil.example ...).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Why a record is where it is: per audience, its confidence and status, the evidence terms
    (log-odds), each member's weight (pseudonymous, never named) and the thresholds.
    Exit 0 when found, 3 when the hub holds no such record."""
    from confluent_kafka import KafkaException

    from streams.cliutil import EXIT_KAFKA, EXIT_UNUSABLE, out
    from streams.cliutil import fail as _fail
    from streams.cliutil import settings as _settings
    from streams.core.canonical import InvalidValue
    from streams.core.explain import explanation
    from streams.core.feedback import resolve
    from streams.core.merge import Policy

    settings = _settings()
    try:
        record_id = resolve(indicator)
    except InvalidValue as exc:
        raise _fail(str(exc)) from None
    try:
        state, book = read_state(settings, record_id), access.read_book(settings)
    except KafkaException as exc:
        raise _fail(f"could not read the merge state from Kafka at {settings.bootstrap_servers}: {exc}",
                    EXIT_KAFKA) from None
    if state is None:
        raise _fail(f"no record {record_id} on this hub (nothing was reported with that value or id)", EXIT_UNUSABLE)
    shown = explanation(state, book, Policy(settings.confirm_threshold, settings.republish_step))
    if as_json:
        sys.stdout.write(orjson.dumps(shown).decode() + "\n")
        return
    out.print(f"{shown['id']}  {escape(shown['value'] or '')} ({shown['observable']})")
    t = shown["thresholds"]
    out.print(f"confirmed at confidence ≥ {t['confirm']} with ≥ {t['quorum']} independent groups backing it and no "
              f"dispute from a member of weight ≥ {t['dispute_weight']}; a newcomer weighs {t['newcomer_weight']}"
              + (f"; on warning lists: {escape(', '.join(shown['warninglists']))}" if shown["warninglists"] else ""))
    for a in shown["audiences"]:
        published = ", ".join(f"{tier}: {status}" for tier, status in sorted(a["published"].items())) or "nothing yet"
        out.print(f"\n[bold]TLP:{a['tlp'].upper()} / {a['audience']}[/]: confidence {a['confidence']}, "
                  f"{a['status']} (published: {published})")
        for reason in a["why"]:
            out.print(f"  - {reason['en']}\n    {reason['ja']}")
        terms = Table("rule", "group", "member", "log-odds")
        for term in a["terms"]:
            terms.add_row(term["rule"], term["group"], term["member"], f"{term['log_odds']:+.3f}")
        out.print(terms)
        members = Table("member (pseudonym)", "weight", "group", "credit / blame", "signals")
        for m in a["members"]:
            members.add_row(m["member"], f"{m['weight']:.3f}", m["group"], f"{m['credit']:.2f} / {m['blame']:.0f}",
                            ", ".join(m["signals"]))
        out.print(members)


def vouch(
    member: Annotated[str, typer.Argument(help="Member id of a founding or otherwise known-good member.")],
    tlp: Annotated[str, typer.Option(help="Lowest TLP level at which the vouch counts (it counts upwards).")] = "clear",
) -> None:
    """Vouch for a (founding) member: it starts with the track record of five confirmed reports instead of a newcomer's
    weight. An operator's decision, recorded once on kizuna.reputation (idempotent)."""
    from streams import members
    from streams.cliutil import EXIT_KAFKA, out
    from streams.cliutil import fail as _fail
    from streams.cliutil import settings as _settings
    from streams.core.normalize import pseudonym
    from streams.core.reputation import vouch as vouch_event
    from streams.kafka_io import DeliveryFailed, Publisher
    from streams.tlp import parse_level
    from streams.topics import Topics

    settings = _settings()
    level = parse_level(tlp)
    if level is None:
        raise _fail(f"--tlp {tlp!r} is not a TLP level")
    if members.load(settings.members_file).get(member) is None:
        raise _fail(f"{member!r} is not in the members registry ({settings.members_file})")
    alias = pseudonym(settings.pseudonym_secret(), member)
    event = vouch_event(alias, level, int(time.time() * 1000))
    publisher = Publisher(settings, f"{settings.namespace}-vouch")
    try:
        publisher.send(Topics(settings.namespace).reputation, orjson.dumps(event), alias.encode())
        publisher.flush_sync()
    except DeliveryFailed as exc:
        raise _fail(f"could not deliver to Kafka at {settings.bootstrap_servers}: {exc}", EXIT_KAFKA) from None
    out.print(f"vouched for {escape(member)} from TLP:{level.slug.upper()} up")
