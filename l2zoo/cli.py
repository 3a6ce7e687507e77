"""The `l2zoo` command: a thin argparse layer over the public functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from l2zoo.models import list_models
from l2zoo.presets import list_presets, load_preset

PRESET_COLUMNS = (
    "preset",
    "regularizer",
    "l1",
    "l2",
    "applies to",
    "dropout",
    "batchnorm",
    "optimizer",
    "weight decay",
    "description",
)


def preset_rows() -> list[list[str]]:
    """One row of PRESET_COLUMNS per shipped preset."""
    rows = []
    for name in list_presets():
        p = load_preset(name)
        rows.append(
            [
                name,
                p.regularizer_kind,
                f"{p.l1:g}",
                f"{p.l2:g}",
                ", ".join(p.apply_to),
                f"{p.dropout:g}",
                "yes" if p.batchnorm else "no",
                p.optimizer,
                f"{p.weight_decay:g}",
                p.description,
            ]
        )
    return rows


def format_table(columns: Sequence[str], rows: list[list[str]], markdown: bool = False) -> str:
    """Rows as aligned plain text, or as a Markdown table."""
    if markdown:
        lines = [columns, ["---"] * len(columns), *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [columns, *rows]
    )


def _presets(args: argparse.Namespace) -> None:
    print(format_table(PRESET_COLUMNS, preset_rows(), markdown=args.markdown))


def _models(args: argparse.Namespace) -> None:
    print("\n".join(list_models()))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="l2zoo", description="Keras 3 models with regularizer presets."
    )
    commands = root.add_subparsers(dest="command", required=True)
    presets = commands.add_parser("presets", help="list the shipped presets as a table")
    presets.add_argument("--markdown", action="store_true", help="print a Markdown table")
    presets.set_defaults(run=_presets)
    commands.add_parser("models", help="list the model families").set_defaults(run=_models)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; argparse exits with status 2 on bad arguments."""
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"l2zoo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
