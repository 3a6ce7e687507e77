"""The classic PyTorch SimpleNet, written the l2zoo way: 784-128-10, SGD lr 0.01 with weight
decay 1e-4, batch 64, 5 epochs, average loss and test accuracy after every epoch.

PyTorch's SGD weight decay 1e-4 adds 1e-4 * w to the gradient: the gradient of
L2(1e-4 / 2) = L2(5e-5), the strength l2zoo puts on every kernel here.

usage: python examples/seed_simplenet.py DATA_DIR
"""

import sys

if len(sys.argv) != 2:
    sys.exit(__doc__.strip())

import l2zoo

assert l2zoo.load_preset("l2_sgd").l2 == l2zoo.sgd_weight_decay_to_l2(1e-4)
model, result = l2zoo.train(
    "mlp",
    "l2_sgd",  # SGD, learning rate 0.01, L2(5e-5)
    l2zoo.load_dataset("mnist", data_dir=sys.argv[1]),
    model_args={"units": 128},
    epochs=5,
    batch_size=64,
    verbose=0,
    callbacks=[l2zoo.epoch_line()],
)
print(
    f"{result['samples_per_second']:.0f} samples/s; test accuracy {result['test']['accuracy']:.2%}"
)
