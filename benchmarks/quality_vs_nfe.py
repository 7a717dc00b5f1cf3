"""Quality against NFE for ODE, SDE and Restart samplers, each at its best configuration per budget.

The Restart paper's Figure 1b on our own models:
  (a) ``exact``: the exact denoiser of the 5x5 Gaussian grid (pure discretization error);
  (b) ``mlp``: the toy MLP of configs/toy.yaml (trained now if no --ckpt and nothing cached);
  (c) ``digits``: the U-Net of configs/digits.yaml (see _digits.py; needs a checkpoint of it in
      --digits-ckpt, default benchmarks/.cache/digits.ckpt; skipped with the reason printed without one).
Samplers per budget B: Heun (N = (B+1)//2), DPM-Solver++(2M) (N = B), Euler-Maruyama (N = B),
EDM's SDE (N = (B+1)//2, churn tuned) and Restart (intervals tuned). Tuning is a small grid
search on seeds >= 1,000,000 (successive halving), disjoint from the evaluation blocks
[0, n), [n, 2n), [2n, 3n). ``--tune`` redoes it, writes benchmarks/toy_tuned.yaml and, from the
MLP's winners, the presets configs/samplers/restart_toy_nfe<NFE>.yaml; without ``--tune`` the
stored winners are used (and missing ones tuned).

Writes benchmarks/results/quality_vs_nfe.md (and _tuning.md with --tune), TensorBoard curves
under benchmarks/.cache/tb/<model> (tag <metric>/<sampler> and <metric>_best/<family>, step = NFE).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import (CACHE, REPO, ensure_toy_checkpoint, load_ema_denoiser, machine_info, mean_sd, set_threads,
                     write_result)
from _digits import digits_model
from _quality import (BenchModel, ToyScorer, baseline_configs, draw, nfe_of, restart_candidates, restart_churn_variants,
                      sde_candidates, sde_noise_variants, search)
from _report import claim_check, curves_to_tensorboard, quality_tables, tuning_report

import torch
import yaml

from restart_lightning.data.toy import grid_mixture
from restart_lightning.sampling import build_sampler

TUNED = REPO / "benchmarks" / "toy_tuned.yaml"
PRESETS = REPO / "configs" / "samplers"
DEFAULT_BUDGETS = (10, 20, 50, 100, 200, 500)
FAMILY = {"heun": "ode", "dpmpp_2m": "ode", "edm_sde": "sde", "euler_maruyama": "sde", "restart": "restart"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="toy MLP checkpoint (default: benchmarks/.cache/toy_mlp.ckpt, trained if missing)")
    p.add_argument("--models", default="exact,mlp,digits", help="comma list of exact, mlp, digits")
    p.add_argument("--budgets", default=",".join(map(str, DEFAULT_BUDGETS)), help="NFE budgets, comma list")
    p.add_argument("--blocks", type=int, default=3, help="evaluation seed blocks")
    p.add_argument("--n", type=int, default=2000, help="samples per block and sampler")
    p.add_argument("--tune", action="store_true",
                   help="only redo the searches: rewrite toy_tuned.yaml, the presets and the tuning report")
    p.add_argument("--tune-first", type=int, default=300, help="samples per candidate in the first search stage")
    p.add_argument("--tune-final", type=int, default=1500, help="samples per finalist in the second stage")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--digits-config", default=str(REPO / "configs" / "digits.yaml"))
    p.add_argument("--digits-ckpt", default=str(CACHE / "digits.ckpt"))
    p.add_argument("--digits-budgets", default="10,20,50", help="NFE budgets for the digits model")
    p.add_argument("--digits-n", type=int, default=300, help="samples per block for the digits model")
    return p.parse_args()


def toy_models(names: list[str], ckpt: str | None) -> list[BenchModel]:
    mixture = grid_mixture()
    scorer = ToyScorer(mixture)
    models = []
    if "exact" in names:
        models.append(BenchModel(
            "exact",
            "exact denoiser of the 5x5 Gaussian grid (std 0.05, spacing 1), float64: discretization error only",
            mixture.denoiser(), (2,), scorer, ("nll", "kl", "sw2"), "kl", model_dtype=torch.float64, real=scorer.real))
    if "mlp" in names:
        path = ensure_toy_checkpoint(ckpt)
        models.append(BenchModel(
            "mlp", f"toy MLP of configs/toy.yaml (EMA weights of {path.name}), float32",
            load_ema_denoiser(path), (2,), scorer, ("nll", "kl", "sw2"), "kl", real=scorer.real))
    return models


# ---------------------------------------------------------------------------------- tuning
def tune(model: BenchModel, budget: int, n_first: int, n_final: int) -> dict[str, Any]:
    started = time.perf_counter()
    restart, restart_rows = search(model, restart_candidates(budget), n_first, n_final, keep=4,
                                   widen=restart_churn_variants)
    sde, sde_rows = search(model, sde_candidates(budget), n_first, n_final, keep=2, widen=sde_noise_variants)
    print(f"  tuned {model.name} @ {budget} NFE in {time.perf_counter() - started:.0f} s: restart {restart} | "
          f"edm_sde {sde}", flush=True)
    return {"restart": restart, "edm_sde": sde, "rows": {"restart": restart_rows, "edm_sde": sde_rows}}


def load_tuned() -> dict[str, Any]:
    return yaml.safe_load(TUNED.read_text()) if TUNED.is_file() else {}


def save_tuned(tuned: dict[str, Any], args: argparse.Namespace) -> None:
    header = (
        "# Restart intervals and EDM-SDE churn tuned per model and NFE budget by benchmarks/quality_vs_nfe.py --tune.\n"
        f"# Objective: KL(q || p) (exact NLL minus kNN entropy), seeds from 1,000,000 (disjoint from evaluation);\n"
        f"# every grid point on {args.tune_first} samples, the best on {args.tune_final}.\n"
    )
    TUNED.write_text(header + yaml.safe_dump(tuned, sort_keys=False, default_flow_style=None))


def write_presets(winners: dict[int, dict[str, Any]]) -> list[Path]:
    """configs/samplers/restart_toy_nfe<NFE>.yaml from the MLP's Restart winners (old toy presets removed)."""
    for old in PRESETS.glob("restart_toy_nfe*.yaml"):
        old.unlink()
    paths = []
    for budget, config in sorted(winners.items()):
        n = config["num_steps"]
        [[n_restart, k, t_min, t_max]] = config["restart_intervals"]
        nfe, gamma = nfe_of(config), config.get("restart_gamma", 0.0)
        snapped = build_sampler(**config).plan().ops  # the sigma actually used for t_min
        jump = next(op for op in snapped if type(op).__name__ == "Noise")
        path = PRESETS / f"restart_toy_nfe{nfe}.yaml"
        path.write_text(
            "# Restart preset: 2-D toy grid (5x5 Gaussians, std 0.05, spacing 1; sigma_data 1.4), toy MLP of\n"
            f"# configs/toy.yaml; best of a grid search at a budget of {budget} NFE\n"
            "# (benchmarks/quality_vs_nfe.py --tune, objective KL(q || p), tuning seeds disjoint from evaluation;\n"
            "# see docs/benchmarks.md).\n"
            f"# NFE = (2N - 1) + sum 2 K (N_restart - 1) = (2*{n} - 1) + 2*{k}*({n_restart}-1) = {nfe}.\n"
            f"# t_min snaps to the main-schedule sigma {jump.sigma_from:.4g}. " + (
                "Pure algorithm: no restart churn.\n" if not gamma else
                f"Restart churn gamma {gamma} on [0.01, 1] (as the authors' scripts) won the search.\n")
            + f"name: restart\nnum_steps: {n}\nrestart_intervals:  # [N_restart, K, t_min, t_max]\n"
            f"  - [{n_restart}, {k}, {t_min}, {t_max}]\nS_noise: 1.0\nrestart_gamma: {float(gamma)}\n"
            + ("S_min: 0.01\nS_max: 1.0\n" if gamma else "")
        )
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------- evaluation
def evaluate(model: BenchModel, budgets: list[int], tuned: dict[int, Any], blocks: int, n: int) -> dict:
    """results[budget][sampler] = {"nfe": int, "config": dict, metric: [value per block]}; plus "data"."""
    results: dict[int, dict[str, Any]] = {}
    for budget in budgets:
        configs = {**baseline_configs(budget), "edm_sde": tuned[budget]["edm_sde"], "restart": tuned[budget]["restart"]}
        row: dict[str, Any] = {}
        for label, config in configs.items():
            sampler = build_sampler(**config)
            entry: dict[str, Any] = {"nfe": sampler.plan().nfe, "config": config, "seconds": 0.0}
            for b in range(blocks):
                started = time.perf_counter()
                scores = model.score(draw(model, sampler, range(b * n, (b + 1) * n)))
                entry["seconds"] += time.perf_counter() - started
                for metric, value in scores.items():
                    entry.setdefault(metric, []).append(value)
            row[label] = entry
        results[budget] = row
        print(f"  {model.name} @ {budget}: " + ", ".join(
            f"{k} {v['nfe']} NFE {model.objective} {mean_sd(v[model.objective])[0]:.3f}" for k, v in row.items()),
            flush=True)
    if model.real is not None:
        data: dict[str, Any] = {"nfe": 0}
        for b in range(blocks):
            for metric, value in model.score(model.real(n, b)).items():
                data.setdefault(metric, []).append(value)
        results[0] = {"data": data}
    return results


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    info = machine_info()
    started = time.perf_counter()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    budgets = [int(b) for b in args.budgets.split(",")]
    models = toy_models(names, args.ckpt)
    skipped = {}
    if "digits" in names:
        digits, why = digits_model(Path(args.digits_config), Path(args.digits_ckpt), args.digits_n)
        if digits is None:
            skipped["digits"] = why
            print(f"digits model {why}", flush=True)
        else:
            models.append(digits)

    tuned_all = load_tuned()
    tuning_sections, sections, claims = {}, [], []
    for model in models:
        model_budgets = [int(b) for b in args.digits_budgets.split(",")] if model.name == "digits" else budgets
        n = args.digits_n if model.name == "digits" else args.n
        stored = {int(k): v for k, v in (tuned_all.get(model.name) or {}).items()}
        for budget in model_budgets:
            if args.tune or budget not in stored:
                if not args.tune:
                    print(f"No tuned configuration for {model.name} @ {budget} NFE in {TUNED.name}: tuning it now.")
                outcome = tune(model, budget, args.tune_first, args.tune_final)
                stored[budget] = {"restart": outcome["restart"], "edm_sde": outcome["edm_sde"]}
                tuning_sections.setdefault(model.name, []).append(tuning_report(model, budget, outcome["rows"]))
        tuned_all[model.name] = {b: stored[b] for b in sorted(stored)}
        save_tuned(tuned_all, args)
        if model.name == "mlp" and (args.tune or not list(Path(PRESETS).glob("restart_toy_nfe*.yaml"))):
            paths = write_presets({b: stored[b]["restart"] for b in model_budgets})
            print("presets: " + ", ".join(str(p.relative_to(REPO)) for p in paths))
        if args.tune:
            continue
        print(f"Evaluating {model.name}: {len(model_budgets)} budgets x 5 samplers x {args.blocks} blocks of {n}",
              flush=True)
        results = evaluate(model, model_budgets, stored, args.blocks, n)
        curves_to_tensorboard(model, results, CACHE / "tb" / model.name, FAMILY)
        sections.append(quality_tables(model, results, args.blocks, n, FAMILY))
        claims.append(claim_check(model, results, FAMILY))

    seconds = time.perf_counter() - started
    for name, parts in tuning_sections.items():
        write_result(f"quality_vs_nfe_tuning_{name}", f"Tuning of Restart intervals and EDM-SDE churn, model {name}",
                     "\n\n".join(parts), info, seconds)
    if args.tune:
        return
    body = "\n\n".join(sections + claims)
    for name, why in skipped.items():
        body += f"\n\n## Model `{name}`\n\n{why}.\n"
    write_result("quality_vs_nfe", "Quality against NFE: ODE, SDE and Restart at their best per budget",
                 body, info, seconds)
    print(f"total {seconds / 60:.1f} min; TensorBoard: tensorboard --logdir {(CACHE / 'tb').relative_to(REPO)}")


if __name__ == "__main__":
    main()
