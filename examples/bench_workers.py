"""Wall time of one sweep of 8 small runs in this process (--workers 0) and on 1 and 2 local
worker processes, rounds interleaved, each sweep a fresh `l2zoo sweep` command.

usage: python examples/bench_workers.py DATA_DIR [--rounds 2] [--workers 0,1,2] [--out DIR]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SWEEP = [
    "sweep", "--model", "mlp", "--preset", "l2", "--param", "l2",
    "--values", "0,1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2",
    "--train-size", "10000", "--epochs", "10", "--batch-size", "64",
]  # fmt: skip

if len(sys.argv) == 1:
    sys.exit(__doc__)
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("data_dir", help="folder of MNIST's four IDX files")
parser.add_argument("--rounds", type=int, default=2)
parser.add_argument("--workers", default="0,1,2", type=lambda t: [int(w) for w in t.split(",")])
parser.add_argument("--out", help="keep each sweep's folder here (default: a temporary one)")
args = parser.parse_args()
root = args.out or tempfile.mkdtemp(prefix="l2zoo-bench-workers-")
print(f"{os.cpu_count()} CPUs; l2zoo {' '.join(SWEEP)} --data-dir {args.data_dir}", flush=True)
times: dict[int, list[float]] = {count: [] for count in args.workers}
for round_ in range(args.rounds):
    for count in args.workers:
        out = os.path.join(root, f"workers{count}-round{round_}")
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "l2zoo", *SWEEP, "--data-dir", args.data_dir, "--out", out,
             "--workers", str(count)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode:
            sys.exit(f"--workers {count} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        times[count].append(time.perf_counter() - start)
        print(f"round {round_}, --workers {count}: {times[count][-1]:.1f} s", flush=True)
reference = statistics.median(times[args.workers[0]])
for count, values in times.items():
    median = statistics.median(values)
    print(
        f"--workers {count}: median {median:.1f} s over {len(values)} rounds "
        f"(min {min(values):.1f}, max {max(values):.1f}); "
        f"{reference / median:.2f}x the speed of --workers {args.workers[0]}"
    )
if not args.out:
    shutil.rmtree(root)
