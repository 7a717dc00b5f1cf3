"""Tiny diffusers model folders, written once per test session (see tiny_diffusers.py)."""

import pytest

from tests.adapters import tiny_diffusers


@pytest.fixture(scope="session")
def pixel_folder(tmp_path_factory):
    """An unconditional UNet2DModel (epsilon prediction) for 3x8x8 images."""
    pytest.importorskip("diffusers")
    return tiny_diffusers.pixel_model(tmp_path_factory.mktemp("pixel"))


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory):
    """A class-conditional UNet2DModel: 3 classes and the null class 3."""
    pytest.importorskip("diffusers")
    return tiny_diffusers.pixel_model(tmp_path_factory.mktemp("class"), num_classes=3, seed=1)


@pytest.fixture(scope="session")
def text_folder(tmp_path_factory):
    """A Stable Diffusion-style text-to-image latent model (UNet2DConditionModel, CLIP, AutoencoderKL)."""
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    return tiny_diffusers.text_to_image_model(tmp_path_factory.mktemp("text"))
