"""Runs a wf job step's command as N ranks on a Ray cluster (node_count > 1).

Shipped in the job's working directory by `wf` and started as the Ray job's entrypoint:

    python3 _wf_ray_ranks.py N CPUS GPUS MEMORY_BYTES -- COMMAND ARG...

It reserves one bundle per rank in a placement group (spread over the nodes when it can),
starts one actor per bundle, and each actor runs the command with RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR (rank 0's node) and MASTER_PORT set. The job fails as soon as a
rank fails (the others are killed) and ends well when every rank exited 0. A rank's process
dies with its actor, so stopping the Ray job stops every rank.
"""

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys

import ray
from ray.util.placement_group import placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy


def _die_with_parent():
    # PR_SET_PDEATHSIG: the rank's process is killed when its actor's worker dies.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


@ray.remote
class Rank:
    def where(self):
        s = socket.socket()
        s.bind(("", 0))
        port = s.getsockname()[1]
        s.close()
        return ray.util.get_node_ip_address(), port

    def run(self, argv, env):
        sys.stdout.flush()
        proc = subprocess.Popen(
            argv, env={**os.environ, **env}, preexec_fn=_die_with_parent
        )
        return proc.wait()


def main():
    n, cpus, gpus, memory = (
        int(sys.argv[1]),
        float(sys.argv[2]),
        float(sys.argv[3]),
        int(sys.argv[4]),
    )
    argv = sys.argv[sys.argv.index("--") + 1 :]
    # The ranks' output is copied into a log file: no colour codes around Ray's prefixes.
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    ray.init(logging_level=logging.WARNING)
    bundle = {"CPU": cpus}
    if gpus:
        bundle["GPU"] = gpus
    if memory:
        bundle["memory"] = memory
    pg = placement_group([bundle] * n, strategy="SPREAD")
    ray.get(pg.ready())
    ranks = [
        Rank.options(
            num_cpus=cpus,
            num_gpus=gpus,
            memory=memory or None,
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                placement_group=pg, placement_group_bundle_index=i
            ),
        ).remote()
        for i in range(n)
    ]
    places = ray.get([r.where.remote() for r in ranks])
    master_addr, master_port = places[0]
    runs = {}
    for i, r in enumerate(ranks):
        local = sum(1 for p in places[:i] if p[0] == places[i][0])
        env = {
            "RANK": str(i),
            "LOCAL_RANK": str(local),
            "WORLD_SIZE": str(n),
            "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(master_port),
        }
        runs[r.run.remote(argv, env)] = i
    pending = list(runs)
    code = 0
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        rank_code = ray.get(done[0])
        if rank_code != 0:
            print(f"rank {runs[done[0]]} exited with status {rank_code}", flush=True)
            code = rank_code
            for r in ranks:
                ray.kill(r)
            break
    sys.exit(code)


if __name__ == "__main__":
    main()
