"""Who may read and write what on the broker: one policy, applied as SCRAM users and ACLs.

The broker runs the StandardAuthorizer with `allow.everyone.if.no.acl.found=false`,
so a principal can do exactly what its ACLs below allow. The same `readable`
list decides what a member's TAXII collections and exports show, so no
connector keeps a copy of the policy.

- A member may write kizuna.intake, kizuna.feedback and kizuna.asset-changes; read the share topics of
  its sectors (and of the whole community, sector `all`) up to its TLP clearance,
  CLEAR of every sector, the contrib topics too while it has contributor standing,
  and its own topics (inbox, rejections, audit); and use consumer groups under
  its own prefix. Nothing else: not kizuna.indicators, not another's inbox.
- The hub's workers (`<namespace>-hub`) may do anything on the namespace's topics
  and their own groups, and nothing outside the namespace.
- `admin` is the broker's super user: setup and membership changes only.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from streams import credentials, members
from streams.constants import DAY_MS, REQUEST_TIMEOUT_S
from streams.core.reputation import Book, standing
from streams.members import Member, Registry
from streams.sectors import ALL, SECTORS
from streams.settings import Settings, write_private
from streams.tlp import TLP
from streams.topics import SECTOR_TOPIC_LEVELS, Topics

log = logging.getLogger(__name__)
Rule = tuple[ResourceType, str, ResourcePatternType, AclOperation]  # always ALLOW, from any host


def readable(topics: Topics, member: Member, tier: str) -> list[str]:
    """Every topic `member` may read at `tier` (contributor or general): the whole read policy."""
    own = [*member.sectors, ALL] if ALL not in member.sectors else [*SECTORS, ALL]
    names = []
    for level in SECTOR_TOPIC_LEVELS:
        if level > member.clearance:
            continue
        for sector in ((*SECTORS, ALL) if level == TLP.CLEAR else own):
            names.append(topics.share(level, sector))
            if tier == "contributor":
                names.append(topics.contrib(level, sector))
    return names + topics.member_topics(member.id)


def member_rules(topics: Topics, member: Member, tier: str) -> set[Rule]:
    literal, prefixed = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    rules = {(ResourceType.TOPIC, name, literal, op)
             for name in (topics.intake, topics.intake_bulk, topics.feedback, topics.asset_changes)
             for op in (AclOperation.WRITE, AclOperation.DESCRIBE)}
    sector_topics = [name for name in readable(topics, member, tier) if name not in topics.member_topics(member.id)]
    rules |= {(ResourceType.TOPIC, name, literal, op)
              for name in sector_topics for op in (AclOperation.READ, AclOperation.DESCRIBE)}
    rules |= {(kind, topics.member_prefix(member.id), prefixed, op)
              for kind in (ResourceType.TOPIC, ResourceType.GROUP) for op in (AclOperation.READ, AclOperation.DESCRIBE)}
    return rules


def hub_rules(topics: Topics) -> set[Rule]:
    literal, prefixed = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    rules = {(ResourceType.TOPIC, f"{topics.ns}.", prefixed, AclOperation.ALL),
             (ResourceType.TOPIC, topics.faust_leader, literal, AclOperation.ALL),
             (ResourceType.GROUP, topics.hub_group_prefix, prefixed, AclOperation.ALL)}
    rules |= {(ResourceType.GROUP, group, literal, AclOperation.ALL) for group in topics.hub_groups}
    # Describe (never join) members' groups: consumer lag per topic for the operators' dashboards.
    rules.add((ResourceType.GROUP, f"{topics.ns}.org.", prefixed, AclOperation.DESCRIBE))
    return rules


# --- standing: which tier each member has now -------------------------------------------------

@dataclass(frozen=True)
class Standing:
    tier: str
    contributions: int
    pinned: bool


def read_book(settings: Settings) -> Book:
    """The reputation book as kizuna.reputation has it now (read once, start to end)."""
    from streams.kafka_io import read_partition

    book = Book()
    for _, value in read_partition(settings, Topics(settings.namespace).reputation, 0):
        if value is not None:
            book.apply(orjson.loads(value))
    return book


def standings(settings: Settings, registry: Registry, book: Book | None = None,
              now_ms: int | None = None) -> dict[str, Standing]:
    """Each member's tier from its contributions in the window (read from kizuna.reputation)."""
    from streams.core.normalize import pseudonym

    book = book if book is not None else read_book(settings)
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    secret, window = settings.pseudonym_secret(), settings.standing_window_days * DAY_MS
    out = {}
    for member in registry.members:
        given = book.contributions(pseudonym(secret, member.id), now_ms, window)
        out[member.id] = Standing(standing(given, settings.standing_bar, member.tier), given, member.tier != "auto")
    return out


