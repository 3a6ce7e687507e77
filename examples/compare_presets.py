"""What does L2 do to a model, next to L1, ElasticNet, dropout and batch norm? Train the same
MLP on the same 1,000 MNIST images under each preset and write the evidence: results.md (the
table), results.csv, results.json and the plots.

usage: python examples/compare_presets.py DATA_DIR OUT_DIR
"""

import sys

if len(sys.argv) != 3:
    sys.exit(__doc__.strip())

import l2zoo

results = l2zoo.compare(
    "mlp",
    ["none", "l1", "l2", "elasticnet", "l2_dropout_batchnorm"],
    train_size=1000,
    epochs=20,
    data_dir=sys.argv[1],
    out_dir=sys.argv[2],
)
print(l2zoo.markdown_table(results["summary"]))
