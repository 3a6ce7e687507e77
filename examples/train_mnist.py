"""Train a zoo model on MNIST under a regularizer preset: the shortest l2zoo script.

usage: python examples/train_mnist.py [DATA_DIR]   (a folder of the four MNIST IDX files)
"""

import os
import sys

import l2zoo
from l2zoo.data import load_idx_folder

data = load_idx_folder(sys.argv[1] if len(sys.argv) > 1 else os.environ["L2ZOO_DATA_DIR"])
(x_train, y_train), (x_test, y_test) = data["train"], data["test"]

preset = l2zoo.load_preset("l2", dropout=0.2)
model = l2zoo.build_mlp((28, 28, 1), 10, preset)
model.compile(optimizer=preset.make_optimizer(), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x_train[..., None] / 255.0, y_train, batch_size=64, epochs=2, validation_split=0.1)
loss, accuracy = model.evaluate(x_test[..., None] / 255.0, y_test, verbose=0)
print(f"test accuracy {accuracy:.2%}; regularization loss {l2zoo.penalty(model).total:.4f}")
