"""The stream runtime: batched, exactly-once processing of keyed Kafka partitions.

Kafka Streams' model in a few small modules, knowing nothing of automations:
`task` consumes in batches and runs one Kafka transaction per batch (the
batch's outputs, its changelog records and the consumer offsets together);
`state_store` keeps each partition's state in RocksDB holding only committed
state, with the checkpoint of its changelog in the same write; `restore`
rebuilds a partition's store from its changelog on assignment; `contract`
is what a processor sees: inputs, an emitter and its partition's store.
"""
