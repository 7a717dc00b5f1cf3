"""Quality against NFE: every sampler family tuned by ``tune_family`` per budget, then judged on seed blocks.

Models:
  (a) ``exact``: the exact denoiser of the 5x5 Gaussian grid, float64 (pure discretization error);
  (b) ``mlp``: the toy MLP of configs/toy.yaml (--ckpt; trained now if none is given and none is cached);
  (c) ``digits``: the U-Net of configs/digits.yaml (--digits-ckpt; skipped with the reason printed without one).
Per model and budget B, every family in --families (heun, dpmpp_2m, edm_sde, euler_maruyama, restart)
is tuned by restart_lightning.tuning.tune_family on the model's objective (KL for the toy models,
the Frechet distance for digits), in a search space derived from the model (its sigma range,
sigma_data and the error band of its diagnostic), on seeds from 10**9. Each winner is then
evaluated on --blocks disjoint blocks of --n samples (seeds 0..blocks*n-1), with the Restart preset
shipped before the tuner beside it (`restart (before)`, from benchmarks/before_tuner.yaml).

Every score is cached under benchmarks/.cache/quality_vs_nfe/ (one line per scored seed range, and
the tuner's own storage), so a killed run resumes; ``--retune`` ignores the stored winners.
Writes benchmarks/results/quality_vs_nfe.md (tables, paired verdicts, before/after) and
quality_vs_nfe_tuning_<model>.md, the winners to benchmarks/tuned.yaml, the MLP's (and digits')
Restart winners to configs/samplers/restart_{toy,digits}_nfe<NFE>.yaml, and TensorBoard curves
under benchmarks/.cache/tb/<model> (tag <metric>/<sampler>, step = NFE).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import yaml
from _common import CACHE, REPO, ensure_toy_checkpoint, load_ema_denoiser, machine_info, set_threads, write_result
from _digits import digits_model
from _quality import FAMILIES, BenchModel, ScoreCache, ToyScorer, nfe_of, objective_evaluator, score_blocks
from _report import (
    before_after,
    claim_check,
    curves_to_tensorboard,
    describe,
    quality_table,
    spread,
    summary_table,
    tuning_report,
)

from restart_lightning.data.toy import grid_mixture
from restart_lightning.tuning.race import tune_family
from restart_lightning.tuning.spaces import ModelContext

BEFORE = REPO / "benchmarks" / "before_tuner.yaml"
TUNED = REPO / "benchmarks" / "tuned.yaml"
PRESETS = REPO / "configs" / "samplers"
STORE = CACHE / "quality_vs_nfe"
MODEL_ORDER = ("exact", "mlp", "digits")
PRESET_PREFIX = {"mlp": "restart_toy", "digits": "restart_digits"}
DATA_DESCRIPTION = {
    "mlp": "2-D toy grid (5x5 Gaussians, std 0.05, spacing 1; sigma_data 1.4), toy MLP of configs/toy.yaml",
    "digits": "8x8 digits, class-conditional U-Net of configs/digits.yaml (sigma_data 0.5)",
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="toy MLP checkpoint (default: benchmarks/.cache/toy_mlp.ckpt, trained if missing)")
    p.add_argument("--models", default="exact,mlp,digits", help="comma list of exact, mlp, digits")
    p.add_argument("--budgets", default="10,20,50,100,200,500", help="NFE budgets of the toy models, comma list")
    p.add_argument("--families", default=",".join(FAMILIES), help="sampler families to tune, comma list")
    p.add_argument("--blocks", type=int, default=3, help="evaluation seed blocks (at least 2)")
    p.add_argument("--n", type=int, default=10_000, help="samples per evaluation block (toy models)")
    p.add_argument("--rungs", default="1000,4000,16000", help="tuner's samples per rung (toy models)")
    p.add_argument("--digits-config", default=str(REPO / "configs" / "digits.yaml"))
    p.add_argument("--digits-ckpt", default=str(CACHE / "digits.ckpt"))
    p.add_argument("--digits-budgets", default="10,20,50", help="NFE budgets of the digits model")
    p.add_argument("--digits-n", type=int, default=500, help="samples per evaluation block (digits)")
    p.add_argument("--digits-rungs", default="250,1000", help="tuner's samples per rung (digits)")
    p.add_argument("--restart-searches", type=int, default=1,
                   help="independent Restart races per budget, best winner on the last rung's shared seeds")
    p.add_argument("--restart-candidates", type=int, default=None,
                   help="Restart candidates at the tuner's first rung (default: the space's own, 48)")
    p.add_argument("--no-before", action="store_true", help="skip the presets shipped before the tuner")
    p.add_argument("--retune", action="store_true", help="tune again even where benchmarks/tuned.yaml has a winner")
    p.add_argument("--no-presets", action="store_true", help="do not rewrite configs/samplers presets")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite the reports from the saved states under benchmarks/.cache/quality_vs_nfe")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args()
    for name in ("budgets", "digits_budgets", "rungs", "digits_rungs"):
        text = getattr(args, name)
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            p.error(f"--{name.replace('_', '-')}: {text!r} is not a comma list of integers")
        if not values or min(values) < 1:
            p.error(f"--{name.replace('_', '-')}: {text!r}; allowed: positive integers")
        setattr(args, name, values)
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    bad = [f for f in args.families if f not in FAMILIES]
    if bad:
        p.error(f"--families: {bad[0]!r} is unknown; allowed: {', '.join(FAMILIES)}")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in ("exact", "mlp", "digits")]
    if bad:
        p.error(f"--models: {bad[0]!r} is unknown; allowed: exact, mlp, digits")
    if args.blocks < 2:
        p.error(f"--blocks: {args.blocks}; allowed: >= 2 (a spread needs two blocks)")
    return args


# ---------------------------------------------------------------------------------- models
def toy_band(denoiser: Any, mixture: Any) -> tuple[float, float] | None:
    """Error band of the MLP from its diagnostic (restart_lightning.tuning, issue 11a): where the excess loss lives."""
    from restart_lightning.losses import build_loss
    from restart_lightning.tuning.error_profile import default_sigma_grid, measure_error_profile  # issue 11a

    data = mixture.sample(4096, torch.Generator().manual_seed(2024))  # held-out: not the evaluation seeds
    profile = measure_error_profile(denoiser, build_loss("edm", sigma_data=1.4).weight, data,
                                    sigmas=default_sigma_grid(0.002, 80.0), exact=mixture.denoiser())
    return tuple(profile.error_band())


def toy_models(names: list[str], ckpt: str | None) -> list[BenchModel]:
    mixture = grid_mixture()
    scorer = ToyScorer(mixture)
    models = []
    if "exact" in names:
        # The exact denoiser has no approximation error: no band, the space's defaults.
        models.append(BenchModel(
            "exact",
            "exact denoiser of the 5x5 Gaussian grid (std 0.05, spacing 1), float64: discretization error only",
            mixture.denoiser(), (2,), scorer, ("kl", "sw2", "nll"), "kl",
            context=ModelContext(sigma_min=0.002, sigma_max=80.0, sigma_data=1.4, band=None),
            objective_only=scorer.kl, model_dtype=torch.float64, real=scorer.real))
    if "mlp" in names:
        path = ensure_toy_checkpoint(ckpt)
        denoiser = load_ema_denoiser(path)
        band = toy_band(denoiser, mixture)
        print(f"toy MLP error band (diagnostic): sigma {band[0]:.4g} .. {band[1]:.4g}", flush=True)
        models.append(BenchModel(
            "mlp", f"toy MLP of configs/toy.yaml (EMA weights of {path.name}), float32; error band of its "
                   f"diagnostic sigma {band[0]:.3g}..{band[1]:.3g}",
            denoiser, (2,), scorer, ("kl", "sw2", "nll"), "kl",
            context=ModelContext(sigma_min=0.002, sigma_max=80.0, sigma_data=1.4, band=band),
            objective_only=scorer.kl, real=scorer.real))
    return models


# ---------------------------------------------------------------------------------- tuning
def load_tuned() -> dict[str, Any]:
    return (yaml.safe_load(TUNED.read_text()) or {}) if TUNED.is_file() else {}


def save_tuned(model: str, budget: int, family: str, spec: dict[str, Any]) -> None:
    """One winner into benchmarks/tuned.yaml, merged with what is on disk (runs in parallel compose)."""
    tuned = load_tuned()
    tuned.setdefault(model, {}).setdefault(budget, {})[family] = spec
    tuned = {m: {b: tuned[m][b] for b in sorted(tuned[m])} for m in MODEL_ORDER if m in tuned}
    header = ("# Winners of restart_lightning.tuning.tune_family per model, NFE budget and family, written by\n"
              "# benchmarks/quality_vs_nfe.py (objective: KL for the toy models, Frechet distance for digits;\n"
              "# tuning seeds from 10**9, disjoint from the evaluation blocks). Rerun with --retune to redo them.\n")
    temporary = TUNED.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(header + yaml.safe_dump(tuned, sort_keys=False, default_flow_style=None))
    temporary.replace(TUNED)


def tuned_outcome(model: BenchModel, family: str, budget: int, rungs: tuple[int, ...], cache: ScoreCache,
                  retune: bool, candidates: int | None = None, searches: int = 1) -> dict[str, Any]:
    """best / value / nfe / trials / seconds of ``family`` at ``budget``: from the cache, else from tune_family."""
    folder = STORE / model.name / "tune"
    wide = (f"_c{candidates}" if candidates else "") + (f"_s{searches}" if searches > 1 else "")
    path = folder / f"{family}_{budget}_{'-'.join(map(str, rungs))}{wide}.json"
    if path.is_file() and not retune:
        return json.loads(path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = tune_family(family, budget, model.context, objective_evaluator(model, cache),
                         samples_per_rung=rungs, storage=str(path.with_suffix(".storage")), candidates=candidates,
                         searches=searches,
                         progress=lambda text: print(f"    {model.name} {family} @ {budget}: {text}", flush=True))
    outcome = {"best": dict(result.best), "value": float(result.value), "nfe": int(result.nfe),
               "trials": [dict(t) for t in result.trials], "samples": int(result.samples),
               "blocks": [float(v) for v in result.blocks], "seconds": time.perf_counter() - started}
    path.write_text(json.dumps(outcome, default=str))
    print(f"  tuned {model.name} {family} @ {budget} NFE in {outcome['seconds']:.0f} s: {describe(outcome['best'])} "
          f"({outcome['nfe']} NFE), {model.objective} {outcome['value']:.4f}", flush=True)
    return outcome


# ---------------------------------------------------------------------------------- presets
def write_preset(model: BenchModel, budget: int, entry: dict[str, Any], rungs: tuple[int, ...], blocks: int,
                 n: int, old_nfe: int | None, searches: int = 1) -> Path:
    """configs/samplers/<prefix>_nfe<NFE>.yaml from the Restart winner; the old preset of this budget removed."""
    prefix = PRESET_PREFIX[model.name]
    if old_nfe is not None:
        (PRESETS / f"{prefix}_nfe{old_nfe}.yaml").unlink(missing_ok=True)
    s = spread(entry[model.objective])
    value = f"{s.mean:.4f} ± {s.half_width:.4f} (95% t-interval)" if s else "diverged"
    spec = entry["spec"]
    path = PRESETS / f"{prefix}_nfe{entry['nfe']}.yaml"
    how = f";\n# best of {searches} independent searches on the last rung's shared seeds.\n" if searches > 1 else ".\n"
    path.write_text(
        f"# Restart preset: {DATA_DESCRIPTION[model.name]}.\n"
        f"# Found by restart_lightning.tuning.tune_family('restart', budget={budget}) in\n"
        "# benchmarks/quality_vs_nfe.py; search space derived from the model\n"
        f"# ({model.context}),\n# successive halving on"
        f" {', '.join(f'{r:,}' for r in rungs)} samples per rung (seeds from 10**9), objective {model.objective}"
        + how
        + f"# Evaluated on {blocks} disjoint blocks of {n:,} samples (seeds 0..{blocks * n - 1:,}): "
        f"{model.objective} {value}; {entry['nfe']} NFE.\n"
        "# Full tables and the other families: benchmarks/results/quality_vs_nfe.md.\n"
        + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)
    )
    return path


# ---------------------------------------------------------------------------------- reports
def save_state(model: BenchModel, results: dict, tuning: dict, rungs: tuple[int, ...], n: int, blocks: int) -> None:
    """What the reports need, per model, in STORE/<model>/report.json, merged per budget with what is there:
    separate runs (other models, other budgets) compose into one report."""
    path = STORE / model.name / "report.json"
    state = json.loads(path.read_text()) if path.is_file() else {"results": {}, "tuning": {}, "rungs": {}}
    if state.get("n") not in (None, n) or state.get("blocks") not in (None, blocks):
        state = {"results": {}, "tuning": {}, "rungs": {}}  # another block layout: start over
    state.update(name=model.name, description=model.description, metrics=list(model.metrics),
                 objective=model.objective, n=n, blocks=blocks)
    state["results"].update({str(k): v for k, v in results.items()})
    state["tuning"].update({str(k): v for k, v in tuning.items()})
    state["rungs"].update({str(k): list(rungs) for k in tuning})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(state, default=str))
    temporary.replace(path)  # atomic: a reader never sees half a file


def load_states() -> list[dict[str, Any]]:
    states = []
    for name in MODEL_ORDER:
        path = STORE / name / "report.json"
        if path.is_file():
            state = json.loads(path.read_text())
            state["results"] = {(int(k) if k.isdigit() else k): v for k, v in state["results"].items()}
            state["tuning"] = {int(k): v for k, v in state["tuning"].items()}
            state["rungs"] = {int(k): tuple(v) for k, v in state["rungs"].items()}
            states.append(state)
    return states


def write_reports(info: dict[str, str], seconds: float, skipped: dict[str, str]) -> None:
    """benchmarks/results/quality_vs_nfe.md from every model's saved state, and each model's tuning report."""
    sections = []
    for state in load_states():
        model = SimpleNamespace(name=state["name"], description=state["description"],
                                metrics=tuple(state["metrics"]), objective=state["objective"])
        results = state["results"]
        sections.append("\n\n".join(part for part in (
            quality_table(model, results, state["blocks"], state["n"]), summary_table(model, results),
            claim_check(model, results),
            before_after(model, results)) if part))
        write_result(f"quality_vs_nfe_tuning_{model.name}", f"Tuning per family and budget, model {model.name}",
                     tuning_report(model, state["tuning"], state["rungs"]), info, seconds)
    body = ("Assembled from every model's saved state (benchmarks/.cache/quality_vs_nfe/<model>/report.json), "
            "which the runs of each model and budget (possibly separate commands) merge into; the command above "
            "is the last one that wrote this file.\n\n" + "\n\n".join(sections))
    for name, why in skipped.items():
        body += f"\n\n## Model `{name}`\n\n{why}.\n"
    write_result("quality_vs_nfe", "Quality against NFE: every family tuned per budget, verdicts over seed blocks",
                 body, info, seconds)


# ---------------------------------------------------------------------------------- main
def old_label(name: str, budget: int, nfe: int) -> str:
    prefix = PRESET_PREFIX.get(name)
    return f"{prefix}_nfe{nfe}" if name == "mlp" else f"old grid winner @ {budget}"


def old_spec(name: str, budget: int) -> dict[str, Any] | None:
    before = yaml.safe_load(BEFORE.read_text()) if BEFORE.is_file() else {}
    return ((before.get(name) or {}).get(budget) or {}).get("restart")


def run_model(model: BenchModel, budgets: list[int], rungs: tuple[int, ...], n: int, args: argparse.Namespace,
              tuned_all: dict[str, Any], cache: ScoreCache, report: Any) -> None:
    blocks = [range(b * n, (b + 1) * n) for b in range(args.blocks)]
    stored = tuned_all.setdefault(model.name, {})
    results: dict[Any, Any] = {}
    tuning: dict[int, dict[str, Any]] = {}
    if model.real is not None:
        data: dict[str, list[float]] = {}
        for b in range(args.blocks):
            for metric, value in model.score(model.real(n, b)).items():
                data.setdefault(metric, []).append(value)
        results["data"] = data
    for budget in budgets:
        row: dict[str, Any] = {}
        for family in args.families:
            candidates = args.restart_candidates if family == "restart" else None
            searches = args.restart_searches if family == "restart" else 1
            outcome = tuned_outcome(model, family, budget, rungs, cache, args.retune or family not in
                                    (stored.get(budget) or {}), candidates, searches)
            outcome["candidates"], outcome["searches"] = candidates, searches
            tuning.setdefault(budget, {})[family] = outcome
            stored.setdefault(budget, {})[family] = outcome["best"]
            save_tuned(model.name, budget, family, outcome["best"])
            started = time.perf_counter()
            scores = score_blocks(model, outcome["best"], blocks, cache)
            entry = {"spec": outcome["best"], "nfe": outcome["nfe"], **scores}
            row[family] = entry
            print(f"  {model.name} @ {budget} {family} ({entry['nfe']} NFE): " + ", ".join(
                f"{m} {spread(entry[m]).mean:.4f}" if spread(entry[m]) else f"{m} diverged" for m in model.metrics)
                + f"  [{time.perf_counter() - started:.0f} s]", flush=True)
        old = old_spec(model.name, budget)
        if old is not None and not args.no_before and "restart" in args.families:
            nfe = nfe_of(old)
            row["restart (before)"] = {"spec": old, "nfe": nfe, "preset": old_label(model.name, budget, nfe),
                                       **score_blocks(model, old, blocks, cache)}
        results[budget] = row
        if model.name in PRESET_PREFIX and "restart" in row and not args.no_presets:
            old_nfe = row["restart (before)"]["nfe"] if "restart (before)" in row else None
            path = write_preset(model, budget, row["restart"], rungs, args.blocks, n, old_nfe, args.restart_searches)
            print(f"  preset {path.relative_to(REPO)}", flush=True)
        report(model, results, tuning, rungs, n)  # after every budget: a kill keeps what is done


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    info = machine_info()
    started = time.perf_counter()
    if args.report_only:
        write_reports(info, 0.0, {})
        return
    models = toy_models(args.models, args.ckpt)
    skipped = {}
    if "digits" in args.models:
        digits, why = digits_model(Path(args.digits_config), Path(args.digits_ckpt), args.digits_n)
        if digits is None:
            skipped["digits"] = why
            print(f"digits model {why}", flush=True)
        else:
            models.append(digits)
    tuned_all = load_tuned()
    tuned_all = {m: {int(b): v for b, v in (budgets or {}).items()} for m, budgets in tuned_all.items()}
    def report(model: BenchModel, results: dict, tuning: dict, rungs: tuple[int, ...], n: int) -> None:
        save_state(model, results, tuning, rungs, n, args.blocks)
        write_reports(info, time.perf_counter() - started, skipped)
        curves_to_tensorboard(model, results, CACHE / "tb" / model.name)

    for model in models:
        digits = model.name == "digits"
        cache = ScoreCache(STORE / model.name / "scores.jsonl")
        run_model(model, args.digits_budgets if digits else args.budgets,
                  tuple(args.digits_rungs if digits else args.rungs), args.digits_n if digits else args.n,
                  args, tuned_all, cache, report)
    print(f"total {(time.perf_counter() - started) / 60:.1f} min; TensorBoard: tensorboard --logdir "
          f"{(CACHE / 'tb').relative_to(REPO)}")


if __name__ == "__main__":
    main()
