"""The topic plan: every topic kizuna uses, its name, partitions and retention.

Nothing else builds a topic name. Names use [a-z0-9.-] only.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.constants import DAY_MS, MAX_MESSAGE_BYTES
from streams.sectors import ALL, SECTORS
from streams.settings import Settings
from streams.tlp import TLP

# Levels that reach sector topics; RED goes only to named recipients' inboxes.
SECTOR_TOPIC_LEVELS: tuple[TLP, ...] = (TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


class Topics:
    """Names of one namespace's topics (tests run in namespaces of their own)."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    @property
    def intake(self) -> str:
        return f"{self.ns}.intake"

    @property
    def intake_bulk(self) -> str:
        """The bulk lane: large imports, published only while the merge backlog is small."""
        return f"{self.ns}.intake.bulk"

    @property
    def indicators(self) -> str:
        return f"{self.ns}.indicators"

    @property
    def merge_state(self) -> str:
        return f"{self.ns}.merge-state"

    @property
    def rejected(self) -> str:
        return f"{self.ns}.rejected"

    @property
    def feedback(self) -> str:
        return f"{self.ns}.feedback"

    @property
    def reputation(self) -> str:
        return f"{self.ns}.reputation"

    @property
    def audit(self) -> str:
        return f"{self.ns}.audit"

    @property
    def vulns(self) -> str:
        """Vulnerability advisories from the pollers (connectors/vulns), compacted by source:id; hub only."""
        return f"{self.ns}.vulns"

    @property
    def assets(self) -> str:
        """Every member's registered assets, compacted by member|asset id; hub only (as private as identities)."""
        return f"{self.ns}.assets"

    @property
    def asset_changes(self) -> str:
        """Signed asset additions and removals: members write, only the hub reads."""
        return f"{self.ns}.asset-changes"

    @property
    def vuln_matches(self) -> str:
        """Which notice each member holds per (asset, vulnerability), compacted: never the same one twice."""
        return f"{self.ns}.vuln-matches"

    def member_assets(self, member_id: str) -> str:
        """One member's own assets as the hub holds them (`kizuna assets list`)."""
        return self.member_prefix(member_id) + "assets"

    def share(self, level: TLP, sector: str) -> str:
        """General members' topic: confirmed records only."""
        return self._sector_topic("share", level, sector)

    def contrib(self, level: TLP, sector: str) -> str:
        """Contributor tier's topic: every record as soon as it arrives, with its status."""
        return self._sector_topic("contrib", level, sector)

    def member_prefix(self, member_id: str) -> str:
        """Prefix of one member's own topics and consumer groups: one prefixed ACL grants them all."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", member_id):
            raise ValueError(f"member id {member_id!r} cannot name a topic")
        return f"{self.ns}.org.{member_id}."

    def inbox(self, member_id: str) -> str:
        """One member's inbox: records sent to it by name, TLP:RED included."""
        return self.member_prefix(member_id) + "inbox"

    def member_rejected(self, member_id: str) -> str:
        """One member's own rejections (kizuna.rejected has everyone's, for the hub only)."""
        return self.member_prefix(member_id) + "rejected"

    def member_audit(self, member_id: str) -> str:
        """Where one member's own submissions went (kizuna.audit has everyone's, for the hub only)."""
        return self.member_prefix(member_id) + "audit"

    def member_topics(self, member_id: str) -> list[str]:
        return [self.inbox(member_id), self.member_rejected(member_id), self.member_audit(member_id)]

    def member_group_prefix(self, member_id: str) -> str:
        """Consumer groups of a member's own clients start with this."""
        return self.member_prefix(member_id)

    def hub_group(self, purpose: str) -> str:
        """Consumer group of a hub-side connector (TAXII store, exports run by the operator)."""
        return f"{self.ns}.hub.{purpose}"

    @property
    def hub_group_prefix(self) -> str:
        return f"{self.ns}.hub."

    def for_tier(self, tier: str, level: TLP, target: str) -> str:
        """The topic of a publication: an inbox ("@org"), a contributor or a general topic."""
        if tier == "recipient":
            return self.inbox(target.removeprefix("@"))
        return self.contrib(level, target) if tier == "contributor" else self.share(level, target)

    def _sector_topic(self, kind: str, level: TLP, sector: str) -> str:
        if level not in SECTOR_TOPIC_LEVELS:
            raise ValueError(f"{level.label} is never published on a sector topic")
        if sector != ALL and sector not in SECTORS:
            raise ValueError(f"unknown sector {sector!r}")
        return f"{self.ns}.{kind}.{level.slug}.{sector}"

    @property
    def worker_group(self) -> str:
        return f"{self.ns}-worker"

    @property
    def recovery_group(self) -> str:
        """Reads a changelog partition to rebuild merge state (assigned, never commits)."""
        return f"{self.ns}-recovery"

    @property
    def reputation_group(self) -> str:
        return f"{self.ns}-reputation-feed"

    @property
    def hub_groups(self) -> list[str]:
        """The workers' own consumer groups (exact names: a prefix would reach other namespaces)."""
        return [self.worker_group, self.recovery_group, self.reputation_group]

    @property
    def faust_leader(self) -> str:
        """Faust's own partition-assignment topic, named by Faust after the worker group."""
        return f"{self.worker_group}-__assignor-__leader"

    def share_topics(self) -> list[str]:
        return [self.share(level, sector) for level in SECTOR_TOPIC_LEVELS for sector in (*SECTORS, ALL)]

    def contrib_topics(self) -> list[str]:
        return [self.contrib(level, sector) for level in SECTOR_TOPIC_LEVELS for sector in (*SECTORS, ALL)]

    def plan(self, settings: Settings, members: Sequence[str] = ()) -> list[TopicSpec]:
        """Every topic with its partitions and configuration, for `kizuna topics create`;
        `members`: the member ids whose inboxes exist."""
        work = settings.partitions
        big = str(MAX_MESSAGE_BYTES)
        specs = [
            TopicSpec(self.intake, work, {"retention.ms": str(7 * DAY_MS), "max.message.bytes": big},
                      "submissions: envelope + payload (Avro); members write, the hub reads"),
            TopicSpec(self.intake_bulk, work, {"retention.ms": str(7 * DAY_MS), "max.message.bytes": big},
                      "large submissions (Avro, as intake); members write, the hub reads behind live intake"),
            TopicSpec(self.indicators, work, {"retention.ms": str(30 * DAY_MS), "max.message.bytes": big},
                      "normalised records in batches per merge partition (Avro); hub only"),
            TopicSpec(self.merge_state, work, {"cleanup.policy": "compact", "max.message.bytes": big},
                      "merge state changelog keyed by STIX id; rebuilds a worker's state"),
            TopicSpec(self.faust_leader, 1, {}, "Faust's partition-assignment topic (internal)"),
            TopicSpec(self.rejected, 1, {"retention.ms": str(30 * DAY_MS)},
                      "what could not be used, with the reason and where (JSON)"),
            TopicSpec(self.feedback, work, {"retention.ms": str(7 * DAY_MS)},
                      "sightings, confirmations, false-positive reports (Avro); members write, the hub reads"),
            TopicSpec(self.reputation, 1, {"retention.ms": "-1"},
                      "reputation outcomes and activity per member pseudonym (JSON); the hub only"),
        ]
        # Compacted by STIX id: a new reader gets the current version of every record.
        compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(DAY_MS)}
        specs += [TopicSpec(name, 1, compacted, "confirmed STIX 2.1 records for general members of this TLP and sector")
                  for name in self.share_topics()]
        specs += [TopicSpec(name, 1, compacted, "every STIX 2.1 record with its status, for the contributor tier")
                  for name in self.contrib_topics()]
        for member in members:
            specs += [
                TopicSpec(self.inbox(member), 1, compacted, "records sent to this member by name (TLP:RED included)"),
                TopicSpec(self.member_rejected(member), 1, {"retention.ms": str(30 * DAY_MS)},
                          "this member's own rejections, with the reason and where"),
                TopicSpec(self.member_audit(member), 1, {"retention.ms": "-1"},
                          "which audience each version of this member's records reached"),
            ]
        specs += [
            TopicSpec(self.vulns, 1, {"cleanup.policy": "compact", "max.message.bytes": big},
                      "vulnerability advisories (KEV, NVD, JVN, CSAF) keyed by source:id (JSON); hub only"),
            TopicSpec(self.assets, 1, {"cleanup.policy": "compact"},
                      "members' registered assets keyed by member|asset (JSON); hub only"),
            TopicSpec(self.asset_changes, 1, {"retention.ms": str(7 * DAY_MS)},
                      "signed asset additions and removals (JSON); members write, the hub reads"),
            TopicSpec(self.vuln_matches, 1, {"cleanup.policy": "compact"},
                      "the notice each member holds per asset and vulnerability (JSON); hub only"),
        ]
        specs += [TopicSpec(self.member_assets(member), 1, {"cleanup.policy": "compact"},
                            "this member's registered assets, as the hub holds them") for member in members]
        specs.append(TopicSpec(self.audit, 1, {"retention.ms": "-1"},
                               "which audience each record version reached, keyed by provider pseudonym"))
        return specs
