import pytest
import torch

from restart_lightning.metrics import from_uint8, to_uint8


def test_to_uint8_known_values():
    x = torch.tensor([-1.0, 1.0, 0.0, -2.0, 3.0, 1 / 127.5 - 1, 0.5 / 127.5 - 1, 0.49 / 127.5 - 1])
    # (x + 1) * 127.5 = 0, 255, 127.5 (half rounds up), clamp, clamp, 1, 0.5 (rounds up), 0.49 (down)
    assert to_uint8(x).tolist() == [0, 255, 128, 0, 255, 1, 1, 0]
    assert to_uint8(x).dtype == torch.uint8


def test_to_uint8_non_finite():
    x = torch.tensor([float("inf"), float("-inf"), float("nan")])
    assert to_uint8(x).tolist() == [255, 0, 0]


def test_to_uint8_matches_edm_conversion_and_keeps_shape():
    x = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1
    edm = (x * 127.5 + 128).clip(0, 255).to(torch.uint8)  # EDM's generate.py conversion
    out = to_uint8(x)
    assert out.shape == x.shape
    assert torch.equal(out, edm)
    assert torch.equal(to_uint8(x.double()), edm)


def test_from_uint8_inverts_to_uint8_on_every_level():
    pixels = torch.arange(256, dtype=torch.uint8)
    x = from_uint8(pixels)
    assert x[0] == -1 and x[255] == 1
    assert torch.equal(to_uint8(x), pixels)


def test_dtype_checks():
    with pytest.raises(TypeError):
        to_uint8(torch.zeros(2, dtype=torch.uint8))
    with pytest.raises(TypeError):
        from_uint8(torch.zeros(2))
