"""Faust agents: thin loops around steps (`Normalize`, `Feedback`, `Merge`, `Match`) that read, call
streams.core, publish and acknowledge. Importing them builds nothing; `register` wires them into
the worker's app with real publishers, stores and the reputation feed."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import faust

    from streams.settings import Settings


def register(settings: Settings) -> faust.App:
    """The worker's app with every agent attached; loads the warning lists now, before the worker
    freezes the garbage collector's view of the heap."""
    from streams import metrics
    from streams.agents import feedback, match, merge, normalize
    from streams.agents.base import Context
    from streams.app import build
    from streams.reputation_feed import ReputationFeed
    from streams.state import MergeStores
    from streams.topics import Topics

    pipeline = build(settings)
    topics = Topics(settings.namespace)
    normalizer = normalize.Normalize(Context.for_worker(settings, "normalize"))
    normalizer.warnings  # loaded now, before the first submission arrives
    normalize.attach(pipeline, normalizer)
    feedback.attach(pipeline, feedback.Feedback(Context.for_worker(settings, "feedback")))
    reputation = ReputationFeed(settings, topics.reputation)
    metrics.count_contributors(reputation.book, settings)
    merge.attach(pipeline, merge.Merge(Context.for_worker(settings, "merge"), MergeStores(settings, topics.merge_state),
                                       reputation))
    match.attach(pipeline, match.Match(Context.for_worker(settings, "match")))
    return pipeline.app
