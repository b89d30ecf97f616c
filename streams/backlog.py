"""How much waits in kizuna.indicators for the merge agents, across every worker.

The bulk intake lane publishes a large import's records only while this backlog
is small, so a live submission's records never queue behind a million imported
ones: they wait behind at most `bulk_max_backlog` messages (of up to
`batch_records` records each) in any merge partition.
"""
from __future__ import annotations

import asyncio
import logging
import time

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka_io import LATEST, CommittedOffsets, client_config
from streams.settings import Settings
from streams.topics import Topics

log = logging.getLogger(__name__)


class MergeBacklog:
    def __init__(self, settings: Settings) -> None:
        topics = Topics(settings.namespace)
        self.group = topics.worker_group
        self.partitions = [TopicPartition(topics.indicators, p) for p in range(settings.partitions)]
        self.limit = settings.bulk_max_backlog
        self._client = AdminClient(client_config(settings))
        self._committed = CommittedOffsets(settings, f"{settings.namespace}-backlog")  # not the admin API: see there

    def size(self) -> int:
        """Messages not yet committed by the merge agents, summed over partitions (the largest
        partition's share is what a live record can wait behind; the sum bounds it)."""
        ends = self._client.list_offsets({tp: LATEST for tp in self.partitions}, request_timeout=5)
        done = {partition: offset for (_, partition), offset in self._committed.read(self.group, self.partitions,
                                                                                      timeout=5).items()}
        waiting = 0
        for tp, future in ends.items():
            end = future.result().offset
            start = done.get(tp.partition, -1)
            waiting += end - start if start >= 0 else end
        return waiting

    async def wait_until_small(self, poll_s: float = 0.05) -> float:
        """Return once the backlog is at most the limit; the seconds waited."""
        loop, started = asyncio.get_running_loop(), time.monotonic()
        while True:
            try:
                if await loop.run_in_executor(None, self.size) <= self.limit:
                    return time.monotonic() - started
            except KafkaException as exc:  # broker restarting: wait, the import is not urgent
                log.warning("bulk lane paused: merge backlog unknown (%s)", exc.args[0].str() if exc.args else exc)
                await asyncio.sleep(1)
            await asyncio.sleep(poll_s)
