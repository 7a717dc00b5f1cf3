"""The network against the data, before training or sampling: shapes, resolution, conditioning, memory.

One forward pass of the denoiser on one zero sample of the data's shape (CPU, eval mode: no
random numbers are drawn, so the run's randomness is untouched) catches a network built for
another data shape. The same pass counts the bytes autograd keeps for the backward pass, which
with the parameters gives the memory of a training batch, checked against the machine's.
"""

from __future__ import annotations

import math

import torch

from restart_lightning.memory import check_memory
from restart_lightning.reliability.errors import ConfigError, one_line

# float32 weights, their gradients, Adam's two moments and the EMA copy
TRAINING_BYTES_PER_PARAMETER = 20


def check_model_fits_data(model, datamodule, subcommand: str, device_limit: int | None = None,
                          half_precision: bool = False) -> None:
    """ConfigError if ``model.net`` cannot take the data (see module docstring), or a batch cannot fit.

    ``device_limit``: the accelerator's memory (None: the CPU's); ``half_precision``: activations
    are 16-bit under mixed precision (the measured float32 bytes are halved).
    """
    if datamodule is None or not hasattr(model, "model"):
        return
    try:
        shape = tuple(int(s) for s in datamodule.data_shape)
        num_classes = int(getattr(datamodule, "num_classes", 0) or 0)
    except Exception:  # the datamodule only knows its shape after setup: nothing to check here
        return
    net = model.model.net
    resolution = getattr(net, "resolution", None)
    if isinstance(resolution, int) and len(shape) == 3 and resolution != shape[-1]:
        raise ConfigError(
            f"model.net.init_args.resolution: {resolution} differs from the data's images ({shape[-2]}x{shape[-1]}, "
            f"{type(datamodule).__name__}); allowed: {shape[-1]}, the data's resolution"
        )
    net_classes = getattr(net, "num_classes", None)
    if isinstance(net_classes, int) and 0 < net_classes < num_classes:
        raise ConfigError(
            f"model.net.init_args.num_classes: {net_classes} is fewer than the data's {num_classes} classes; "
            f"allowed: {num_classes} (or 0 for an unconditional network)"
        )
    saved = _forward(model, datamodule, shape, num_classes)
    if subcommand == "fit":
        parameters = sum(p.numel() for p in model.model.parameters())
        batch = getattr(datamodule, "batch_size", None)
        fixed = parameters * TRAINING_BYTES_PER_PARAMETER
        if half_precision:
            saved //= 2
        if isinstance(batch, int):
            check_memory("data.batch_size", batch, saved + 4 * math.prod(shape),
                         f"activations kept for the backward pass, {saved} bytes per sample as measured, plus "
                         f"{parameters} parameters with gradients, Adam moments and EMA", fixed_bytes=fixed,
                         limit=device_limit, where="the accelerator's" if device_limit else "this machine's")


def _forward(model, datamodule, shape: tuple[int, ...], num_classes: int) -> int:
    """Run the denoiser on one zero sample; returns the activation bytes autograd saved for backward.

    Parameters (saved by every layer, but once per batch, not per sample) and tensors saved twice
    are not counted.
    """
    x = torch.zeros(1, *shape)
    sigma = torch.ones(1)
    labels = torch.zeros(1, dtype=torch.long) if num_classes > 0 else None
    seen = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        storage = tensor.untyped_storage().data_ptr()
        if storage not in seen:
            seen.add(storage)
            saved += tensor.untyped_storage().nbytes()
        return tensor

    was_training = model.training
    model.eval()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            out = model.model(x, sigma, labels)
    except Exception as error:
        raise ConfigError(
            f"model.net does not accept the data: samples of shape {list(shape)} from {type(datamodule).__name__} "
            f"fail in {type(model.model.net).__name__} ({type(error).__name__}: {one_line(error)[:200]})"
        ) from None
    finally:
        model.train(was_training)
    if tuple(out.shape) != tuple(x.shape):
        raise ConfigError(
            f"model.net does not fit the data: it maps samples of shape {list(shape)} to {list(out.shape[1:])}"
        )
    return saved

