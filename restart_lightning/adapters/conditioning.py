"""What a foreign network is conditioned on, from the denoiser's ``labels``: class labels or prompts.

Every adapter receives ``labels`` (int64 ``[B]``) as the one conditioning input of the seam, with
-1 meaning "unconditional" (what ``GuidedDenoiser`` passes for the guidance's second half):

- ``ClassConditioning``: labels are class indices, passed under a keyword (``class_labels`` for
  diffusers); -1 becomes the model's own null class, which classifier-free guidance needs.
- ``PromptConditioning``: labels are indices into a list of prompts; -1 is the empty prompt, whose
  embedding is the unconditional one (as in Stable Diffusion's pipelines). Embeddings are computed
  by the text encoder once per batch of labels and reused by every step of a sampler run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

NULL_LABEL = -1


class ClassConditioning(nn.Module):
    """``labels -> {keyword: labels}``, with -1 mapped to ``null_label``.

    Args:
        num_classes: how many classes the model knows (labels must lie in [0, num_classes)).
        keyword: the network's keyword argument for class labels.
        null_label: the class index the model was trained on for "no class" (None: guidance refused).
    """

    def __init__(self, num_classes: int, keyword: str = "class_labels", null_label: int | None = None) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 for class conditioning, got {num_classes}")
        if null_label is not None and not 0 <= null_label < num_classes:
            raise ValueError(f"null_class_label must be in [0, {num_classes - 1}], got {null_label}")
        self.num_classes, self.keyword, self.null_label = num_classes, keyword, null_label

    def forward(self, labels: Tensor | None) -> dict[str, Any]:
        if labels is None:
            raise ValueError(
                f"this model is class-conditional ({self.num_classes} classes): it needs labels; give the data's "
                "num_classes"
            )
        unconditional = labels == NULL_LABEL
        if bool(unconditional.any()):
            if self.null_label is None:
                raise ValueError(
                    "classifier-free guidance needs the model's null class: set model.null_class_label to the class "
                    "index it was trained on for 'no class'"
                )
            labels = torch.where(unconditional, torch.full_like(labels, self.null_label), labels)
        return {self.keyword: labels}

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, keyword={self.keyword!r}, null_label={self.null_label}"


class PromptConditioning(nn.Module):
    """``labels -> {keyword: text_encoder(token_ids[labels])}``; label -1 is the empty prompt.

    Args:
        text_encoder: a transformers text model; its first output (the last hidden state) is the
            embedding, as in Stable Diffusion's pipelines.
        keyword: the network's keyword argument for the embeddings.
        use_attention_mask: pass the tokenizer's attention mask to the encoder (the encoder config's
            ``use_attention_mask``).
    ``set_prompts`` gives the tokenised prompts, with the empty prompt as the last row.
    """

    def __init__(self, text_encoder: nn.Module, keyword: str = "encoder_hidden_states",
                 use_attention_mask: bool = False) -> None:
        super().__init__()
        self.text_encoder = text_encoder
        self.keyword, self.use_attention_mask = keyword, use_attention_mask
        self.register_buffer("token_ids", torch.zeros(0, 0, dtype=torch.long), persistent=False)
        self.register_buffer("attention_mask", torch.zeros(0, 0, dtype=torch.long), persistent=False)
        self._cache: tuple[Tensor, Tensor] | None = None

    @property
    def num_prompts(self) -> int:
        """Prompts besides the empty one."""
        return max(int(self.token_ids.shape[0]) - 1, 0)

    def set_prompts(self, token_ids: Tensor, attention_mask: Tensor) -> None:
        """Token ids and attention mask ``[P + 1, L]`` of the prompts followed by the empty prompt."""
        self.token_ids = token_ids.to(self.token_ids.device, torch.long)
        self.attention_mask = attention_mask.to(self.token_ids.device, torch.long)
        self._cache = None

    def forward(self, labels: Tensor | None) -> dict[str, Any]:
        if self.num_prompts == 0:
            raise ValueError("this model is text-conditional: give the data a prompts file (data.prompts)")
        if labels is None:
            raise ValueError("this model is text-conditional: it needs prompt indices as labels")
        if self._cache is not None and torch.equal(self._cache[0], labels):
            return {self.keyword: self._cache[1]}
        if bool(((labels < NULL_LABEL) | (labels >= self.num_prompts)).any()):
            raise ValueError(f"prompt indices must be in [0, {self.num_prompts - 1}] (or -1 for the empty prompt)")
        rows = torch.where(labels == NULL_LABEL, torch.full_like(labels, self.num_prompts), labels).to(
            self.token_ids.device)
        mask = self.attention_mask[rows] if self.use_attention_mask else None
        with torch.no_grad():
            embeddings = self.text_encoder(self.token_ids[rows], attention_mask=mask)[0]
        self._cache = (labels.clone(), embeddings)
        return {self.keyword: embeddings}

    def extra_repr(self) -> str:
        return f"num_prompts={self.num_prompts}, keyword={self.keyword!r}"


def tokenize_prompts(tokenizer: Any, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Token ids and attention mask ``[P + 1, L]`` of ``prompts`` and the empty prompt, padded to the
    tokenizer's ``model_max_length`` and truncated there (as Stable Diffusion's pipelines do)."""
    encoded = tokenizer(list(prompts) + [""], padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt")
    return encoded.input_ids, encoded.attention_mask
