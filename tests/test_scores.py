"""Scores of predicted probabilities against hand computations on made-up numbers."""

import math

import numpy as np
import pytest

from l2zoo.scores import (
    classification_scores,
    expected_calibration_error,
    memorization,
    negative_log_likelihood,
)


def test_expected_calibration_error_is_the_binned_gap_between_confidence_and_accuracy():
    probabilities = np.array(
        [
            [0.95, 0.05],  # confidence 0.95, bin 15 (0.9333, 1], right
            [0.02, 0.98],  # 0.98, bin 15, wrong
            [0.50, 0.50],  # 0.50, bin 8 (0.4667, 0.5333], argmax 0, right
            [0.40, 0.60],  # 0.60, bin 9 (0.5333, 0.6], right
            [0.30, 0.70],  # 0.70, bin 11 (0.6667, 0.7333], wrong
        ]
    )
    labels = np.array([0, 0, 0, 1, 0])
    # Bin 15: 2 of 5 examples, accuracy 1/2, confidence 0.965: 0.4 * 0.465 = 0.186.
    # Bin 8: 1/5 * |1 - 0.5| = 0.1; bin 9: 1/5 * |1 - 0.6| = 0.08; bin 11: 1/5 * |0 - 0.7| = 0.14.
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.506)
    # Bin edges: 0.6 = 9/15 closes bin 9; 0.61 opens bin 10. Two examples at 0.6 (one right,
    # one wrong) and one at 0.61 (right): bin 9 gives 2/3 * |1/2 - 0.6| = 0.0667, bin 10
    # 1/3 * |1 - 0.61| = 0.13; an edge put on the wrong side mixes them (0.2 * 3 / 3 ...).
    edge = np.array([[0.6, 0.4], [0.6, 0.4], [0.39, 0.61]])
    assert expected_calibration_error(edge, np.array([0, 1, 1])) == pytest.approx(
        2 / 3 * 0.1 + 1 / 3 * 0.39
    )
    # Perfect confidence, always right: no calibration error.
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0


def test_negative_log_likelihood_is_the_mean_cross_entropy_keras_computes():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])
    labels = np.array([0, 1, 0])
    # -(ln 0.7 + ln 0.1 + ln 1e-7) / 3, the last clipped as Keras clips it.
    expected = -(math.log(0.7) + math.log(0.1) + math.log(1e-7)) / 3
    assert negative_log_likelihood(probabilities, labels) == pytest.approx(expected)
    scores = classification_scores(probabilities, labels)
    assert scores["accuracy"] == pytest.approx(1 / 3) and scores["loss"] == pytest.approx(expected)


def test_memorization_counts_noisy_and_clean_examples_apart():
    true = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    given = np.array([0, 1, 2, 3, 1, 2, 3, 0])  # the last four changed
    predicted = np.array([0, 1, 0, 3, 1, 1, 2, 2])
    # Clean (first four): 3 of 4 right. Changed: predicted 1, 1, 2, 2 against given
    # 1, 2, 3, 0 (1 match) and against true 0, 1, 2, 3 (2 matches).
    assert memorization(predicted, given, true) == {
        "noisy_given_accuracy": 0.25,
        "noisy_true_accuracy": 0.5,
        "clean_accuracy": 0.75,
    }
    assert memorization(predicted[:4], given[:4], true[:4])["noisy_given_accuracy"] is None
