"""The cost of each regularizer in a training step, read through this machine's noise.

`l2zoo bench --presets` gives each preset's median over rounds, but on a shared machine the
speed drifts by tens of percent over a minute, more than most regularizers cost. Here each
regularizer's epoch runs between two epochs of `none` (none, A, none, B, none, ...), its
speed is divided by the mean of the two beside it, and the ratios of all rounds give a mean
with a 95% t-interval: drift slower than three epochs cancels. `--input-only` times each
preset's input pipeline (tf.data, where the augmentations run) iterated alone, best of three
epochs: on a machine whose cores the step already fills, its CPU time is what an
augmentation takes from the step.

    python benchmarks/regularizer_cost.py ../shared/data/mnist cnn docs/speed/penalty.toml ...
"""

import argparse
import math
import statistics
import time

from l2zoo.bench import zoo_runner
from l2zoo.data import load_dataset
from l2zoo.presets import load_preset
from l2zoo.stats import interval
from l2zoo.training import training_batches

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("data_dir")
parser.add_argument("model")
parser.add_argument("presets", nargs="+", help="each compared with 'none'")
parser.add_argument("--rounds", type=int, default=10)
parser.add_argument("--train-size", type=int, default=6400)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--input-only", action="store_true", help="time the input pipelines alone")
args = parser.parse_args()


def input_alone(data, name: str) -> float:
    """Samples/s of the preset's training pipeline iterated alone, best of three epochs."""
    preset, best = load_preset(name), 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in training_batches(data, preset):
            pass
        best = max(best, data.train_examples / (time.perf_counter() - start))
    return best


if args.input_only:
    data = load_dataset(
        "mnist", data_dir=args.data_dir, batch_size=args.batch_size, train_size=args.train_size
    )
    for name in ["none", *args.presets]:
        speed = input_alone(data, name)
        print(f"{name:<38}input pipeline alone {speed:,.0f} samples/s", flush=True)
    raise SystemExit

runners = {
    name: zoo_runner(args.model, name, args.data_dir, args.batch_size, train_size=args.train_size)
    for name in ["none", *args.presets]
}
for one_epoch in runners.values():  # warm-up: compile and fill caches
    one_epoch()
ratios = {name: [] for name in args.presets}
base = {name: [] for name in ["none", *args.presets]}
for _ in range(args.rounds):
    before = runners["none"]()[0]
    base["none"].append(before)
    for name in args.presets:
        speed = runners[name]()[0]
        after = runners["none"]()[0]
        base[name].append(speed)
        base["none"].append(after)
        ratios[name].append(math.log(speed / ((before + after) / 2)))
        before = after

print(f"{args.model}, {args.train_size} images, batch {args.batch_size}, {args.rounds} rounds")
print(f"none: median {statistics.median(base['none']):,.0f} samples/s")
print("preset                                speed against none (95% interval)   median samples/s")
for name in args.presets:
    stats = interval(ratios[name])
    low, high = (math.exp(stats[key]) - 1 for key in ("low", "high"))
    print(
        f"{name:<38}{100 * (math.exp(stats['mean']) - 1):+6.1f}% [{100 * low:+.1f}, "
        f"{100 * high:+.1f}]{'':<12}{statistics.median(base[name]):,.0f}"
    )
