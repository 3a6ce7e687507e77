"""Multi-worker training on one machine: two worker processes on 127.0.0.1 under
MultiWorkerMirroredStrategy, each told its role through TF_CONFIG, as on a real cluster.

usage: python examples/multiworker.py DATA_DIR RUN_DIR
"""

import json
import os
import socket
import subprocess
import sys

WORKER = """
import sys
import l2zoo
data = l2zoo.load_dataset("mnist", data_dir=sys.argv[1], train_size=4096)
l2zoo.train("mlp", "l2", data, run_dir=sys.argv[2], epochs=1, batch_size=32,
            strategy="multi_worker", model_args={"units": (64,)}, verbose=2)
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def main(data_dir: str, run_dir: str) -> int:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, data_dir, run_dir],
            env={
                **os.environ,
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                ),
            },
        )
        for index in range(len(workers))
    ]
    try:
        return max(process.wait(timeout=600) for process in processes)
    finally:
        for process in processes:
            process.kill()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    sys.exit(main(*sys.argv[1:3]))
