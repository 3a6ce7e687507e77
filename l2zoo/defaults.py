"""Default settings of training and comparison, in a module light enough for `l2zoo --help`
(it imports neither Keras nor TensorFlow)."""

# The preset `train` uses when none is given, for a family (a named variant brings its own).
DEFAULT_PRESET = "l2"
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")
# Measured on a 2-core CPU with `l2zoo bench --variants` (docs/speed.md): many steps per
# tf.function call and XLA train the seed MLP 2.3-2.7x faster than a default `fit` (2.0x
# without XLA, 1.0x with one step per call; 128 steps beat 32 by 3%). XLA also speeds up the
# transformer 1.6x but slows the CNN to 0.6x (XLA's CPU backend lowers sliding convolutions
# poorly) and an MLP with dropout to about 0.3x (its random numbers). Hence "auto".
STEPS_PER_EXECUTION = 128
# Steps per iteration of that call's loop (Keras' `unrolled_steps_per_execution`, TensorFlow
# backend): 4 trained the seed MLP 6.6% faster (2.70x -> 2.87x a default `fit`), the other
# families 1-5% faster, and costs 1-13 s more tracing once per run (most for the transformer;
# about 1 s for a small MLP or CNN, 2026-12-03). So only runs of UNROLL_FROM_STEPS optimizer
# steps or more unroll (18 s of the seed MLP at 5% faster repays 1 s); shorter ones run one.
UNROLLED_STEPS = 4
UNROLL_FROM_STEPS = 4000
# Compiling with XLA costs about 1.5 s at the start of a small MLP's run; where XLA is faster
# (1.35x the seed MLP's steps) that is repaid within about a thousand steps, so on TensorFlow
# "auto" leaves XLA off for runs shorter than this.
XLA_FROM_STEPS = 1000
# Examples per step where l2zoo scores a split with `predict` (the final scores, the
# memorization curves), whatever the training batch; the probabilities do not depend on
# it. Keras traces the steps of one `predict` call one after another, so 10,000 images at
# 64 a step (128 steps a call) took 4.3 s to trace for a small CNN, at 1,024 (10 steps)
# 0.4 s (2026-12-03).
SCORING_BATCH = 1024
# What a batch norm's moving averages may keep of their starting values (mean 0, variance 1)
# at the end of a run. Keras' momentum 0.99 keeps 0.99**168 = 18% after 168 steps: against
# a true variance of 0.005 (a first convolution over pixels in [0, 1]) that left a 2-epoch
# ViT with a conv stem at 15% accuracy in inference, 85% with the batch's own statistics
# (2026-12-03). So short runs get a lower momentum; from 917 steps on, Keras' 0.99.
BATCHNORM_LEFTOVER = 1e-4
JIT_COMPILE = "auto"
# The last share of the training set that compare, sweep and early stopping validate on when
# no split is given: selection never looks at the test set.
VALIDATION_SPLIT = 0.1
# The presets `compare` trains when none are named.
COMPARED_PRESETS = ("none", "l1", "l2", "elasticnet", "l2_dropout_batchnorm")
# Keras backends l2zoo trains on; TensorFlow is Keras' own default.
BACKENDS = ("tensorflow", "jax", "torch")