_cache: dict[str, tuple[float, dict[str, Standing]]] = {}


def readable_topics(settings: Settings, member_id: str, max_age_s: float = 30.0) -> list[str]:
    """What `member_id` may read now (its ACLs grant the same); [] for a stranger."""
    registry = members.load(settings.members_file)
    member = registry.get(member_id)
    if member is None:
        return []
    at, known = _cache.get(settings.namespace, (0.0, {}))
    if member_id not in known or time.monotonic() - at > max_age_s:
        known = standings(settings, registry)
        _cache[settings.namespace] = (time.monotonic(), known)
    return readable(Topics(settings.namespace), member, known[member_id].tier)


def member_for_token(settings: Settings, token: str) -> Member | None:
    """The member an API token (TAXII bearer token / basic-auth password) was issued to."""
    for member in members.load(settings.members_file).members:
        if credentials.issued(settings, member.id) and credentials.token_matches(credentials.load(settings, member.id),
                                                                                 token):
            return member
    return None


# --- applying the policy on the broker ------------------------------------------------------------

def _bindings(principal: str, rules: Iterable[Rule]) -> list[AclBinding]:
    return [AclBinding(kind, name, pattern, f"User:{principal}", "*", op, AclPermissionType.ALLOW)
            for kind, name, pattern, op in rules]


def _any_acl(principal: str | None) -> AclBindingFilter:
    """Every ACL binding of `principal` (None: of anyone)."""
    anything: Any = None  # None matches any name and host; the stubs say str
    return AclBindingFilter(ResourceType.ANY, anything, ResourcePatternType.ANY, principal or anything, anything,
                            AclOperation.ANY, AclPermissionType.ANY)


def _current(client: AdminClient, principal: str) -> set[Rule]:
    found = client.describe_acls(_any_acl(f"User:{principal}"), request_timeout=REQUEST_TIMEOUT_S).result()
    return {(b.restype, b.name, b.resource_pattern_type, b.operation) for b in found}


def _wait(futures: dict[Any, Any]) -> None:
    for future in futures.values():
        future.result()


def reconcile(client: AdminClient, principal: str, wanted: set[Rule]) -> tuple[int, int]:
    """Make `principal`'s ACLs exactly `wanted`; returns (added, removed)."""
    have = _current(client, principal)
    extra, missing = have - wanted, wanted - have
    if missing:
        _wait(client.create_acls(_bindings(principal, missing), request_timeout=REQUEST_TIMEOUT_S))
    if extra:
        _wait(client.delete_acls([AclBindingFilter(k, n, p, f"User:{principal}", "*", o, AclPermissionType.ALLOW)
                                  for k, n, p, o in extra], request_timeout=REQUEST_TIMEOUT_S))
    return len(missing), len(extra)


def scram_users(client: AdminClient) -> set[str]:
    """The SCRAM users the brokers know; none yet is an empty set, any other error raises."""
    try:
        described = client.describe_user_scram_credentials(request_timeout=REQUEST_TIMEOUT_S)
        return set(described.result() if isinstance(described, Future) else described)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.RESOURCE_NOT_FOUND:
            raise
        log.info("no SCRAM users on the brokers yet")
        return set()


