"""A picture made into an input like the run's training images: the same polarity (ink on
background), and, for digits of MNIST's kind, framed as MNIST's digits were (LeCun et al.:
each fit into a 20x20 box and centred by its centre of mass in the 28x28 image)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

INVERT = ("auto", "yes", "no")
# Datasets of handwritten digits framed as MNIST's (the others' pictures are only resized).
DIGIT_SETS = ("mnist", "emnist", "kmnist")
# 'auto' inverts only for gray training images clearly dark or light on average.
DARK, LIGHT = 0.3, 0.7
# MNIST's framing: the digit's longer side, and the side of the image it is centred in.
DIGIT_BOX, DIGIT_SIDE = 20, 28
# A larger picture is shrunk to this side first (keeping its aspect).
LARGEST = 1024


def read_picture(path: Path, channels: int) -> np.ndarray:
    """The picture at its own size as floats in [0, 1], (height, width, channels)."""
    import PIL.Image

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    with warnings.catch_warnings():  # a large photo is shrunk to the model's size anyway
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        try:
            with PIL.Image.open(path) as image:
                image.thumbnail((LARGEST, LARGEST))  # a photo's detail is not needed
                pixels = np.asarray(image.convert(mode), dtype="float32") / 255
        except (PIL.UnidentifiedImageError, PIL.Image.DecompressionBombError, OSError) as error:
            raise ValueError(f"{path} is not a readable image: {error}") from None
    return pixels.reshape(*pixels.shape[:2], channels)


def as_training_input(
    picture: np.ndarray,
    size: tuple[int, int],
    pixel_mean: float | None,
    invert: str = "auto",
    digits: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """`picture` (height, width, channels in [0, 1]) at `size`, as the training images were,
    and what was done to it. Inverted ('auto') when it is gray, the training images were
    clearly dark or light on average (`pixel_mean`, None if unknown) and its background is
    the other way ('yes', 'no': always, never); for `digits` (a run on a digit set), cropped
    to the ink and framed as MNIST's were, unless it has the training images' size already."""
    if invert not in INVERT:
        raise ValueError(f"invert must be one of {', '.join(INVERT)}; got {invert!r}")
    notes = []
    light = float(np.median(picture)) > 0.5  # the background is most of a picture
    one_sided = pixel_mean is not None and not DARK <= pixel_mean <= LIGHT
    if invert == "yes" or (
        invert == "auto" and picture.shape[-1] == 1 and one_sided and light != (pixel_mean > 0.5)
    ):
        picture = 1 - picture
        notes.append(f"inverted ({'dark on light' if light else 'light on dark'})")
    if picture.shape[:2] == tuple(size):
        return picture, notes
    if digits and picture.shape[-1] == 1 and tuple(size) == (DIGIT_SIDE, DIGIT_SIDE):
        notes.append("cropped to its ink and centred as MNIST's digits")
        return frame_digit(picture[..., 0])[..., None], notes
    return _resized(picture, size), notes


def frame_digit(gray: np.ndarray) -> np.ndarray:
    """A light-on-dark digit of any size, as MNIST framed its digits: the background taken
    away, the ink's bounding box scaled to fit DIGIT_BOX (keeping its aspect), then placed
    so that its centre of mass is the centre of a DIGIT_SIDE square."""
    import PIL.Image

    ink = np.clip(gray - np.median(gray), 0, None)  # paper that is not quite black
    if ink.max() <= 0:
        return np.zeros((DIGIT_SIDE, DIGIT_SIDE), "float32")
    ink = ink / ink.max()
    rows, cols = np.flatnonzero(ink.max(1) > 0.2), np.flatnonzero(ink.max(0) > 0.2)
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = DIGIT_BOX / max(crop.shape)
    width, height = (max(1, round(side * scale)) for side in (crop.shape[1], crop.shape[0]))
    image = PIL.Image.fromarray(crop.astype("float32"), mode="F")
    digit = np.clip(np.asarray(image.resize((width, height), PIL.Image.LANCZOS)), 0, 1)
    total = digit.sum()
    row_mass = (digit.sum(1) * np.arange(height)).sum() / total
    col_mass = (digit.sum(0) * np.arange(width)).sum() / total
    top = int(np.clip(round((DIGIT_SIDE - 1) / 2 - row_mass), 0, DIGIT_SIDE - height))
    left = int(np.clip(round((DIGIT_SIDE - 1) / 2 - col_mass), 0, DIGIT_SIDE - width))
    framed = np.zeros((DIGIT_SIDE, DIGIT_SIDE), "float32")
    framed[top : top + height, left : left + width] = digit
    return framed


def _resized(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`picture` at `size` by nearest neighbour, as Keras' `load_img` resizes."""
    rows = ((np.arange(size[0]) + 0.5) * picture.shape[0] / size[0]).astype(int)
    cols = ((np.arange(size[1]) + 0.5) * picture.shape[1] / size[1]).astype(int)
    return picture[rows][:, cols]
