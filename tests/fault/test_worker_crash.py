"""Worker crashes under a steady stream: nothing lost, duplicates byte-identical (DESIGN rule 4).

Submissions flow for ~30 s while the worker is killed with SIGKILL three times
at random points and restarted. At the end every submitted indicator is on its
topic, any record delivered twice is the same bytes (same id and version), and
the merge state (the changelog) holds exactly the submitted indicators with the
right first-seen times: what a rebuild from the input would give.
"""
from __future__ import annotations

import random
import time

import pytest

from tests.fault.steady import SteadyStream, assert_nothing_lost

pytestmark = pytest.mark.fault


def test_kill_9_three_times_loses_nothing(hub):
    rng = random.Random(4)
    stream = SteadyStream(hub, "crash")
    stream.start()
    kills = 0
    try:
        while kills < 3:
            time.sleep(rng.uniform(3, 8))
            hub.worker.kill()
            kills += 1
            hub.worker.start()
    finally:
        stream.join()
    print(f"\nkills={kills} {assert_nothing_lost(hub, stream.sent)}")
