"""The argument checks every module shares: one readable error naming the argument, the
value and what was expected (as Keras' own `validate_float_arg` does for its layers)."""

from __future__ import annotations

from typing import Any


class Note(UserWarning):
    """A remark l2zoo makes about what it did to the user's data (the command line prints it
    as one `l2zoo: note:` line)."""


def whole_number(name: str, value: Any, minimum: int = 1) -> int:
    """`value` if it is an int (not a bool) >= `minimum`, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"a whole number >= {minimum}"
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return value


def fraction(name: str, value: Any) -> float:
    """`value` if it is a number in [0, 1), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a fraction in [0, 1); got {value!r}")
    return float(value)


def early_stopping_split(patience: int, split: float, validate_every_epoch: bool) -> float:
    """The validation split of a run: `split` as given, or with early stopping (`patience`
    > 0) and none given, the last VALIDATION_SPLIT of the training set, so that early
    stopping never stops on the test set; a ValueError if it could not validate at all."""
    from l2zoo.defaults import VALIDATION_SPLIT

    if not patience or split:
        return split
    if not validate_every_epoch:
        raise ValueError(
            f"early_stopping={patience} needs validation after every epoch; drop "
            "validate_every_epoch=False (--no-validation) or set early_stopping=0"
        )
    return VALIDATION_SPLIT
