"""Published findings about regularization, each reproduced at laptop scale by one command,
`l2zoo study NAME` (or `run_finding`), which trains what it needs and writes a page beside
its raw numbers: the paper's claim, the zoo's figure made the same way, and what matches.

Every finding is a module of this package with the paper's `TITLE`, `PAPER` and `CLAIM`, its
settings (`FULL`, and a `QUICK` one that only checks the machinery), `measure(settings)`
returning its raw rows, and `report(measured, settings)` returning the page's body, its CSV
files and its figures.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import ModuleType

FINDINGS = {
    "decoupled_weight_decay": "decoupled",
    "random_labels": "random_labels",
    "patterns_before_noise": "patterns",
    "dropout_max_norm": "max_norm",
    "batchnorm_l2": "batchnorm_l2",
}


def finding(name: str) -> ModuleType:
    """The module of the finding `name` (one of `FINDINGS`)."""
    if name not in FINDINGS:
        raise ValueError(f"no finding named {name!r}; the findings: {', '.join(FINDINGS)}")
    return importlib.import_module(f"l2zoo.findings.{FINDINGS[name]}")


def run_finding(name: str, out: str | Path = "docs/findings", quick: bool = False) -> Path:
    """Measures the finding `name` and writes OUT/NAME.md with OUT/NAME/*.csv and *.png;
    `quick` runs a few tiny trainings that check the machinery, not the claim."""
    from l2zoo.findings.page import header, write

    module = finding(name)
    out = Path(out)
    try:  # before any training: a page that cannot be written fails now, not in 30 minutes
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot write the page into {str(out)!r}: {error.strerror}") from None
    settings = module.QUICK if quick else module.FULL
    start = time.perf_counter()
    measured = module.measure(settings)
    body, files, figures = module.report(measured, settings)
    command = f"l2zoo study {name}" + (" --quick" if quick else "")
    top = header(
        module.TITLE,
        module.PAPER,
        module.CLAIM,
        command,
        time.perf_counter() - start,
        module.setup(settings),
    )
    if quick:
        top += (
            "\n**Quick version:** a handful of tiny trainings that check the machinery; its "
            "numbers say nothing about the claim.\n"
        )
    return write(out, name, top + "\n" + body, files, figures)
