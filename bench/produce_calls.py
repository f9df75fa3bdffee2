"""CPU per record of confluent-kafka's produce, called the ways the stream task could call it.

A producer with no broker (its records wait in librdkafka's queue, purged
after each way) takes `--records` records of the worker's size per way, in
alternating rounds: `produce` with keyword options as the task passes them,
the same with a delivery callback (the task's changelog records), positional
arguments, and `produce_batch` with the message dicts it needs built too.
CPU time (`time.process_time`) per record.

    python bench/produce_calls.py [--records 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

from confluent_kafka import Producer

VALUE = b"x" * 180
KEY = b"school-1:learner-00042"


def delivered(error, message) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "queue.buffering.max.messages": 2_000_000,
                         "queue.buffering.max.kbytes": 4_000_000, "linger.ms": 100_000, "log_level": 0})
    records = range(args.records)

    def keywords() -> None:
        for _ in records:
            options = {"partition": 3}
            producer.produce("t", VALUE, KEY, **options)

    def keywords_with_callback() -> None:
        for _ in records:
            options = {"partition": 3, "on_delivery": delivered}
            producer.produce("t", VALUE, KEY, **options)

    def positional() -> None:
        for _ in records:
            producer.produce("t", VALUE, KEY, 3)

    def batch() -> None:
        producer.produce_batch("t", [{"value": VALUE, "key": KEY, "partition": 3} for _ in records])

    for round_ in range(args.rounds):
        for way in (keywords, keywords_with_callback, positional, batch):
            began = time.process_time()
            way()
            spent = time.process_time() - began
            producer.purge(in_queue=True)
            print(f"round {round_ + 1}: {way.__name__}: {spent / args.records * 1e6:.2f} us CPU per record")


if __name__ == "__main__":
    main()
