"""Per-sample noise: a sample is bit-identical whatever the batch it is drawn in."""

import pytest
import torch

from restart_lightning.sampling import NoiseSource, build_sampler
from restart_lightning.sampling.noise import BLOCK_ELEMENTS, MAX_PREFETCH_BYTES, draw_labels, injection_chunks

from .streams import batch_streams
from .toys import GaussianData, Mixture

STOCHASTIC = {
    "edm_sde": {"num_steps": 8, "S_churn": 10.0},
    "euler_maruyama": {"num_steps": 8},
    "euler_ancestral": {"num_steps": 8},
    "restart": {"num_steps": 8, "restart_intervals": [[3, 2, 0.1, 0.5]], "restart_gamma": 0.05},
    "heun": {"num_steps": 8},
}


def test_noise_source_draws_do_not_depend_on_the_batch():
    whole = NoiseSource(range(16)).randn((3, 2))
    part = NoiseSource(range(4, 8)).randn((3, 2))
    assert whole.shape == (16, 3, 2) and whole.dtype == torch.float64
    assert torch.equal(whole[4:8], part)
    labels = NoiseSource(range(16)).randint(10)
    assert labels.dtype == torch.int64 and labels.shape == (16,)
    assert torch.equal(labels[8:], NoiseSource(range(8, 16)).randint(10))
    assert not torch.equal(whole[0], whole[1])


@pytest.mark.parametrize("name", list(STOCHASTIC))
def test_seeds_give_identical_samples_with_batch_4_and_16(name):
    sampler, mixture = build_sampler(name, **STOCHASTIC[name]), Mixture()
    whole = sampler(mixture, shape=(2,), seeds=range(16)).samples
    batches = torch.cat([sampler(mixture, shape=(2,), seeds=range(i, i + 4)).samples for i in range(0, 16, 4)])
    assert torch.equal(whole, batches)


@pytest.mark.parametrize("name", list(STOCHASTIC))
def test_given_latents_continue_the_same_streams(name):
    sampler, mixture, seeds = build_sampler(name, **STOCHASTIC[name]), Mixture(), [5, 9, 11]
    from_shape = sampler(mixture, shape=(2,), seeds=seeds).samples
    from_latents = sampler(mixture, NoiseSource(seeds).randn((2,)), seeds=seeds).samples
    assert torch.equal(from_shape, from_latents)
    source = NoiseSource(seeds)
    latents = source.randn((2,))
    assert torch.equal(sampler(mixture, latents, noise=source).samples, from_shape)


def test_default_seeds_are_the_batch_indices():
    sampler, mixture = build_sampler("euler_ancestral", num_steps=6), Mixture()
    latents = NoiseSource(range(4)).randn((2,))
    assert torch.equal(sampler(mixture, latents).samples, sampler(mixture, shape=(2,), seeds=range(4)).samples)


# ---------------------------------------------------------------- the prefetched stream of a plan
# 2883 elements: 5 draws per generator call. Sizes that are not a multiple of 16 matter: on the CPU, one
# randn(a + b) equals randn(a) then randn(b) when a and b are multiples of 16, which would hide a wrong grouping.
IMAGE = (3, 31, 31)


def _image_sampler():
    """Restart with churn on an image shape: 4 jumps and dozens of churn draws."""
    return build_sampler("restart", num_steps=12, restart_intervals=[[6, 4, 0.1, 2.0]], restart_gamma=0.05,
                         S_min=0.0, S_max=80.0)


@pytest.mark.parametrize("shape, count", [((2,), 7), ((3, 7, 7), 250), (IMAGE, 12), ((1, 130, 130), 3), ((5,), 0)])
@pytest.mark.parametrize("in_one_pass", [True, False], ids=["draw", "randn+injections"])
def test_prefetched_draws_equal_the_documented_per_sample_stream(shape, count, in_one_pass):
    seeds = [11, 0, 2**40 + 3]
    source = NoiseSource(seeds, max_bytes=2**20)  # (1, 130, 130): one draw per chunk
    if in_one_pass:
        latents, draws = source.draw(shape, count)
    else:
        latents, draws = source.randn(shape), source.injections(shape, count)
    draws = list(draws)
    ref_latents, ref_draws = batch_streams(seeds, shape, count)
    assert torch.equal(latents, ref_latents)
    assert len(draws) == count and all(torch.equal(a, b) for a, b in zip(draws, ref_draws))
    assert all(d.shape == (3, *shape) and d.dtype == torch.float64 for d in draws)


