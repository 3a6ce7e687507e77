"""Choose the L2 strength of the MLP by 3-fold cross-validated Bayesian search on 2,000 MNIST
images, then score the chosen setting once on the test set. The best setting is written as a
preset file: `l2zoo train --preset OUT_DIR/best.toml`.

usage: python examples/tune_lambda.py DATA_DIR OUT_DIR
"""

import sys

if len(sys.argv) != 3:
    sys.exit(__doc__.strip())

import l2zoo

result = l2zoo.tune(
    "mlp",
    "l2",
    {"l2": (1e-6, 1e-1, "log")},
    method="bayesian",
    trials=8,
    cv_folds=3,
    data_dir=sys.argv[1],
    out_dir=sys.argv[2],
    train_size=2000,
    epochs=5,
)
print(
    f"chosen l2 = {result['best']['l2']:.3g}: validation accuracy "
    f"{result['best_validation_accuracy']:.2%}, test accuracy {result['test_accuracy']:.2%}"
)
