"""The projector's fold in CPU seconds: `Projector.fold` over bench/api_views.py's runs.

On a shared box the wall-clock rate measures the load; this loop reports the
folding process's CPU time and, for PostgreSQL, the throwaway cluster's
(its processes, read from /proc), and records per CPU-second over both.
The runs are encoded first (2,000 records a partition a batch, four
partitions, as bench/api_views.py --store), then only the fold is timed.
ROOT is the checkout whose code folds (a detached worktree of an older
commit, for a before/after pair in the same hour); `--profile` prints
cProfile's table with a CPU clock; `--nogc` folds with the cyclic collector off.

    python bench/fold_cpu.py . sqlite 20000
    python bench/fold_cpu.py ../before postgresql 20000 --profile
"""
import argparse
import cProfile
import pstats
import sys
import tempfile
import time
import zlib

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("store", choices=["sqlite", "postgresql"])
ap.add_argument("runs", type=int)
ap.add_argument("--profile", action="store_true")
ap.add_argument("--batch", type=int, default=2000)
ap.add_argument("--url")
ap.add_argument("--nogc", action="store_true")
a = ap.parse_args()
sys.path.insert(0, a.root)
from bench.api_views import welcome_run
from processors.kafka_io import Record
from projections.projector import Projector
from projections.store import ProjectionStore
from schemas.codec import encode
cluster = None
url = a.url
if url is None and a.store == "postgresql":
    from tests.postgres import Cluster
    cluster = Cluster().start(); url = cluster.create_database("prof")
elif url is None:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='prof-')}/p.sqlite3"
store = ProjectionStore(url); store.migrate(); projector = Projector(store)
P = 4
batches = []
pending = {p: [] for p in range(P)}; offsets = dict.fromkeys(range(P), 0)
for n in range(a.runs):
    p = zlib.crc32(f"learner-{n}".encode()) % P
    for r in welcome_run(n):
        pending[p].append(Record("run-status", p, offsets[p], None, encode("run_status", r), 0)); offsets[p] += 1
    if len(pending[p]) >= a.batch:
        batches.append((p, pending[p])); pending[p] = []
for p in range(P):
    if pending[p]: batches.append((p, pending[p]))
total = sum(len(b) for _, b in batches)
import os
def server_cpu():
    """CPU seconds of the throwaway cluster's processes (postmaster and its children)."""
    if cluster is None: return 0.0
    master = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try: fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError: continue
        if int(pid) == master or int(fields[1]) == master:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")
server0 = server_cpu()
prof = cProfile.Profile(time.process_time) if a.profile else None
import gc
if a.nogc: gc.disable()
began = time.perf_counter(); cpu0 = time.process_time()
if prof: prof.enable()
for p, b in batches:
    projector.fold(p, b)
if prof: prof.disable()
wall = time.perf_counter() - began; cpu = time.process_time() - cpu0
load = open("/proc/loadavg").read().split()[:3]
server = server_cpu() - server0
print(f"{a.root} {a.store} runs={a.runs} records={total} wall={wall:.2f}s rate={total/wall:,.0f}/s cpu(this process)={cpu:.2f}s server_cpu={server:.2f}s cpu_rate={total/(cpu+server):,.0f}/s load={' '.join(load)}")
if prof:
    st = pstats.Stats(prof); st.sort_stats("tottime").print_stats(40)
    st.sort_stats("cumtime").print_stats(60)
store.close()
if cluster: cluster.stop()