def test_sample_is_the_same_at_batch_1_4_16_and_in_any_order_or_share():
    sampler, mixture = _image_sampler(), GaussianData()
    assert len(sampler.plan().noise_injections) > 20
    seeds = list(range(16))
    whole = sampler(mixture, shape=IMAGE, seeds=seeds).samples
    for size in (1, 4):
        parts = [sampler(mixture, shape=IMAGE, seeds=seeds[i : i + size]).samples for i in range(0, 16, size)]
        assert torch.equal(torch.cat(parts), whole)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0)).tolist()
    assert torch.equal(sampler(mixture, shape=IMAGE, seeds=order).samples, whole[order])
    rank0, rank1 = seeds[0::2], seeds[1::2]  # two processes, interleaved shares of different sizes
    assert torch.equal(sampler(mixture, shape=IMAGE, seeds=rank0[:5]).samples, whole[rank0[:5]])
    assert torch.equal(sampler(mixture, shape=IMAGE, seeds=rank1 + rank0[5:]).samples, whole[rank1 + rank0[5:]])


def test_chunked_prefetch_gives_the_same_samples_as_unchunked():
    sampler, mixture, seeds = _image_sampler(), GaussianData(), [4, 8, 15, 16]
    count = len(sampler.plan().noise_injections)
    assert len(injection_chunks(2883, count, len(seeds), max_bytes=1)) == -(-count // 5)  # one block per chunk
    assert len(injection_chunks(2883, count, len(seeds))) == 1
    results = []
    for max_bytes in (1, 4 * 2 * 5 * 2883 * 8, MAX_PREFETCH_BYTES):  # chunks of 1 block, 2 blocks, everything
        source = NoiseSource(seeds, max_bytes=max_bytes)
        results.append(sampler(mixture, source.randn(IMAGE), noise=source).samples)
    assert all(torch.equal(r, results[-1]) for r in results)
    assert torch.equal(results[-1], sampler(mixture, shape=IMAGE, seeds=seeds).samples)


def test_prefetched_noise_stays_within_its_memory_bound_for_large_images():
    batch, count = 64, 100  # images of 3 x 256 x 256: one draw (1.5 MiB per sample) exceeds a block
    size, block_bytes = 3 * 256 * 256, BLOCK_ELEMENTS * 8
    for max_bytes in (2**20, 2**28, 2**30):
        chunks = injection_chunks(size, count, batch, max_bytes)
        assert sum(sum(chunk) for chunk in chunks) == count and all(b == 1 for chunk in chunks for b in chunk)
        bound = max(max_bytes, batch * max(block_bytes, size * 8))
        assert all(batch * sum(chunk) * size * 8 <= bound for chunk in chunks)
        assert len(chunks) == -(-count // max(1, max_bytes // (batch * size * 8)))  # as many draws per chunk as fit
    # smaller images: whole blocks of 16384 elements per sample, chunks within max_bytes
    chunks = injection_chunks(3 * 32 * 32, 200, 128, 2**24)
    assert {b for chunk in chunks for b in chunk} <= {5} | {200 % 5 or 5}
    assert all(128 * sum(chunk) * 3072 * 8 <= 2**24 for chunk in chunks)
    # what a source really holds: the storage behind each served draw is one chunk
    source = NoiseSource(range(4), max_bytes=2**16)
    limit = max(2**16, 4 * BLOCK_ELEMENTS * 8)
    held = {d.untyped_storage().data_ptr(): d.untyped_storage().nbytes() for d in source.injections((1, 64, 64), 30)}
    assert len(held) > 1 and max(held.values()) <= limit


def test_no_generator_per_sample_lives_unless_the_plan_needs_several_chunks(monkeypatch):
    made = []
    real = torch.Generator

    def counting(*args):
        made.append(1)
        return real(*args)

    monkeypatch.setattr(torch, "Generator", counting)
    source = NoiseSource(range(1000))
    latents = source.randn((2,))
    draws = source.injections((2,), 5)
    assert source.spent  # all five fit in one chunk: drawn before the first network call
    assert len(made) <= 2  # one re-seeded generator per pass, not one per sample
    served = list(draws)
    with pytest.raises(RuntimeError, match="has served a run"):
        source.randn((2,))
    monkeypatch.setattr(torch, "Generator", real)
    ref_latents, ref_draws = batch_streams(range(1000), (2,), 5)
    assert torch.equal(latents, ref_latents) and all(torch.equal(a, b) for a, b in zip(served, ref_draws, strict=True))

    made.clear()
    monkeypatch.setattr(torch, "Generator", counting)
    chunked = NoiseSource(range(2), max_bytes=1)
    chunked.randn((1, 128, 128))
    draws = chunked.injections((1, 128, 128), 3)  # 16384 elements: one draw per block and chunk
    assert len(made) >= 2  # one per sample, kept between the chunks
    next(draws), next(draws)
    assert not chunked.spent
    next(draws)
    assert chunked.spent


def test_class_labels_keep_their_own_stream():
    labels = draw_labels([0, 5, 9], 10, None, "cpu")
    expected = [int(torch.randint(10, (1,), generator=torch.Generator().manual_seed(s ^ 0x4C41_4245_4C53)))
                for s in (0, 5, 9)]
    assert labels.tolist() == expected
