"""Opening a store partition again after `kill -9`: what RocksDB replays, and how long it takes.

A child process fills one `PartitionStore` as the stream task does (batches of
--batch entries, each with its due-time index entry, committed with the
changelog checkpoint in one write) and is killed with SIGKILL, never closing
the store; this process then opens it again, as a restarted worker does, and
reads the checkpoint. Figures: the write-ahead log left on disk, the tables,
and the seconds to open. A worker with a million learners in 8 partitions
holds ~125,000 entries per store partition.

    python bench/store_reopen.py [--entries 125000] [--value-bytes 1200] [--rounds 3] [--wal-limit-mib 0]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processors.stream.state_store import WAL_LIMIT_BYTES, PartitionStore  # noqa: E402


def fill(path: Path, entries: int, value_bytes: int, batch: int, wal_limit: int) -> None:
    """The child: fill the store and wait to be killed."""
    store = PartitionStore(path, 0, wal_limit_bytes=wal_limit)
    rng = random.Random(1)
    offset = 0
    for start in range(0, entries, batch):
        for n in range(start, min(start + batch, entries)):
            key = b"bench-school:learner-%d" % n
            store.put(key, rng.randbytes(value_bytes // 2).hex().encode())
            store.put_index(b"%015d|%012d|%s|inactive-7" % (1_700_000_000_000 + n, 0, key), key + b"\ninactive-7")
        offset += batch + 1
        store.commit(offset)
    print("filled", flush=True)
    time.sleep(3600)


def sizes(path: Path) -> tuple[int, int]:
    wal = sum(f.stat().st_size for f in path.glob("*.log"))
    tables = sum(f.stat().st_size for f in path.glob("*.sst"))
    return wal, tables


def one_round(folder: Path, args: argparse.Namespace) -> dict:
    path = folder / "store"
    shutil.rmtree(path, ignore_errors=True)
    child = subprocess.Popen([sys.executable, __file__, "--fill", str(path), "--entries", str(args.entries),
                              "--value-bytes", str(args.value_bytes), "--batch", str(args.batch),
                              "--wal-limit-mib", str(args.wal_limit_mib)],
                             stdout=subprocess.PIPE, text=True)
    began = time.perf_counter()
    assert child.stdout.readline().strip() == "filled"
    filled = time.perf_counter() - began
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    wal, tables = sizes(path)
    began = time.perf_counter()
    store = PartitionStore(path, 0, wal_limit_bytes=args.wal_limit_mib << 20)
    checkpoint = store.checkpoint
    opened = time.perf_counter() - began
    store.close()
    wal_after, tables_after = sizes(path)
    return {"fill_s": filled, "wal_mib": wal / 2**20, "tables_mib": tables / 2**20, "open_s": opened,
            "checkpoint": checkpoint, "wal_after_mib": wal_after / 2**20, "tables_after_mib": tables_after / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=125_000)
    parser.add_argument("--value-bytes", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wal-limit-mib", type=int, default=WAL_LIMIT_BYTES >> 20,
                        help=f"the store's cap on its write-ahead log (default {WAL_LIMIT_BYTES >> 20}; 0: RocksDB's own, as before the cap)")
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill:
        fill(args.fill, args.entries, args.value_bytes, args.batch, args.wal_limit_mib << 20)
        return 0
    folder = Path(tempfile.mkdtemp(prefix="store-reopen-"))
    try:
        print(f"{args.entries:,} entries of {args.value_bytes:,} bytes, committed {args.batch:,} at a time, WAL cap "
              f"{args.wal_limit_mib or 'RocksDB default'} MiB; load {os.getloadavg()[0]:.2f}")
        for n in range(args.rounds):
            r = one_round(folder, args)
            print(f"round {n + 1}: filled in {r['fill_s']:.1f} s; after kill -9: WAL {r['wal_mib']:,.0f} MiB, tables "
                  f"{r['tables_mib']:,.0f} MiB; open + checkpoint {r['open_s']:.2f} s (checkpoint {r['checkpoint']}); "
                  f"then WAL {r['wal_after_mib']:,.0f} MiB, tables {r['tables_after_mib']:,.0f} MiB")
        print(f"load {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
