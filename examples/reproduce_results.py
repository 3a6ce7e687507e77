"""Rerun one row of the README's results table: a named variant (`l2zoo models`: the family at
the row's sizes under its recommended preset) on the 60,000 training images of MNIST (or
Fashion-MNIST), scored once on the 10,000 test images, for each seed.

usage: python examples/reproduce_results.py {mlp,cnn,transformer} [--seeds 0,1,2] [--out DIR]
           [--dataset mnist|fashion_mnist] [--data-dir DIR] [--epochs E]

Each seed is `l2zoo train --model FAMILY_reference (FAMILY_fashion on Fashion-MNIST) --epochs E
--batch-size B --seed S --no-validation`; results go to
OUT/[DATASET-]FAMILY-E-batchB/seed-S/result.json (DATASET- for all but MNIST), and an
interrupted run resumes. A model trained on mirrored images is also scored with each test
image's mirror image (`l2zoo evaluate RUN --flip`).
"""

import argparse
import statistics

from l2zoo import epoch_line, evaluate, load_dataset, train

# family -> epochs and batch size of the README table's rows (the CNN's batch was chosen on a
# held-out 10% of the training images).
EPOCHS = {"mlp": 30, "cnn": 20, "transformer": 30}
BATCH_SIZE = {"mlp": 128, "cnn": 64, "transformer": 128}


def summary(values: list[float]) -> str:
    """'mean%' and, over several values, '± SD'."""
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.2f}%{spread}"


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("family", choices=sorted(EPOCHS))
parser.add_argument("--seeds", default="0,1,2", type=lambda text: [int(s) for s in text.split(",")])
parser.add_argument("--out", default="results")
parser.add_argument("--dataset", default="mnist", help="mnist or fashion_mnist (or any other)")
parser.add_argument("--data-dir", help="folder of the dataset's four IDX files")
parser.add_argument("--epochs", type=int, help="instead of the table's epochs for the family")
args = parser.parse_args()
epochs = args.epochs or EPOCHS[args.family]
batch_size = BATCH_SIZE[args.family]
model = f"{args.family}_{'fashion' if args.dataset == 'fashion_mnist' else 'reference'}"

prefix = "" if args.dataset == "mnist" else f"{args.dataset.replace('/', '_')}-"
accuracies, minutes, speeds, with_mirror = [], [], [], []
for seed in args.seeds:
    print(
        f"l2zoo train --model {model} --dataset {args.dataset} --epochs {epochs} "
        f"--batch-size {batch_size} --seed {seed} --no-validation",
        flush=True,
    )
    run_dir = f"{args.out}/{prefix}{args.family}-{epochs}-batch{batch_size}/seed-{seed}"
    _, result = train(
        model,
        data=load_dataset(args.dataset, data_dir=args.data_dir, batch_size=batch_size, seed=seed),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        run_dir=run_dir,
        validate_every_epoch=False,  # the test set is scored once, at the end
        verbose=0,
        callbacks=[epoch_line()],
    )
    accuracies.append(100 * result["test"]["accuracy"])
    minutes.append(result["wall_time_s"] / 60)
    speeds.append(result["samples_per_second"])
    print(
        f"seed {seed}: test accuracy {accuracies[-1]:.2f}%, test loss "
        f"{result['test']['loss']:.4f} (cross-entropy), "
        + (
            ""
            if result["test"]["ece"] is None
            else f"calibration error {result['test']['ece']:.4f}, "
        )
        + f"{minutes[-1]:.1f} min, "
        f"{speeds[-1]:.0f} samples/s",
        flush=True,
    )
    if result["preset"]["flip"]:
        mirror = evaluate(run_dir, data_dir=args.data_dir, flip=True)
        with_mirror.append(100 * mirror["accuracy"])
        print(
            f"seed {seed}, each test image with its mirror image: test accuracy "
            f"{with_mirror[-1]:.2f}%, test loss {mirror['loss']:.4f} (cross-entropy)",
            flush=True,
        )


print(
    f"{args.family}: test accuracy {summary(accuracies)} over seeds {args.seeds}"
    + (f" ({summary(with_mirror)} with mirror images)" if with_mirror else "")
    + f"; {statistics.mean(minutes):.1f} min and {statistics.mean(speeds):.0f} samples/s per run"
)
