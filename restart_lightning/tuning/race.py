"""Successive halving over a family's search space, on optuna: a budget's search costs a few full evaluations.

Rung 0 scores ``candidates`` specs proposed by optuna's TPE sampler (each told its value, so later
proposals learn from earlier ones) on the first ``samples_per_rung[0]`` tuning seeds; the best
1 / ``reduction`` go on to the next rung's larger sample, and so on; the best at the last rung
wins, and is scored once more on disjoint seed blocks of the last rung's seeds for its spread.
At every rung all candidates use the same seeds (shared noise), and tuning seeds start at
``seed_start`` (10**9), far from the evaluation seeds 0..n-1.

Resuming: every finished evaluation is an optuna trial in ``storage`` (a JournalStorage file, an
RDB URL or a storage object): rung 0 in study ``<family>-nfe<budget>``, rung r in ``...-rung<r>``,
the blocks in ``...-blocks``. A rerun reads them back and evaluates only what is missing; a trial
left running by a killed process is marked failed and replaced.

Several processes (DDP): ``evaluate`` runs on all of them (each scores its share of the seeds, the
metric is synced), while the decisions and the storage live on the main process and reach the
others through ``broadcast`` (every process calls ``tune_family`` with the same arguments).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from restart_lightning.evaluation.uncertainty import Spread, summarize
from restart_lightning.tuning.spaces import ModelContext, Space, search_space, spec_key

TUNING_SEED_START = 10**9
DEFAULT_SAMPLES_PER_RUNG = (1000, 4000, 16000)
DEFAULT_REDUCTION = 4
DEFAULT_NUM_BLOCKS = 4

Evaluate = Callable[[dict[str, Any], range], float]


@dataclass
class TuneResult:
    """The winner ``best`` (a sampler spec), its ``value`` on ``samples`` seeds of the last rung, its
    ``nfe``, the value on ``num_blocks`` disjoint blocks of those seeds (``blocks``), and every
    evaluation as ``trials``: dicts of spec, nfe, rung, samples, value."""

    best: dict[str, Any]
    value: float
    nfe: int
    trials: list[dict[str, Any]]
    samples: int = 0
    seeds: tuple[int, int] = (0, 0)  # first and last tuning seed of the winner's value
    blocks: list[float] = field(default_factory=list)

    @property
    def spread(self) -> Spread | None:
        """Mean, std and 95% interval over the seed blocks (None without finite blocks)."""
        finite = [v for v in self.blocks if math.isfinite(v)]
        return summarize(finite) if len(finite) >= 2 else None


def import_optuna() -> Any:
    """optuna, or one line saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ImportError("tune needs optuna: pip install 'restart-lightning[tune]' (or pip install 'optuna>=4')"
                          ) from None
    return optuna


def check_rungs(samples_per_rung: Sequence[int], reduction: int, num_blocks: int) -> None:
    """ValueError naming the field, before anything is evaluated or written."""
    rungs = list(samples_per_rung)
    if not rungs or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in rungs):
        raise ValueError(f"samples_per_rung: {rungs!r} is invalid; allowed: a non-empty list of integers >= 2")
    if rungs != sorted(rungs):
        raise ValueError(f"samples_per_rung: {rungs!r} is invalid; allowed: non-decreasing sample counts")
    if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 2:
        raise ValueError(f"reduction: {reduction!r} is invalid; allowed: an integer >= 2")
    if num_blocks and (num_blocks < 2 or rungs[-1] // num_blocks < 2):
        raise ValueError(f"num_blocks: {num_blocks!r} is invalid; allowed: 0 (off) or an integer in "
                         f"[2, {rungs[-1] // 2}] (the last rung has {rungs[-1]} samples)")


def tune_family(
    family: str,
    budget: int,
    context: ModelContext,
    evaluate: Evaluate,
    *,
    samples_per_rung: Sequence[int] = DEFAULT_SAMPLES_PER_RUNG,
    seed_start: int = TUNING_SEED_START,
    storage: Any = None,
    progress: Callable[[str], None] | None = None,
    candidates: int | None = None,
    reduction: int = DEFAULT_REDUCTION,
    num_blocks: int = DEFAULT_NUM_BLOCKS,
    sampler_seed: int = 0,
    searches: int = 1,
    broadcast: Callable[[Any], Any] | None = None,
    is_main: bool = True,
) -> TuneResult:
    """Successive halving of ``family`` at ``budget`` NFE; ``evaluate(spec, seeds) -> value``, lower is better.

    ``candidates``: specs at rung 0 (default: the space's ``default_candidates``); ``reduction``: the
    share 1 / reduction of a rung goes on; ``storage``: where trials persist (see the module doc);
    ``progress``: called with one line per evaluation (main process); ``broadcast``/``is_main``: DDP.
    ``searches``: independent races (TPE seeds ``sampler_seed``, ``sampler_seed + 1``, ...); one race's
    winner varies a lot with its proposals, and since every race's last rung uses the same seeds, the
    races' winners are compared on shared noise and the best one is returned (``trials`` holds all).
    A candidate that diverges (``FloatingPointError``) scores +inf.
    """
    space = search_space(family, budget, context)
    check_rungs(samples_per_rung, reduction, num_blocks)
    count = space.default_candidates if candidates is None else candidates
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"candidates: {candidates!r} is invalid; allowed: an integer >= 1")
    if isinstance(searches, bool) or not isinstance(searches, int) or searches < 1:
        raise ValueError(f"searches: {searches!r} is invalid; allowed: an integer >= 1")
    race = None
    if is_main:
        optuna = import_optuna()
        storage = _storage(optuna, storage)
        race = _best_of_races(optuna, space, storage, list(samples_per_rung), seed_start, count, reduction,
                              num_blocks, sampler_seed, searches, progress or (lambda line: None))
    return _drive(race, evaluate, broadcast)


