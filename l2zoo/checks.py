"""The argument checks every module shares: one readable error naming the argument, the
value and what was expected (as Keras' own `validate_float_arg` does for its layers)."""

from __future__ import annotations

from typing import Any


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
