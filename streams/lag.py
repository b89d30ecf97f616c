"""Consumer lag of one namespace's groups, read from the brokers on a background thread.

Lag is summed per topic and per kind of group: `worker` (the workers' own groups),
`hub` (hub-side connectors) and `member` (members' SIEMs and connectors). Never per
group id: a member's groups and topics are named after the member, and metric labels
never carry member names (DESIGN rule 5), so a member's own topics are labelled
`<ns>.org.*.inbox` (`.rejected`, `.audit`). Groups of other namespaces and ad-hoc
groups (tests, `kizuna consume`) are left out.

Member groups are visible only where the workers' principal may describe them; a
group it may not describe is skipped, not an error.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams import members, metrics
from streams.kafka_io import LATEST, CommittedOffsets, client_config
from streams.settings import Settings
from streams.topics import Topics

log = logging.getLogger(__name__)

REFRESH_S = 10.0  # one ListGroups, one OffsetFetch per group and one ListOffsets per refresh
TIMEOUT_S = 10.0

Partition = tuple[str, int]


def group_kind(topics: Topics, member_ids: Iterable[str], group: str) -> str | None:
    """worker, hub or member; None for a group this namespace's metrics do not cover."""
    if group in topics.hub_groups:
        return "worker"
    if group.startswith(topics.hub_group_prefix):
        return "hub"
    if any(group.startswith(topics.member_group_prefix(member)) for member in member_ids):
        return "member"
    return None


def topic_label(topics: Topics, topic: str) -> str | None:
    """The topic as a label: its name, a member's own topic with the member masked; None outside
    the namespace."""
    member_space = topics.ns + ".org."
    if topic.startswith(member_space):
        return f"{member_space}*.{topic.rsplit('.', 1)[-1]}"
    if topic.startswith(topics.ns + ".") or topic == topics.faust_leader:
        return topic
    return None


def lag_by_kind(topics: Topics, member_ids: Iterable[str], committed: Mapping[str, Mapping[Partition, int]],
                ends: Mapping[Partition, int]) -> dict[tuple[str, str], int]:
    """(group kind, topic label) -> messages behind, from each group's committed offsets and the
    partitions' end offsets. Partitions without a committed offset or a known end are left out."""
    member_ids = list(member_ids)
    out: dict[tuple[str, str], int] = {}
    for group, offsets in committed.items():
        kind = group_kind(topics, member_ids, group)
        if kind is None:
            continue
        for (topic, partition), offset in offsets.items():
            label = topic_label(topics, topic)
            end = ends.get((topic, partition))
            if label is None or end is None or offset < 0:
                continue
            out[(kind, label)] = out.get((kind, label), 0) + max(0, end - offset)
    return out


class LagMonitor:
    """Reads the lag every REFRESH_S seconds into `kizuna_consumer_lag`; a failed read clears the
    gauge (no stale figures) and is logged, and the next refresh tries again."""

    def __init__(self, settings: Settings, refresh_s: float = REFRESH_S) -> None:
        self.settings, self.refresh_s = settings, refresh_s
        self.topics = Topics(settings.namespace)
        self._client = AdminClient({**client_config(settings), "client.id": f"{settings.namespace}-lag"})
        # Groups' offsets through consumer handles, not the admin API (which can crash the worker: see there).
        self._offsets = CommittedOffsets(settings, f"{settings.namespace}-lag")
        self._shown: set[tuple[str, str]] = set()
        self._stop = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="kizuna-lag", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def read(self) -> dict[tuple[str, str], int]:
        member_ids = [m.id for m in members.load(self.settings.members_file).members]
        listed = self._client.list_consumer_groups(request_timeout=TIMEOUT_S).result()
        groups = [g.group_id for g in listed.valid if group_kind(self.topics, member_ids, g.group_id)]
        self._offsets.keep(set(groups))
        candidates = self._partitions() if groups else []
        committed = {group: self._committed(group, candidates) for group in groups}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends: dict[Partition, int] = {}
        if partitions:
            futures = self._client.list_offsets({TopicPartition(t, p): LATEST for t, p in partitions},
                                                request_timeout=TIMEOUT_S)
            for tp, future in futures.items():
                try:
                    ends[(tp.topic, tp.partition)] = future.result().offset
                except KafkaException:  # a topic deleted meanwhile, or not describable
                    continue
        return lag_by_kind(self.topics, member_ids, committed, ends)

    def _partitions(self) -> list[TopicPartition]:
        """Every partition of the namespace's topics: where its groups may have committed."""
        metadata = self._client.list_topics(timeout=TIMEOUT_S)
        out: list[TopicPartition] = []
        for name, topic in metadata.topics.items():
            if topic_label(self.topics, name) is not None:
                out += [TopicPartition(name, partition) for partition in topic.partitions]
        return out

    def _committed(self, group: str, partitions: list[TopicPartition]) -> dict[Partition, int]:
        try:
            return self._offsets.read(group, partitions, TIMEOUT_S)
        except KafkaException as exc:  # not authorised to describe it, it went away, or its coordinator moves
            log.debug("lag: a group was skipped (%s)", exc.args[0].name())  # its name may be a member's
            return {}

    def _show(self, lag: dict[tuple[str, str], int]) -> None:
        for key in self._shown - lag.keys():
            metrics.CONSUMER_LAG.remove(*key)
        for (kind, topic), value in lag.items():
            metrics.CONSUMER_LAG.labels(kind, topic).set(value)
        self._shown = set(lag)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._show(self.read())
                metrics.LAG_REFRESH.set_to_current_time()
            except KafkaException as exc:
                log.warning("consumer lag not read: %s", exc)
                self._show({})
            self._stop.wait(self.refresh_s)