def _best_of_races(optuna: Any, space: Space, storage: Any, rungs: list[int], seed_start: int, count: int,
                   reduction: int, num_blocks: int, sampler_seed: int, searches: int,
                   progress: Callable[[str], None]) -> Generator:
    """``searches`` races one after another (each resumable in its own studies); the lowest last-rung value wins."""
    results = []
    for search in range(searches):
        # the first race keeps the plain study names, so a one-search journal stays readable
        suffix = f"-search{search}" if search else ""
        where = f" (search {search + 1}/{searches})" if searches > 1 else ""
        result = yield from _race(optuna, space, storage, rungs, seed_start, count, reduction, num_blocks,
                                  sampler_seed + search, progress, suffix, where)
        for row in result.trials:
            row["search"] = search
        results.append(result)
    best = min(results, key=lambda r: r.value)
    best.trials = [row for result in results for row in result.trials]
    return best


def _drive(race: Generator | None, evaluate: Evaluate, broadcast: Callable[[Any], Any] | None) -> TuneResult:
    """Run the race's tasks: the main process (``race`` not None) decides, every process evaluates."""
    share = broadcast or (lambda obj: obj)
    value = None
    while True:
        message = None
        if race is not None:
            try:
                message = ("task", race.send(value))
            except StopIteration as stop:
                message = ("done", stop.value)
        kind, payload = share(message)
        if kind == "done":
            return payload
        spec, seeds = payload
        value = _score(evaluate, spec, seeds)


def _score(evaluate: Evaluate, spec: dict[str, Any], seeds: range) -> float:
    try:
        value = float(evaluate(spec, seeds))
    except FloatingPointError:  # the sampler diverged on these seeds
        return math.inf
    return value if not math.isnan(value) else math.inf


def _storage(optuna: Any, storage: Any) -> Any:
    if storage is None:
        return optuna.storages.InMemoryStorage()
    if isinstance(storage, str) and "://" not in storage:  # a file path: an append-only journal
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage))
    return storage


