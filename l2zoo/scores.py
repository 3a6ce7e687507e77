"""Scores of a classifier's predicted probabilities: the data loss without any penalty,
accuracy, calibration, and, under label noise, how much of the noise it memorized."""

from __future__ import annotations

import numpy as np

# Keras clips probabilities to [EPSILON, 1 - EPSILON] before its cross-entropy; so do we, so
# that the loss here equals the one `fit` logs.
EPSILON = 1e-7
ECE_BINS = 15


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(label): the cross-entropy of the labels under the model, penalty excluded."""
    probabilities = np.asarray(probabilities, dtype="float64")
    probabilities = probabilities / probabilities.sum(axis=-1, keepdims=True)
    chosen = probabilities[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.mean(np.log(np.clip(chosen, EPSILON, 1 - EPSILON))))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """sum over confidence bins b of |b| / n * |accuracy(b) - confidence(b)|, where the
    confidence is the top probability and the bins split [0, 1] evenly (Guo et al. 2017)."""
    probabilities = np.asarray(probabilities, dtype="float64")
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == np.asarray(labels)
    # Bin b holds confidences in (b / bins, (b + 1) / bins]; a confidence of 0 joins bin 0.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def classification_scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """loss (the mean negative log-likelihood, no penalty), accuracy and ece of one split."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    return {
        "loss": negative_log_likelihood(probabilities, labels),
        "accuracy": float(np.mean(probabilities.argmax(axis=-1) == labels)),
        "ece": expected_calibration_error(probabilities, labels),
    }


def memorization(
    predicted: np.ndarray, given: np.ndarray, true: np.ndarray
) -> dict[str, float | None]:
    """Training accuracy split by label noise (Arpit et al. 2017): on the examples whose label
    was changed, against the given (noisy) label (memorized) and the true one (the pattern
    kept); and on the unchanged examples. None where a group is empty."""
    predicted, given, true = (np.asarray(a) for a in (predicted, given, true))
    changed = given != true

    def share(hits: np.ndarray) -> float | None:
        return float(hits.mean()) if hits.size else None

    return {
        "noisy_given_accuracy": share(predicted[changed] == given[changed]),
        "noisy_true_accuracy": share(predicted[changed] == true[changed]),
        "clean_accuracy": share(predicted[~changed] == given[~changed]),
    }
