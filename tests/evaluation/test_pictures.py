"""Image grids: small images are enlarged by whole pixels, large ones are left alone."""

import torch

from restart_lightning.evaluation.pictures import image_grid


def test_small_images_are_enlarged_by_pixel_replication():
    images = torch.linspace(-1, 1, 2 * 64).reshape(2, 1, 8, 8)
    grid = image_grid(images, nrow=2)
    assert grid.dtype == torch.uint8 and grid.shape == (3, 34, 67)  # 2 tiles of 32x32, 1-pixel padding
    first = grid[0, 1:33, 1:33]
    expected = ((images[0, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(first[::4, ::4], expected) and torch.equal(first[3::4, 3::4], expected)


def test_images_of_32_pixels_keep_their_size():
    grid = image_grid(torch.zeros(4, 3, 32, 32), nrow=4)
    assert grid.shape == (3, 34, 4 * 33 + 1)
