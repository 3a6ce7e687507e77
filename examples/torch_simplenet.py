"""The classic PyTorch SimpleNet training loop around an l2zoo model: 784-128-10, SGD lr 0.01
with weight decay 1e-4, batch 64, average loss and test accuracy after every epoch.

Under Keras' torch backend a Keras model is a torch.nn.Module, so a plain PyTorch loop trains
it: `model.parameters()` are the torch parameters that torch's SGD updates.

`l2zoo train --backend torch --model mlp --model-arg units=128 --preset l2_sgd --epochs 5
--batch-size 64` trains the same network in Keras' fit instead.
torch's weight_decay also decays the biases, l2zoo's L2 only the kernels: a small difference.

usage: python examples/torch_simplenet.py DATA_DIR [EPOCHS]   (EPOCHS: 5 by default)
"""

import sys
import time

EPOCHS = sys.argv[2] if len(sys.argv) == 3 else "5"
if len(sys.argv) not in (2, 3) or not EPOCHS.isdigit() or int(EPOCHS) < 1:
    sys.exit(__doc__.strip())

import l2zoo  # noqa: E402  (light: Keras is not imported yet)

l2zoo.use_backend("torch")  # before Keras is imported: a Keras model is then a torch.nn.Module

import keras  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


def loader(arrays, shuffle=False):
    """A DataLoader of 64 (images scaled to [0, 1], int64 labels) from uint8 (x, y) arrays."""
    x, y = arrays
    images = torch.tensor(x.astype("float32") / 255)
    return DataLoader(TensorDataset(images, torch.tensor(y, dtype=torch.int64)), 64, shuffle)


def nll(probabilities, labels):
    """Cross-entropy of softmax outputs."""
    # The zoo's model ends with a softmax, and CrossEntropyLoss expects logits.
    return torch.nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-7)), labels)


def accuracy(model, test_loader):
    """The fraction of the test set classified right."""
    with torch.no_grad():
        right = sum((model(x, training=False).argmax(1) == y).sum().item() for x, y in test_loader)
    return right / len(test_loader.dataset)


def main(data_dir, epochs):
    """Train `epochs` epochs, printing the loss and test accuracy of each, then the speed."""
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    data = l2zoo.load_dataset("mnist", data_dir=data_dir)
    train_loader, test_loader = loader(data.arrays["train"], True), loader(data.arrays["test"])
    model = l2zoo.build_mlp(data.input_shape, data.num_classes, "none", units=128)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, weight_decay=1e-4)
    seconds = 0.0
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = nll(model(x, training=True), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        seconds += time.perf_counter() - start
        test_accuracy = accuracy(model, test_loader)
        print(
            f"Epoch {epoch + 1}, Average Loss: {total / len(train_loader):.4f}, "
            f"Test Accuracy: {test_accuracy:.2%}",
            flush=True,
        )
    samples = len(train_loader.dataset) * epochs
    print(f"torch loop: {samples / seconds:.0f} samples/s; test accuracy {test_accuracy:.2%}")


main(sys.argv[1], int(EPOCHS))
