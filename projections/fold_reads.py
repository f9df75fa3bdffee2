"""How much a run-status feed reads from Kafka at once: one place for the three that fold.

Owns the consumer options of the feeds that fold the run-status topic into the
projections' store (the API server's `api.feeds.TopicFeed`, `automations
projector run`'s `projections.consumer`, the CLI's `projections.catch_up`):
`AUTOMATIONS_FOLD_BATCH` records a `getmany` at most, and fetch sizes that can
fill such a batch from one partition. aiokafka's fetcher keeps one fetched
response a partition and fetches that partition again only once it is read;
at its default 1 MiB a partition, a batch of 8,000 records of 300 bytes would
be cut into pieces by the fetch, not by the setting. A record's idle latency
does not change: the broker still answers a fetch as soon as one byte is there
(`fetch_min_bytes` 1).
"""

from __future__ import annotations

from processors.config import Settings

# A run-status record on the wire: 60 - 300 bytes of Avro (90 in the crash test's shape),
# its key and the record batch's framing; room for the largest kind (a trace) on average.
RECORD_BYTES = 512
MIN_PARTITION_FETCH_BYTES = 1 << 20  # aiokafka's default
MIN_FETCH_BYTES = 50 << 20  # aiokafka's default over all partitions of a broker


def fold_consumer_options(settings: Settings) -> dict[str, int]:
    """aiokafka consumer options for a folding feed: a partition's fetch holds a batch."""
    partition_bytes = max(MIN_PARTITION_FETCH_BYTES, settings.fold_batch * RECORD_BYTES)
    return {
        "max_partition_fetch_bytes": partition_bytes,
        "fetch_max_bytes": max(MIN_FETCH_BYTES, 8 * partition_bytes),
    }
