"""CLIP score of text-conditional samples (Hessel et al. 2021) against the prompt each was generated from.

torchmetrics' ``CLIPScore`` (the mean of 100 cos(E_image, E_text), floored at 0) on a local
transformers CLIP model. Prompts come per sample: a text-conditional datamodule exposes
``prompts`` (a list of strings) and ``num_classes == len(prompts)``, and sample i's label --
drawn from its seed like a class label -- is the index of its prompt.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn
from torchmetrics.multimodal.clip_score import CLIPScore

from restart_lightning.metrics.features import rgb_uint8


def load_clip(path: str | os.PathLike):
    """(CLIPModel, CLIPProcessor) from a local transformers directory; nothing is downloaded, no pickle is read.

    FileNotFoundError (saying how to get one) if ``path`` is not such a directory.
    """
    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"clip_model: no transformers CLIP model directory at '{path}' (it needs config.json, "
            "model.safetensors, the tokenizer and preprocessor files). Nothing is downloaded at run time; "
            "get one with e.g. `huggingface-cli download openai/clip-vit-large-patch14 --local-dir "
            f"'{path}'` on a machine that is online."
        )
    try:
        from transformers import CLIPModel, CLIPProcessor
    except ImportError as error:
        raise ImportError("clip_score needs transformers: pip install 'restart-lightning[metrics]'") from error
    model = CLIPModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
    processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
    return model.eval().requires_grad_(False), processor


class EmbeddingTensors(nn.Module):
    """A CLIP model whose ``get_image_features`` / ``get_text_features`` return the projected embeddings as tensors.

    transformers >= 5 returns an output object (the embeddings in ``pooler_output``) where 4.x
    returned the tensor, which torchmetrics 1.9's CLIPScore cannot read (torchmetrics issue #3407).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    @staticmethod
    def _tensor(out) -> Tensor:
        return out if isinstance(out, Tensor) else out.pooler_output

    def get_image_features(self, *args, **kwargs) -> Tensor:
        return self._tensor(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args, **kwargs) -> Tensor:
        return self._tensor(self.model.get_text_features(*args, **kwargs))


class PromptCLIPScore(CLIPScore):
    """CLIP score of images against ``prompts[label]``, one prompt index (label) per sample.

    Args:
        model_path: local transformers CLIP directory (e.g. a copy of openai/clip-vit-large-patch14).
        prompts: the prompts; label i means ``prompts[i]``.
        clip: an already loaded ``(model, processor)`` pair, used instead of ``model_path``.

    ``update(samples, labels)`` takes images [B, C, H, W] in [-1, 1] (or uint8) and labels [B].
    """

    def __init__(self, model_path: str | os.PathLike | None, prompts: Sequence[str], clip=None) -> None:
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ValueError("clip_score needs a non-empty list of prompt strings (the datamodule's `prompts`)")
        model, processor = clip if clip is not None else load_clip(model_path)
        super().__init__(model_name_or_path=lambda: (EmbeddingTensors(model), processor))
        self.prompts = list(prompts)

    def update(self, samples: Tensor, labels: Tensor | None = None) -> None:  # type: ignore[override]
        if labels is None:
            raise ValueError("clip_score needs the prompt index (label) of every sample; the datamodule must "
                             "expose `prompts` and num_classes == len(prompts)")
        if samples.shape[0] == 0:
            return
        indices = labels.tolist()
        bad = [i for i in indices if not 0 <= i < len(self.prompts)]
        if bad:
            raise ValueError(f"clip_score: prompt index {bad[0]} outside [0, {len(self.prompts) - 1}]")
        super().update(list(rgb_uint8(samples, "CLIP")), [self.prompts[i] for i in indices])
