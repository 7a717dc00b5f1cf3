"""Seed blocks, spreads and paired differences, against numpy and scipy."""

import numpy as np
import pytest
import scipy.stats
import torch

from restart_lightning.evaluation.block_report import block_scalars, block_tables
from restart_lightning.evaluation.uncertainty import block_of, paired_difference, seed_blocks, summarize


def test_summary_is_the_student_t_interval():
    values = [1.0, 2.5, 2.0, 4.0, 3.1]
    spread = summarize(values)
    low, high = scipy.stats.t.interval(0.95, df=4, loc=np.mean(values), scale=scipy.stats.sem(values))
    assert spread.mean == pytest.approx(np.mean(values))
    assert spread.std == pytest.approx(np.std(values, ddof=1))
    assert (spread.low, spread.high) == pytest.approx((low, high))
    assert spread.num_blocks == 5 and spread.excludes_zero()


def test_paired_difference_removes_the_shared_seed_noise():
    rng = np.random.default_rng(0)
    seed_noise = rng.normal(0, 1.0, 8)  # what both samplers share on a block
    a = 10 + seed_noise + rng.normal(0, 0.05, 8)
    b = 10.2 + seed_noise + rng.normal(0, 0.05, 8)
    diff = paired_difference(b, a)
    assert diff.mean == pytest.approx(np.mean(b - a))
    assert diff.excludes_zero() and diff.low > 0
    separate = summarize(a), summarize(b)
    assert separate[0].high > separate[1].low  # unpaired intervals overlap: no verdict without pairing
    with pytest.raises(ValueError, match="differ in number"):
        paired_difference([1.0, 2.0], [1.0])


def test_blocks_cut_consecutive_seeds_and_drop_the_remainder():
    assert seed_blocks(11, 3) == [range(0, 3), range(3, 6), range(6, 9)]
    assert block_of(torch.arange(11), 11, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1]
    with pytest.raises(ValueError, match="at least 2|>= 2"):
        seed_blocks(10, 1)
    with pytest.raises(ValueError, match="6 blocks of 10 samples leave 1 per block"):
        seed_blocks(10, 6)
    with pytest.raises(ValueError, match="at least 2 block values"):
        summarize([1.0])


def test_tables_and_scalars_name_the_block_size():
    rows = [{"label": "heun", "nfe": 35}, {"label": "restart", "nfe": 43}]
    blocks = {"heun": {"fid": [3.0, 3.2, 3.1]}, "restart": {"fid": [2.0, 2.3, 2.1]}}
    table = block_tables(rows, blocks, 2000)
    assert "3 blocks of 2000 consecutive seeds" in table and "| fid_2k |" in table
    assert "| heun | 35 | 3 x 2000 | 3.1 ± 0.1 [" in table
    assert "| restart | 43 | -0.9667 [" in table and "] *" in table
    scalars = block_scalars("test", blocks, 2000)
    assert scalars["test/fid_2k_mean/heun"] == pytest.approx(3.1)
    assert scalars["test/fid_2k_diff_vs_heun/restart"] == pytest.approx(-0.9666667)
    assert "test/fid_2k_diff_vs_heun/heun" not in scalars
