"""FD-DINOv2 features from a hub-format weights file (dinov2_vitl14_pretrain.pth layout, tiny sizes).

The features are checked against a forward pass written here directly on the file's tensors
(the hub's DinoVisionTransformer: patch conv, class token, position embeddings resampled with
the hub's offset, pre-norm blocks with layer scale, final norm, class token) after EDM2's
preprocessing. With RESTART_LIGHTNING_DINOV2_REPO pointing at a facebookresearch/dinov2 checkout,
one more test compares against the hub code itself.
"""

import math
import os
import re
import sys
from functools import partial

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

from restart_lightning.metrics import DINOV2_WEIGHTS_URL, FrechetDistance, to_uint8  # noqa: E402
from restart_lightning.metrics.dinov2 import DINOv2Features, load_dinov2  # noqa: E402
from restart_lightning.metrics.weights import CACHE_ENV_VAR  # noqa: E402

WIDTH, DEPTH, GRID = 128, 2, 37  # 2 heads of 64; the real checkpoint's 37x37 position grid (518 / 14)


def hub_state_dict(seed=0, width=WIDTH, depth=DEPTH):
    """Random tensors with the names and shapes of the hub checkpoint (ViT-L/14 has width 1024, depth 24)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    state = {"cls_token": r(1, 1, width), "pos_embed": r(1, 1 + GRID * GRID, width), "mask_token": r(1, width),
             "patch_embed.proj.weight": r(width, 3, 14, 14, scale=0.02), "patch_embed.proj.bias": r(width),
             "norm.weight": 1 + r(width), "norm.bias": r(width)}
    for i in range(depth):
        b = f"blocks.{i}."
        state.update({
            b + "norm1.weight": 1 + r(width), b + "norm1.bias": r(width),
            b + "attn.qkv.weight": r(3 * width, width, scale=0.05), b + "attn.qkv.bias": r(3 * width),
            b + "attn.proj.weight": r(width, width, scale=0.05), b + "attn.proj.bias": r(width),
            b + "ls1.gamma": r(width), b + "norm2.weight": 1 + r(width), b + "norm2.bias": r(width),
            b + "mlp.fc1.weight": r(4 * width, width, scale=0.05), b + "mlp.fc1.bias": r(4 * width),
            b + "mlp.fc2.weight": r(width, 4 * width, scale=0.05), b + "mlp.fc2.bias": r(width),
            b + "ls2.gamma": r(width),
        })
    return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vitl14_pretrain.pth"
    torch.save(hub_state_dict(), path)
    return path


def edm2_input(images):
    """EDM2's DINOv2 preprocessing of images in [-1, 1]: uint8, bicubic antialiased 224, /255, ImageNet mean/std."""
    x = to_uint8(images).expand(-1, 3, -1, -1).float()
    x = F.interpolate(x, size=(224, 224), mode="bicubic", antialias=True) / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    return (x - mean) / std


def direct_forward(s, x):
    """The hub ViT on the raw state dict: returns the normed class token."""
    width, heads = s["cls_token"].shape[-1], s["cls_token"].shape[-1] // 64
    t = F.conv2d(x, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=14).flatten(2).transpose(1, 2)
    t = torch.cat([s["cls_token"].expand(len(x), -1, -1), t], dim=1)
    grid = math.isqrt(s["pos_embed"].shape[1] - 1)
    patches = s["pos_embed"][:, 1:].reshape(1, grid, grid, width).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, scale_factor=((16 + 0.1) / grid,) * 2, mode="bicubic")  # hub offset 0.1
    t = t + torch.cat([s["pos_embed"][:, :1], patches.permute(0, 2, 3, 1).reshape(1, 256, width)], dim=1)
    b_, n = t.shape[:2]
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))
    for i in range(depth):
        p = f"blocks.{i}."
        h = F.layer_norm(t, (width,), s[p + "norm1.weight"], s[p + "norm1.bias"], eps=1e-6)
        q, k, v = F.linear(h, s[p + "attn.qkv.weight"], s[p + "attn.qkv.bias"]).reshape(
            b_, n, 3, heads, 64).permute(2, 0, 3, 1, 4)
        a = (torch.softmax(q @ k.transpose(-1, -2) / 8.0, dim=-1) @ v).transpose(1, 2).reshape(b_, n, width)
        t = t + s[p + "ls1.gamma"] * F.linear(a, s[p + "attn.proj.weight"], s[p + "attn.proj.bias"])
        h = F.layer_norm(t, (width,), s[p + "norm2.weight"], s[p + "norm2.bias"], eps=1e-6)
        h = F.linear(F.gelu(F.linear(h, s[p + "mlp.fc1.weight"], s[p + "mlp.fc1.bias"])), s[p + "mlp.fc2.weight"],
                     s[p + "mlp.fc2.bias"])
        t = t + s[p + "ls2.gamma"] * h
    return F.layer_norm(t, (width,), s["norm.weight"], s["norm.bias"], eps=1e-6)[:, 0]