def _race(optuna: Any, space: Space, storage: Any, rungs: list[int], seed_start: int, count: int,
          reduction: int, num_blocks: int, sampler_seed: int, progress: Callable[[str], None],
          suffix: str = "", search: str = "") -> Generator:
    """The search as a generator: yields (spec, seeds) to evaluate, receives the value, returns a TuneResult."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"{space.family}-nfe{space.budget}{suffix}"
    trials: list[dict[str, Any]] = []
    where = f"{space.family} @ {space.budget} NFE{search}"

    # Rung 0: optuna proposes, one evaluation per distinct spec.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=sampler_seed, multivariate=True, group=True,
                                             n_startup_trials=max(4, count // 3))
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, load_if_exists=True)
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)  # left by a killed run
    seeds = range(seed_start, seed_start + rungs[0])
    scored: dict[str, dict[str, Any]] = {}  # key -> {spec, nfe, value, params, distributions}
    for done in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        scored.setdefault(done.user_attrs["key"], _entry(done))
    attempts = 0
    while len(scored) < count and attempts < 20 * count:
        attempts += 1
        trial = study.ask()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            spec = space.suggest(trial)
        key = spec_key(spec)
        if key in scored:  # a duplicate (e.g. after t_min snapping): tell the known value, no evaluation
            value = scored[key]["value"]
        else:
            progress(f"{where}: rung 1/{len(rungs)}, candidate {len(scored) + 1}/{count} ({rungs[0]} samples)")
            value = yield spec, seeds
        for attr, attr_value in (("spec", spec), ("key", key), ("nfe", space.nfe(spec)),
                                 ("seeds", [seeds.start, seeds.stop])):
            trial.set_user_attr(attr, attr_value)
        study.tell(trial, value)
        scored.setdefault(key, {"spec": spec, "nfe": space.nfe(spec), "value": value,
                                "params": dict(trial.params), "distributions": dict(trial.distributions)})
    trials += [_row(e, 0, rungs[0]) for e in scored.values()]
    history = {(key, seeds.start, seeds.stop): e["value"] for key, e in scored.items()}  # (key, seeds) -> value

    # Later rungs: the best 1 / reduction, on more samples (the same seeds for all).
    for rung, samples in enumerate(rungs[1:], start=1):
        keep = max(1, math.ceil(len(scored) / reduction))
        survivors = sorted(scored.values(), key=lambda e: e["value"])[:keep]
        seeds = range(seed_start, seed_start + samples)
        later = optuna.create_study(study_name=f"{name}-rung{rung}", storage=storage, load_if_exists=True)
        history.update(_history(later))
        scored = {}
        for i, entry in enumerate(survivors):
            key = spec_key(entry["spec"])
            if (key, seeds.start, seeds.stop) in history:
                value = history[(key, seeds.start, seeds.stop)]
            else:
                progress(f"{where}: rung {rung + 1}/{len(rungs)}, candidate {i + 1}/{keep} ({samples} samples)")
                value = yield entry["spec"], seeds
                later.add_trial(_frozen(optuna, entry, value, rung, seeds))
                history[(key, seeds.start, seeds.stop)] = value
            scored[key] = {**entry, "value": value}
        trials += [_row(e, rung, samples) for e in scored.values()]

    best = min(scored.values(), key=lambda e: e["value"])
    blocks: list[float] = []
    if num_blocks:
        size = rungs[-1] // num_blocks
        block_study = optuna.create_study(study_name=f"{name}-blocks", storage=storage, load_if_exists=True)
        history.update(_history(block_study))
        key = spec_key(best["spec"])
        for b in range(num_blocks):
            block = range(seed_start + b * size, seed_start + (b + 1) * size)
            if (key, block.start, block.stop) in history:  # e.g. block 0 = the seeds of an earlier rung
                value = history[(key, block.start, block.stop)]
            else:
                progress(f"{where}: the winner on seed block {b + 1}/{num_blocks} ({size} samples)")
                value = yield best["spec"], block
                block_study.add_trial(_frozen(optuna, best, value, len(rungs), block, block=b))
            blocks.append(value)
    return TuneResult(best["spec"], best["value"], best["nfe"], trials, rungs[-1],
                      (seed_start, seed_start + rungs[-1] - 1), blocks)


def _entry(trial: Any) -> dict[str, Any]:
    attrs = trial.user_attrs
    return {"spec": attrs["spec"], "nfe": attrs["nfe"], "value": trial.value, "params": dict(trial.params),
            "distributions": dict(trial.distributions)}


def _row(entry: dict[str, Any], rung: int, samples: int) -> dict[str, Any]:
    return {"spec": entry["spec"], "nfe": entry["nfe"], "rung": rung, "samples": samples, "value": entry["value"]}


def _history(study: Any) -> dict[tuple[str, int, int], float]:
    """(spec key, first seed, stop seed) -> value of a study's finished evaluations."""
    return {(t.user_attrs["key"], *t.user_attrs["seeds"]): t.value for t in study.get_trials(deepcopy=False)
            if t.value is not None}


def _frozen(optuna: Any, entry: dict[str, Any], value: float, rung: int, seeds: range, **extra: Any) -> Any:
    """A finished trial holding one later-rung (or block) evaluation of ``entry``."""
    attrs = {"spec": entry["spec"], "key": spec_key(entry["spec"]), "nfe": entry["nfe"], "rung": rung,
             "seeds": [seeds.start, seeds.stop], **extra}
    return optuna.trial.create_trial(params=entry["params"], distributions=entry["distributions"], value=value,
                                     user_attrs=attrs)
