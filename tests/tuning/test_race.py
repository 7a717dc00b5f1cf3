"""Successive halving: finds a known optimum, shares seeds per rung, resumes after a kill, runs under 'DDP'."""

import math
import threading

import pytest

from restart_lightning.tuning.race import TUNING_SEED_START, tune_family
from restart_lightning.tuning.spaces import ModelContext

TOY = ModelContext(sigma_min=0.002, sigma_max=80.0, sigma_data=1.4, band=(0.05, 0.3))
RUNGS = (100, 400, 1600)


def rho_bowl(spec, seeds):
    return (spec["rho"] - 5.0) ** 2


def restart_bowl(spec, seeds):
    """Best: one interval from t_min 0.01 to t_max 0.1 (a known function of the options)."""
    n_restart, k, t_min, t_max = spec["restart_intervals"][0]
    return abs(math.log(t_max / 0.1)) + abs(math.log(t_min / 0.01)) + 0.1 * (len(spec["restart_intervals"]) - 1)


def test_finds_a_known_optimum_of_one_option():
    result = tune_family("heun", 50, TOY, rho_bowl, candidates=16, samples_per_rung=RUNGS)
    assert result.best["rho"] == pytest.approx(5.0, abs=0.5)
    assert result.nfe == 49 and result.value == rho_bowl(result.best, None)


def test_finds_a_known_optimum_of_restart_intervals():
    result = tune_family("restart", 100, TOY, restart_bowl, samples_per_rung=RUNGS)
    n_restart, k, t_min, t_max = result.best["restart_intervals"][0]
    assert 0.05 < t_max < 0.2 and 0.004 < t_min < 0.025
    assert result.nfe <= 100


def test_rungs_share_seeds_from_the_tuning_start_and_cost_a_few_full_evaluations():
    calls = []

    def evaluate(spec, seeds):
        calls.append(seeds)
        return rho_bowl(spec, seeds)

    result = tune_family("heun", 50, TOY, evaluate, candidates=16, samples_per_rung=RUNGS, num_blocks=4)
    rung_calls = calls[:16 + 4 + 1]  # 16 candidates, 4 survivors, 1 finalist, then the winner's blocks
    assert rung_calls == [range(TUNING_SEED_START, TUNING_SEED_START + n) for n in [100] * 16 + [400] * 4 + [1600]]
    # the winner on 4 disjoint blocks of the last rung's seeds; block 0 (= rung 2's seeds) is reused
    assert calls[21:] == [range(TUNING_SEED_START + 400 * b, TUNING_SEED_START + 400 * (b + 1)) for b in (1, 2, 3)]
    assert sum(len(s) for s in calls) <= 4 * RUNGS[-1]  # a few times one evaluation at the last rung
    assert result.spread is not None and result.samples == 1600
    assert {t["rung"] for t in result.trials} == {0, 1, 2}


def test_several_searches_keep_the_best_winner_on_shared_last_rung_seeds(tmp_path):
    """Independent races (other TPE seeds) end on the same last-rung seeds; the lowest winner is returned."""
    last_rung = []

    def evaluate(spec, seeds):
        if len(seeds) == RUNGS[-1]:
            last_rung.append((seeds, rho_bowl(spec, seeds)))
        return rho_bowl(spec, seeds)

    storage = str(tmp_path / "tune.journal")
    result = tune_family("heun", 50, TOY, evaluate, candidates=6, samples_per_rung=RUNGS, num_blocks=0,
                         searches=3, storage=storage)
    finals = [value for _, value in last_rung]
    assert len(finals) == 3 and {seeds for seeds, _ in last_rung} == {range(TUNING_SEED_START,
                                                                             TUNING_SEED_START + RUNGS[-1])}
    assert result.value == min(finals) == rho_bowl(result.best, None)
    assert {t["search"] for t in result.trials} == {0, 1, 2} and len(result.trials) == 3 * (6 + 2 + 1)
    # a rerun reads the three races back from the journal: nothing is evaluated again
    again = tune_family("heun", 50, TOY, lambda spec, seeds: pytest.fail("evaluated again"), candidates=6,
                        samples_per_rung=RUNGS, num_blocks=0, searches=3, storage=storage)
    assert again.best == result.best and again.value == result.value
    with pytest.raises(ValueError, match="searches: 0 is invalid"):
        tune_family("heun", 50, TOY, evaluate, searches=0)


class Killed(Exception):
    pass


def test_a_killed_run_resumes_without_redoing_finished_work(tmp_path):
    storage = str(tmp_path / "tune.journal")
    done = []

    def dies_after(limit):
        def evaluate(spec, seeds):
            if len(done) == limit:
                raise Killed()
            done.append((spec["rho"], seeds.start, seeds.stop))
            return rho_bowl(spec, seeds)

        return evaluate

    with pytest.raises(Killed):
        tune_family("heun", 50, TOY, dies_after(10), candidates=16, samples_per_rung=RUNGS, storage=storage)
    first = list(done)
    resumed = tune_family("heun", 50, TOY, dies_after(10**6), candidates=16, samples_per_rung=RUNGS,
                          storage=storage)
    assert len(set(done)) == len(done)  # nothing evaluated twice
    assert len(done) == 16 + 4 + 1 + 3  # the whole race, counted once over both runs
    assert done[:10] == first
    again = tune_family("heun", 50, TOY, dies_after(0), candidates=16, samples_per_rung=RUNGS, storage=storage)
    assert again.best == resumed.best and again.value == resumed.value  # finished: nothing left to evaluate


def test_a_diverging_candidate_scores_inf():
    def evaluate(spec, seeds):
        if spec["rho"] < 4:
            raise FloatingPointError("non-finite state")
        return rho_bowl(spec, seeds)

    result = tune_family("heun", 20, TOY, evaluate, candidates=12, samples_per_rung=RUNGS)
    assert any(t["value"] == math.inf for t in result.trials) and math.isfinite(result.value)


def test_processes_follow_the_main_one_through_broadcast():
    """Two 'processes' (threads): only rank 0 holds the search; both evaluate every task."""
    barrier, slot, results, seen = threading.Barrier(2), {}, {}, {0: [], 1: []}

    def broadcast_from(rank):
        def broadcast(obj):
            if rank == 0:
                slot["value"] = obj
            barrier.wait()
            value = slot["value"]
            barrier.wait()
            return value

        return broadcast

    def run(rank):
        def evaluate(spec, seeds):
            seen[rank].append((spec["rho"], seeds.start))
            return rho_bowl(spec, seeds)

        results[rank] = tune_family("heun", 30, TOY, evaluate, candidates=8, samples_per_rung=RUNGS,
                                    broadcast=broadcast_from(rank), is_main=rank == 0)

    threads = [threading.Thread(target=run, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert seen[0] == seen[1] and len(seen[0]) == 8 + 2 + 1 + 3
    assert results[0].best == results[1].best


@pytest.mark.parametrize(("options", "message"), [
    ({"samples_per_rung": (400, 100)}, "samples_per_rung: .* non-decreasing"),
    ({"samples_per_rung": ()}, "samples_per_rung: "),
    ({"reduction": 1}, "reduction: 1 is invalid; allowed: an integer >= 2"),
    ({"num_blocks": 1}, "num_blocks: 1 is invalid"),
    ({"candidates": 0}, "candidates: 0 is invalid"),
])
def test_bad_settings_are_refused_before_any_evaluation(options, message):
    def never(spec, seeds):
        raise AssertionError("evaluated")

    with pytest.raises(ValueError, match=message):
        tune_family("heun", 50, TOY, never, **options)
