"""Labels to network inputs: class labels with a null class, prompt embeddings computed once per batch."""

import pytest
import torch
from torch import nn

from restart_lightning.adapters import ClassConditioning, PromptConditioning
from restart_lightning.adapters.diffusers_denoiser import DiffusersUNet
from restart_lightning.guidance import GuidedDenoiser
from restart_lightning.sampling import Heun


class CountingEncoder(nn.Module):
    """A text 'encoder' embedding token ids, counting its calls; returns a tuple like transformers models."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 3)
        self.calls = 0

    def forward(self, ids, attention_mask=None):
        self.calls += 1
        self.mask = attention_mask
        return (self.embedding(ids),)


def test_prompt_embeddings_are_computed_once_per_batch_and_minus_one_is_the_empty_prompt():
    encoder = CountingEncoder()
    conditioning = PromptConditioning(encoder, keyword="context")
    ids = torch.tensor([[1, 2, 0], [1, 3, 4], [1, 0, 0]])  # two prompts, then the empty one
    conditioning.set_prompts(ids, (ids > 0).long())
    seen = []

    def denoiser(x, sigma, labels=None):
        seen.append(conditioning(labels)["context"])
        return x * 0.5

    denoiser.sigma_min, denoiser.sigma_max = 0.01, 10.0
    sampler = Heun(num_steps=4)
    sampler(GuidedDenoiser(denoiser, 3.0), torch.randn(2, 5), labels=torch.tensor([1, 0]))
    assert len(seen) == sampler.plan().calls and encoder.calls == 1  # one encoding for the whole run
    expected = encoder.embedding(ids[[1, 0, 2, 2]])  # [cond 1, cond 0, empty, empty]
    assert torch.equal(seen[-1], expected) and encoder.mask is None
    with pytest.raises(ValueError, match=r"prompt indices must be in \[0, 1\]"):
        conditioning(torch.tensor([2]))
    masked = PromptConditioning(encoder, use_attention_mask=True)
    masked.set_prompts(ids, (ids > 0).long())
    masked(torch.tensor([0]))
    assert torch.equal(encoder.mask, torch.tensor([[1, 1, 0]]))


def test_class_labels_map_minus_one_to_the_null_class():
    conditioning = ClassConditioning(4, null_label=3)
    assert conditioning(torch.tensor([0, -1, 2]))["class_labels"].tolist() == [0, 3, 2]
    with pytest.raises(ValueError, match="model.null_class_label"):
        ClassConditioning(4)(torch.tensor([-1]))
    with pytest.raises(ValueError, match="null_class_label must be in"):
        ClassConditioning(4, null_label=4)


class StubUNet(nn.Module):
    """Returns (eps, log variance) stacked on channels, as IDDPM/ADM models with a learned variance do."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x, t, return_dict=False):
        return (torch.cat([x * self.weight, torch.full_like(x, 7.0)], dim=1),)


def test_a_learned_variance_half_is_dropped_and_labels_of_unconditional_models_refused():
    net = DiffusersUNet(StubUNet())
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(net(x, torch.zeros(2)), x)
    with pytest.raises(ValueError, match="unconditional"):
        net(x, torch.zeros(2), torch.tensor([0, 1]))
