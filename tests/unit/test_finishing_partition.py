"""Which worker decides that a finishing automation is empty (processors.finishing).

The run starts and ends of an automation are sent keyed `school:automation`
with no partition, so the producer's partitioner places them; only the worker
holding that partition holds the automation's live runs. Given any key and
partition count, when the check computes the partition, then it is the one
Java's default partitioner (murmur2, as aiokafka's and, with `murmur2_random`,
the stream task's producer) picks.
"""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from processors.learner_processor import partition_of


@given(school=st.text(min_size=1, max_size=40), automation=st.text(min_size=1, max_size=60),
       partitions=st.integers(min_value=1, max_value=64))
def test_the_partition_is_the_one_the_producer_picks(school, automation, partitions):
    key = f"{school}:{automation}".encode()
    every = list(range(partitions))
    assert partition_of(key, partitions) == DefaultPartitioner()(key, every, every)
