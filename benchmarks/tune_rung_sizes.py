"""How many samples a successive-halving rung needs before the KL can rank candidates (toy MLP).

Draws ``--candidates`` specs at random from ``tune``'s search space of a family at a budget
(restart_lightning.tuning.spaces; optuna RandomSampler, seed 0), and scores every one of them
with KL(q || p) (exact NLL - kNN entropy) on two disjoint tuning seed sets A and B at each sample
count n, and on a reference set R of ``--reference`` samples. Per n it reports
- Spearman and Kendall correlation between the rankings on A and on B (the ranking's stability),
- Spearman between A and R (how well a rung of n samples predicts the ranking on many more),
- regret: the reference KL of the best candidate among the top quarter on A, minus the best
  reference KL (what a rung that keeps a quarter loses).
Writes benchmarks/results/tune_rung_sizes.md. Seeds: A from 10**9, B from 10**9 + 10**7,
R from 10**9 + 2 * 10**7 (all disjoint from the evaluation seeds 0..n).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import optuna
from _common import ensure_toy_checkpoint, load_ema_denoiser, machine_info, markdown_table, set_threads, write_result
from scipy.stats import kendalltau, spearmanr

from restart_lightning.data.toy import grid_mixture
from restart_lightning.evaluation.generation import generate_batches
from restart_lightning.metrics import KLDivergence
from restart_lightning.sampling import build_sampler
from restart_lightning.tuning.spaces import search_space
from restart_lightning.tuning.tune import model_context

SEED_A, SEED_B, SEED_R = 10**9, 10**9 + 10**7, 10**9 + 2 * 10**7


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="toy MLP checkpoint (default: benchmarks/.cache/toy_mlp.ckpt, trained if missing)")
    p.add_argument("--family", default="restart")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--band", default="0.05,0.3", help="the error band of the space (low,high)")
    p.add_argument("--candidates", type=int, default=16)
    p.add_argument("--counts", default="300,1000,2000,4000")
    p.add_argument("--reference", type=int, default=16000)
    p.add_argument("--journal", help="take the candidates from a tune run's journal (DIR/tune.journal) instead")
    p.add_argument("--study", help="the journal's study, e.g. restart-nfe100-rung1 (the candidates of rung 2)")
    p.add_argument("--name", default="tune_rung_sizes", help="result file name (benchmarks/results/<name>.md)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def kl_of(denoiser, mixture, spec, seeds: range) -> float:
    metric = KLDivergence(mixture.log_prob)
    try:
        for batch in generate_batches(build_sampler(**spec), denoiser, seeds, shape=(2,), batch_size=16000,
                                      device="cpu"):
            metric.update(batch.samples)
    except FloatingPointError:
        return math.inf
    return float(metric.compute())


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    started = time.perf_counter()
    denoiser = load_ema_denoiser(ensure_toy_checkpoint(args.ckpt))
    mixture = grid_mixture()
    band = tuple(float(v) for v in args.band.split(","))
    space = search_space(args.family, args.budget, model_context(denoiser, band))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    specs = []
    if args.journal:  # the candidates a rung of a real tune run compared
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(args.journal))
        for trial in optuna.load_study(study_name=args.study, storage=storage).get_trials():
            if trial.value is not None and trial.user_attrs["spec"] not in specs:
                specs.append(trial.user_attrs["spec"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    while len(specs) < args.candidates:
        trial = study.ask()
        spec = space.suggest(trial)
        study.tell(trial, 0.0)
        if spec not in specs:
            specs.append(spec)
    counts = [int(c) for c in args.counts.split(",")]
    reference = []
    for i, spec in enumerate(specs):
        reference.append(kl_of(denoiser, mixture, spec, range(SEED_R, SEED_R + args.reference)))
        print(f"reference {i + 1}/{len(specs)}: KL {reference[-1]:.4g} at {space.nfe(spec)} NFE", flush=True)
    best_reference = min(reference)
    best_half = sorted(range(len(specs)), key=lambda i: reference[i])[: max(3, len(specs) // 2)]
    rows = []
    for n in counts:
        a = [kl_of(denoiser, mixture, s, range(SEED_A, SEED_A + n)) for s in specs]
        b = [kl_of(denoiser, mixture, s, range(SEED_B, SEED_B + n)) for s in specs]
        keep = max(1, math.ceil(len(specs) / 4))
        top_a = sorted(range(len(specs)), key=lambda i: a[i])[:keep]
        regret = min(reference[i] for i in top_a) - best_reference
        half_a, half_b = [a[i] for i in best_half], [b[i] for i in best_half]
        rows.append([n, f"{spearmanr(a, b).statistic:.3f}", f"{kendalltau(a, b).statistic:.3f}",
                     f"{spearmanr(a, reference).statistic:.3f}", f"{spearmanr(half_a, half_b).statistic:.3f}",
                     f"{regret:.4f}"])
        print(json.dumps({"n": n, "a": a, "b": b}), flush=True)
        print(rows[-1], flush=True)
    spread = sorted(reference)
    body = (
        f"{args.family} at {args.budget} NFE, {len(specs)} candidates "
        + (f"of the tune run's study {args.study}" if args.journal else
           f"drawn at random from `tune`'s space (band {band[0]}..{band[1]})")
        + f"; KL(q||p) of the toy MLP (configs/toy.yaml). Reference: {args.reference} "
        f"samples; reference KL of the candidates from {spread[0]:.4g} to {spread[-1]:.4g} "
        f"(median {spread[len(spread) // 2]:.4g}).\n\n"
        + markdown_table(["samples n", "Spearman A-B", "Kendall A-B", "Spearman A-reference",
                          f"Spearman A-B, best {len(best_half)} by reference",
                          "regret of keeping the top quarter of A"], rows)
        + f"\n\nReference KL per candidate: {', '.join(f'{v:.4g}' for v in reference)}\n"
    )
    write_result(args.name, "Ranking stability of the KL at successive-halving rung sizes", body,
                 machine_info(), time.perf_counter() - started)


if __name__ == "__main__":
    main()
