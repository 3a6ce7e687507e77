"""Train a zoo model on MNIST under a regularizer preset: the shortest l2zoo script.

usage: python examples/train_mnist.py [DATA_DIR]   (else $L2ZOO_DATA_DIR/mnist, tfds, Keras)
"""

import sys

import l2zoo

data = l2zoo.load_dataset("mnist", data_dir=sys.argv[1] if len(sys.argv) > 1 else None)
model, result = l2zoo.train("cnn", "l2_dropout", data, epochs=2)
print(f"test accuracy {result['test']['accuracy']:.2%}, kernel norm {result['kernel_l2_norm']:.1f}")