def images(seed, n=3, channels=3, size=8):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_features_equal_the_hub_forward_after_edm2_preprocessing(weights):
    features = DINOv2Features(weights)
    assert features.num_features == WIDTH and not features.training
    x = images(0, channels=1)  # grayscale digits are repeated to RGB
    with torch.no_grad():
        got = features(x)
        expected = direct_forward(hub_state_dict(), edm2_input(x))
    assert got.shape == (3, WIDTH)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert (got[0] - got[1]).abs().max() > 1e-3  # the images are told apart


def test_fd_dinov2_through_the_frechet_distance(weights):
    features = DINOv2Features(weights)
    fd = FrechetDistance(features, num_features=features.num_features)
    with torch.no_grad():
        fd.prepare_reference([images(1, 4)])
        fd.update(images(2, 4))
    assert fd.compute().item() > 0


def test_missing_weights_name_the_path_and_url(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError) as error:
        DINOv2Features(missing)
    assert str(missing) in str(error.value) and DINOV2_WEIGHTS_URL in str(error.value)
    assert "--dinov2" in str(error.value)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "cache" / "dinov2_vitl14_pretrain.pth"))):
        DINOv2Features()


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="dinov2_weights: .*text.pth.* not a readable"):
        load_dinov2(tmp_path / "text.pth")
    torch.save({"w": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a DINOv2 state dict"):
        load_dinov2(tmp_path / "other.pth")
    state = hub_state_dict()
    state["blocks.0.mlp.w12.weight"] = state.pop("blocks.0.mlp.fc1.weight")  # ViT-g's SwiGLU
    torch.save(state, tmp_path / "giant.pth")
    with pytest.raises(ValueError, match="MLP blocks"):
        load_dinov2(tmp_path / "giant.pth")
    state = hub_state_dict()
    state["extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="does not use: \\['extra'\\]"):
        load_dinov2(tmp_path / "extra.pth")


@pytest.mark.skipif(not os.environ.get("RESTART_LIGHTNING_DINOV2_REPO"),
                    reason="needs a facebookresearch/dinov2 checkout")
def test_matches_the_hub_implementation(tmp_path):
    sys.path.insert(0, os.environ["RESTART_LIGHTNING_DINOV2_REPO"])
    from dinov2.layers import MemEffAttention
    from dinov2.layers import NestedTensorBlock as Block
    from dinov2.models.vision_transformer import DinoVisionTransformer

    hub = DinoVisionTransformer(img_size=518, patch_size=14, embed_dim=WIDTH, depth=3, num_heads=WIDTH // 64,
                                block_fn=partial(Block, attn_class=MemEffAttention), init_values=1.0,
                                block_chunks=0).eval()
    with torch.no_grad():
        for p in hub.parameters():
            p.normal_(0, 0.2, generator=torch.Generator().manual_seed(p.numel()))
    torch.save(hub.state_dict(), tmp_path / "hub.pth")
    model = load_dinov2(tmp_path / "hub.pth")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=x).pooler_output, hub(x), rtol=1e-5, atol=1e-5)
