"""`auto` strengths: a preset field set to 'auto' is chosen by successive halving over its grid
(`presets.AUTO_GRIDS`), scored on a validation split carved from the training data.

Successive halving is Hyperband's most aggressive bracket: every candidate trains a few epochs,
the best third goes on with three times as many, until at most three are left, whose best
wins. keras-tuner's `HyperbandOracle` also runs its gentler brackets, about 10x the epochs of
one training for `max_epochs=9`; one bracket keeps the search within a budget of a few
trainings. The oracle is keras-tuner's, so the search resumes and its trials can spread over
workers as every l2zoo search does (`l2zoo.search`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from l2zoo.atomic import write_csv
from l2zoo.checks import whole_number
from l2zoo.presets import AUTO, AUTO_GRIDS, Preset

FACTOR = 3  # each round keeps the best third, for three times the epochs
BUDGET = 3  # the default budget: this many times the final training's epochs
FOLDER = "auto"
# The fields `compare(auto=True)` chooses where a preset sets them: its regularizers' strengths.
STRENGTHS = ("l1", "l2", "dropout", "weight_decay")

# A trial's runner: (preset with chosen values, epochs) -> {"val_accuracy", "val_nll"}.
Fit = Callable[[Preset, int], dict[str, float]]


def rounds(candidates: int, first_epochs: int, max_epochs: int) -> list[tuple[int, int]]:
    """(trials, epochs of each) per round: all candidates, then the best third for three
    times the epochs (at most `max_epochs`), until at most FACTOR are left or the epochs can
    grow no more (a round at the same epochs would repeat the last one's trainings)."""
    plan = [(candidates, first_epochs)]
    while plan[-1][0] > FACTOR and plan[-1][1] < max_epochs:
        trials, epochs = plan[-1]
        plan.append((math.ceil(trials / FACTOR), min(max_epochs, epochs * FACTOR)))
    return plan


def cost(plan: list[tuple[int, int]]) -> int:
    """Epochs of training the plan takes."""
    return sum(trials * epochs for trials, epochs in plan)


def plan_search(grid_size: int, epochs: int, budget: int, least: int) -> list[tuple[int, int]]:
    """The rounds for `grid_size` candidates within `budget` epochs: the whole grid if it fits
    with first-round trials of a ninth of `epochs`, else as many candidates as fit, but at
    least `least`; the first round as long as the budget allows. A ValueError if even `least`
    do not fit at one epoch each.

    A regularizer's worth shows late (a network memorizes noisy labels after some epochs), so
    more candidates than `least` do not buy a first round shorter than two halvings below the
    full training: a 36-pair grid at 1 epoch each ranked noisy MNIST's strengths by how fast
    they learn. A budget too small for `least` at that length shortens the first round."""
    shortest = math.ceil(epochs / FACTOR**2)
    count = grid_size
    while count > least and cost(rounds(count, shortest, epochs)) > budget:
        count -= 1
    if cost(rounds(count, 1, epochs)) > budget:
        raise ValueError(
            f"auto_budget={budget} epochs leaves less than one epoch per trial: "
            f"{count} candidates need at least {cost(rounds(count, 1, epochs))} "
            f"(with epochs={epochs}); raise the budget to that (--auto-budget)"
        )
    first = max(e for e in range(1, epochs + 1) if cost(rounds(count, e, epochs)) <= budget)
    return rounds(count, first, epochs)


def epochs_budget(given: int | None, epochs: int) -> int:
    """The search's budget in epochs: `given`, by default BUDGET times the final `epochs`."""
    return BUDGET * epochs if given is None else whole_number("auto_budget", given)


def candidates(preset: Preset, budget: int, epochs: int, seed: int) -> list[dict[str, float]]:
    """The values tried: every value of an 'auto' field's grid; for several fields their
    product, or where the budget cannot try it all, the axes first: every field at its
    anchor (0, off; the learning rate at its grid's middle), then each field alone along its
    grid (thinned evenly where it must be, its largest value kept), then mixtures drawn by
    `seed`. A sample of the product alone missed noisy MNIST's one good corner (l2 alone,
    strong) and chose a weak mixture; with the axes, `elasticnet`'s search covers L1's and
    L2's own."""
    fields = preset.auto_fields
    grids = [AUTO_GRIDS[field] for field in fields]
    product = [dict(zip(fields, values, strict=True)) for values in itertools.product(*grids)]
    least = max(*map(len, grids), 1 + len(fields))  # room for every field alone
    count = plan_search(len(product), epochs, budget, least)[0][0]
    if count == len(product):
        return product
    anchor = {f: 0.0 if 0 in g else g[len(g) // 2] for f, g in zip(fields, grids, strict=True)}
    share, extra = divmod(count - 1, len(fields))
    axes = [anchor]
    for index, (field, grid) in enumerate(zip(fields, grids, strict=True)):
        others = [value for value in grid if value != anchor[field]]
        picks = np.linspace(len(others) - 1, 0, min(len(others), share + (index < extra)))
        axes += [{**anchor, field: others[i]} for i in sorted(set(picks.round().astype(int)))]
    mixtures = [setting for setting in product if setting not in axes]
    drawn = np.random.default_rng(seed).choice(len(mixtures), count - len(axes), replace=False)
    return axes + [mixtures[i] for i in sorted(drawn)]


def choose(
    preset: Preset,
    fit: Fit,
    *,
    epochs: int,
    budget: int | None,
    seed: int,
    folder: Path,
    describe: dict[str, Any],
    progress: Callable[[str], None] = print,
    workers: int = 0,
    relaunch: Callable[[], Any] | None = None,
    nested: bool = True,
) -> tuple[Preset | None, dict[str, Any]]:
    """(the preset with its 'auto' fields chosen, the search's record). `fit` trains one
    trial and scores it on validation data; `folder` keeps the search (a search started
    again with the same `describe` resumes there) and its trials.csv. `workers`, `relaunch`
    as `search.run_trials` takes them (a worker gets (None, {})); `nested`: inside another
    search's trial, this search runs here whatever keras-tuner's environment says."""
    from l2zoo import search  # keras-tuner: only once a search runs

    budget = epochs_budget(budget, epochs)
    grid = candidates(preset, budget, epochs, seed)
    plan = plan_search(len(grid), epochs, budget, len(grid))
    oracle = search.SuccessiveHalving(plan, seed=seed)

    def run(trial_id: str, values: dict[str, Any]) -> dict[str, float]:
        number = values["round"]
        setting = grid[values["candidate"]]
        trial_epochs = plan[number][1]
        label = ", ".join(f"{name}={value:g}" for name, value in setting.items())
        scores = fit(preset.chosen(**setting), trial_epochs)
        progress(
            f"auto: round {number + 1} of {len(plan)}, {label}, {trial_epochs} "
            f"epoch{'s' if trial_epochs > 1 else ''}: validation accuracy "
            f"{scores[search.OBJECTIVE]:.2%}, loss {scores['val_nll']:.4f}"
        )
        return scores

    description = {
        **describe,
        "fields": list(preset.auto_fields),
        "grid": grid,
        "rounds": plan,
    }
    finished = search.run_trials(
        folder,
        oracle,
        run,
        description=description,
        progress=progress,
        workers=workers,
        relaunch=relaunch,
        nested=nested and not workers,
    )
    if finished is None:  # a worker: the chief chooses
        return None, {}
    # The best of the last round any trial completed (all of a round may have failed).
    ranked = next((r for n in reversed(range(len(plan))) if (r := finished.ranked(n))), None)
    if not ranked:
        raise RuntimeError(f"every 'auto' trial failed; see {folder}")
    best = grid[ranked[0]]
    trials = [
        {
            "round": t.hyperparameters.get("round") + 1,
            **grid[t.hyperparameters.get("candidate")],
            "epochs": plan[t.hyperparameters.get("round")][1],
            search.OBJECTIVE: t.metrics.get_last_value(search.OBJECTIVE),
            "val_nll": t.metrics.get_last_value("val_nll"),
        }
        for t in sorted(finished.trials.values(), key=lambda t: t.trial_id)
        if t.status == search.COMPLETED
    ]
    write_csv(folder / "trials.csv", trials, list(trials[0]))
    record = {
        "method": "successive halving",
        "fields": list(preset.auto_fields),
        "choice": best,
        "candidates": len(grid),
        "grid_size": math.prod(len(AUTO_GRIDS[field]) for field in preset.auto_fields),
        "validation_examples": describe.get("validation_examples"),
        "budget_epochs": budget,
        "used_epochs": sum(trial["epochs"] for trial in trials),
        "trials": trials,
    }
    chosen = preset.chosen(**best)
    note = f"{choice_text(record)} chosen by auto on a validation split (successive halving)."
    return chosen.replace(description=f"{preset.description} {note}".strip()), record


def strengths_auto(preset: Preset) -> Preset:
    """`preset` with each of its non-zero STRENGTHS set to 'auto' (`none` stays as it is)."""
    fields = {field: AUTO for field in STRENGTHS if getattr(preset, field)}
    return preset.replace(**fields) if fields else preset


def choice_text(record: dict[str, Any]) -> str:
    """The values `auto` chose, as 'l2=0.001, dropout=0.3'."""
    return ", ".join(f"{name}={value:g}" for name, value in record["choice"].items())


def describe(record: dict[str, Any]) -> str:
    """One line: what `auto` chose, how, and what it spent."""
    return (
        f"auto chose {choice_text(record)} by successive halving on a validation split of "
        f"{record['validation_examples']} examples (ties go to the lower validation loss): "
        f"{len(record['trials'])} trials of {record['candidates']} candidates, "
        f"{record['used_epochs']} of a budget of {record['budget_epochs']} epochs"
    )
