"""Two real processes (gloo on the CPU): torchmetrics' sync must reproduce the one-process values.

Every rank holds the same reference statistics; the generated samples are split unevenly.
"""

import multiprocessing
import sys
import traceback

import pytest
import torch
import torch.distributed as dist

from restart_lightning.metrics import (
    ExactNLL,
    FrechetDistance,
    HighQualityFraction,
    KernelDistance,
    ModeCoverage,
    PrecisionRecall,
    SlicedWasserstein,
)

WORLD = 2
MEANS = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [9.0, 9.0]])


def make_metrics():
    g = torch.Generator().manual_seed(0)
    fid = FrechetDistance("identity", num_features=2)
    fid.set_reference(torch.tensor([0.5, 0.5]), torch.tensor([[1.0, 0.2], [0.2, 0.5]]), num_samples=1000)
    return {
        "fid": fid,
        "nll": ExactNLL(lambda x: -0.5 * (x.double() ** 2).sum(1)),
        "coverage": ModeCoverage(MEANS, radius=0.5),
        "quality": HighQualityFraction(MEANS, radius=0.5),
        "sw": SlicedWasserstein(torch.randn(64, 2, generator=g), num_projections=32, seed=3),
        "kid": KernelDistance(torch.randn(80, 2, generator=g)),
        "precision_recall": PrecisionRecall(torch.randn(150, 2, generator=g) * 1.2, k=3),  # real subset of 101
        "coverage_share": ModeCoverage(MEANS, radius=0.5, min_share=0.3),
    }


def samples():
    return torch.randn(101, 2, generator=torch.Generator().manual_seed(1)) * 1.3 + 0.2


def evaluate(metrics, data):
    for chunk in data.split(20):
        for metric in metrics.values():
            metric.update(chunk)
    values = {name: metric.compute() for name, metric in metrics.items()}
    values["fid_real_n_after_compute"] = metrics["fid"].real_features_num_samples.clone()
    return values


def worker(rank, init_file, out_dir):
    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
        data = samples()
        shard = data[:60] if rank == 0 else data[60:]  # uneven split
        torch.save(evaluate(make_metrics(), shard), f"{out_dir}/rank{rank}.pt")
        dist.barrier()
        dist.destroy_process_group()
    except BaseException:
        traceback.print_exc()
        sys.exit(1)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_two_process_sync_matches_single_process(tmp_path):
    ctx = multiprocessing.get_context("fork")  # no re-import in the children: fast
    procs = [ctx.Process(target=worker, args=(r, tmp_path / "init", tmp_path)) for r in range(WORLD)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WORLD

    expected = evaluate(make_metrics(), samples())
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name, value in expected.items():
            torch.testing.assert_close(got[name], value, msg=f"{name} on rank {rank}")
    assert expected["fid_real_n_after_compute"] == 1000  # reference counted once, not once per rank
