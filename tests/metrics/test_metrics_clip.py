"""CLIP score per prompt index, on a tiny randomly initialised CLIP saved as a transformers directory."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from restart_lightning.metrics import to_uint8  # noqa: E402
from restart_lightning.metrics.clip_score import PromptCLIPScore, load_clip  # noqa: E402

PROMPTS = ["a red cat", "a blue dog", "zero"]


def byte_level_alphabet():
    """GPT-2's byte -> printable character table (CLIP's tokenizer alphabet)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """config.json + model.safetensors + tokenizer + preprocessor files, as `save_pretrained` writes them."""
    path = tmp_path_factory.mktemp("clip")
    chars = byte_level_alphabet()
    vocab = {c: i for i, c in enumerate([*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"])}
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    (path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CLIPTokenizer"}))
    tokenizer = transformers.CLIPTokenizer.from_pretrained(path)
    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"],
                         eos_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(path)
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    transformers.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def direct_scores(path, images, texts):
    """100 cos(image embedding, text embedding) per pair, from the CLIP towers and projections themselves."""
    model, processor = load_clip(path)
    pixels = processor(images=list(to_uint8(images).expand(-1, 3, -1, -1)), return_tensors="pt")["pixel_values"]
    tokens = processor(text=texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        image = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
        text = model.text_projection(model.text_model(input_ids=tokens["input_ids"],
                                                      attention_mask=tokens["attention_mask"]).pooler_output)
    return 100 * torch.nn.functional.cosine_similarity(image, text, dim=-1)


def test_score_is_the_mean_cosine_to_each_samples_prompt(clip_dir):
    images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    labels = torch.tensor([0, 1, 1, 2, 0])
    metric = PromptCLIPScore(clip_dir, PROMPTS)
    metric.update(images[:2], labels[:2])
    metric.update(images[:0], labels[:0])  # an empty batch (a process or seed block without samples)
    metric.update(images[2:], labels=labels[2:])
    expected = direct_scores(clip_dir, images, [PROMPTS[i] for i in labels])
    mean = metric.score / metric.n_samples
    assert metric.n_samples == 5
    assert mean.item() == pytest.approx(expected.mean().item(), abs=1e-3)
    assert metric.compute().item() == pytest.approx(max(expected.mean().item(), 0.0), abs=1e-3)
    other = direct_scores(clip_dir, images, [PROMPTS[(i + 1) % 3] for i in labels])
    assert (other - expected).abs().max() > 1e-2  # the prompt index matters


def test_missing_directory_and_bad_labels(clip_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="clip_model: .*nowhere.*huggingface-cli download"):
        PromptCLIPScore(tmp_path / "nowhere", PROMPTS)
    metric = PromptCLIPScore(clip_dir, PROMPTS)
    with pytest.raises(ValueError, match="prompt index"):
        metric.update(torch.zeros(2, 3, 8, 8), None)
    with pytest.raises(ValueError, match="prompt index 3 outside \\[0, 2\\]"):
        metric.update(torch.zeros(1, 3, 8, 8), torch.tensor([3]))
    with pytest.raises(ValueError, match="prompt strings"):
        PromptCLIPScore(clip_dir, [])