def set_password(client: AdminClient, user: str, password: str, visible_within_s: float = 30.0) -> None:
    """Set the user's SCRAM credential, and return once the brokers list the user: the controller commits
    it before the brokers apply it, and a login in between is refused as invalid credentials (a worker
    started right after `setup` under load was, and exited)."""
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    _wait(client.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, password.encode())],
                                              request_timeout=REQUEST_TIMEOUT_S))
    deadline = time.monotonic() + visible_within_s
    while user not in scram_users(client) and time.monotonic() < deadline:
        time.sleep(0.05)


def drop_user(client: AdminClient, principal: str) -> None:
    """Revoke at once: ACLs first (every later request is refused), then the login."""
    reconcile(client, principal, set())
    try:
        _wait(client.alter_user_scram_credentials([UserScramCredentialDeletion(principal,
                                                                               ScramMechanism.SCRAM_SHA_512)],
                                                  request_timeout=REQUEST_TIMEOUT_S))
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.RESOURCE_NOT_FOUND:
            raise
        log.info("a login to drop was already gone")  # the principal names a member: not logged


@dataclass
class SyncReport:
    issued: list[str]
    removed: list[str]
    acls_added: int = 0
    acls_removed: int = 0


def ensure_hub(settings: Settings, client: AdminClient) -> None:
    """The workers' principal: its password under var/secrets/kafka (created once) and its ACLs."""
    import secrets as random

    principal = credentials.hub_principal(settings.namespace)
    path = settings.secrets_dir / "kafka" / f"{principal}.password"
    if not path.exists():
        write_private(path, random.token_urlsafe(24), replace=False)
    if principal not in scram_users(client):
        set_password(client, principal, path.read_text().strip())
    reconcile(client, principal, hub_rules(Topics(settings.namespace)))


def sync(settings: Settings, client: AdminClient, registry: Registry, tiers: dict[str, Standing]) -> SyncReport:
    """Make the broker match the registry: credentials for every member, ACLs for its current
    tier (for its SCRAM user and its client certificates' principals), and nothing left for anyone
    who is no longer a member of this namespace, nor for a certificate a rotation retired."""
    topics, report = Topics(settings.namespace), SyncReport([], [])
    users, current, now = scram_users(client), set(), time.time()
    for member in registry.members:
        principal = credentials.principal(settings.namespace, member.id)
        if not credentials.issued(settings, member.id):
            credentials.issue(settings, member.id)
            report.issued.append(member.id)
        creds = credentials.load(settings, member.id)
        if principal not in users or member.id in report.issued:
            set_password(client, principal, creds.kafka_password)
        rules = member_rules(topics, member, tiers[member.id].tier)
        for holder in credentials.principals(creds, now):
            added, removed = reconcile(client, holder, rules)
            report.acls_added += added
            report.acls_removed += removed
            current.add(holder)
    prefix = f"{settings.namespace}."
    for user in sorted(users | _principals_with_acls(client)):
        if user.startswith(prefix) and user not in current:
            drop_user(client, user)
            if "." not in user.removeprefix(prefix):  # a member, not one of its retired certificates
                report.removed.append(user.removeprefix(prefix))
    return report


def drop_member(client: AdminClient, namespace: str, member: str) -> None:
    """Revoke a member at once: its SCRAM user and every certificate principal it was issued."""
    principal = credentials.principal(namespace, member)
    for holder in sorted(p for p in _principals_with_acls(client) if p.startswith(f"{principal}.cert")):
        reconcile(client, holder, set())
    drop_user(client, principal)


def _principals_with_acls(client: AdminClient) -> set[str]:
    found = client.describe_acls(_any_acl(None), request_timeout=REQUEST_TIMEOUT_S).result()
    return {b.principal.removeprefix("User:") for b in found}
