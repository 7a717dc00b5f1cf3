"""DiffusionModule: network + preconditioning + loss, trained with Adam, evaluated through its EMA."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from restart_lightning.constraints import (
    FiniteFloat,
    FiniteNonNegativeFloat,
    FinitePositiveFloat,
    HalfOpenUnitInterval,
    NonNegativeInteger,
    Seed,
    check_arguments,
)
from restart_lightning.ema import EMA
from restart_lightning.losses import build_loss
from restart_lightning.preconditioning import Denoiser, build_preconditioning
from restart_lightning.reliability.nonfinite import NonFiniteGuard, check_finite_ema
from restart_lightning.reliability.resume import clear_finished_epoch_sums, fill_missing_metric_states
from restart_lightning.sampling.noise import draw_labels
from restart_lightning.sampling.registry import parse_sampler_specs
from restart_lightning.sigma_buckets import SigmaBucketLoss

MAX_LOG_SIGMA = 80.0  # exp(80) = 5.5e34: log-normal training sigmas stay well inside float32's range


def uses_global_rng_in_training(net: nn.Module) -> bool:
    """Whether ``net`` draws from the global RNG in training mode (dropout, label dropout)."""
    return any(
        (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0) or getattr(m, "label_dropout", 0) > 0
        for m in net.modules()
    )


def split_batch(batch) -> tuple[Tensor, Tensor | None]:
    """(data, labels) from a batch that is either a tensor or a (data, labels) pair."""
    if isinstance(batch, (tuple, list)):
        data, labels = batch[0], batch[1] if len(batch) > 1 else None
        return data, labels
    return batch, None


class DiffusionModule(pl.LightningModule):
    """Trains a denoiser D(x, sigma, labels) by denoising score matching.

    Args:
        net: the network F(x_in, c_noise, labels), e.g. ``restart_lightning.networks.MLP``.
        preconditioning: edm, vp or ve (EDM paper, Table 1).
        sigma_data: the data's standard deviation (0.5 for images in [-1, 1]).
        loss: edm, vp or ve; defaults to the preconditioning's own.
        P_mean, P_std: the EDM loss's log-normal sigma distribution.
        lr: Adam learning rate after warm-up.
        lr_warmup_steps: linear learning-rate ramp-up, in optimizer steps.
        betas, eps, weight_decay: Adam(W) settings.
        ema_half_life: EMA half-life in training samples (EDM: 500k images for CIFAR-10).
        ema_rampup_ratio: EDM's EMA ramp-up (None disables it).
        predict_sampler: the sampler ``main.py predict`` uses: a registry name, a preset YAML
            file or ``{name: ..., <options>}`` (``--sampler`` on the command line overrides it).
        noise_seed: seeds the training noise (sigma and n), drawn per step from
            (noise_seed, global_step, rank) so a resumed run draws the same noise.
        on_nonfinite: what a non-finite loss or gradient does: ``raise`` stops training with
            the step and the batch's sigma range (before the optimizer step, so the last
            checkpoint stays good); ``skip`` drops that step's update and goes on.
    """

    def __init__(
        self,
        net: nn.Module,
        preconditioning: Literal["edm", "vp", "ve"] = "edm",
        sigma_data: FinitePositiveFloat = 0.5,
        loss: Literal["edm", "vp", "ve"] | None = None,
        P_mean: FiniteFloat = -1.2,
        P_std: FinitePositiveFloat = 1.2,
        lr: FinitePositiveFloat = 1e-3,
        lr_warmup_steps: NonNegativeInteger = 0,
        betas: tuple[HalfOpenUnitInterval, HalfOpenUnitInterval] = (0.9, 0.999),
        eps: FinitePositiveFloat = 1e-8,
        weight_decay: FiniteNonNegativeFloat = 0.0,
        ema_half_life: FiniteNonNegativeFloat = 500_000.0,
        ema_rampup_ratio: FinitePositiveFloat | None = 0.05,
        predict_sampler: str | dict[str, Any] = "heun",
        noise_seed: Seed = 0,
        on_nonfinite: Literal["raise", "skip"] = "raise",
        channels_last: bool = False,
        compile: bool = False,
        compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default",
    ) -> None:
        super().__init__()
        check_arguments(DiffusionModule.__init__, locals(), "model")  # the command line checked them already
        if abs(P_mean) + 6 * P_std > MAX_LOG_SIGMA:  # sigma = exp(P_mean + P_std n) must stay a float32
            raise ValueError(
                f"model.P_mean, model.P_std: {P_mean}, {P_std} draw training sigmas up to exp(|P_mean| + 6 P_std) = "
                f"exp({abs(P_mean) + 6 * P_std:.4g}); allowed: |P_mean| + 6 P_std <= {MAX_LOG_SIGMA}"
            )
        with warnings.catch_warnings():  # under LightningCLI `net` is saved as its config
            warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`.*")
            self.save_hyperparameters()
        if isinstance(self.hparams.get("net"), nn.Module):
            # Built in Python rather than from a config: keep the module out of the
            # checkpoint's hyperparameters, which must stay loadable with weights_only.
            del self.hparams["net"]
        self.model = Denoiser(net, build_preconditioning(preconditioning, sigma_data))
        self.loss_fn = build_loss(loss or preconditioning, sigma_data=sigma_data, P_mean=P_mean, P_std=P_std)
        self.ema = EMA(self.model, ema_half_life, ema_rampup_ratio)
        self.bucket_losses = SigmaBucketLoss()
        # Seeding the global RNG every step costs ~0.3 ms on a CUDA build: only where it is drawn from.
        self._seed_global_rng = uses_global_rng_in_training(net)
        self.nonfinite = NonFiniteGuard(on_nonfinite)
        self._samples_in_step, self._step_skipped = 0, False
        self.predict_sampler = parse_sampler_specs({"predict_sampler": predict_sampler}, "model")[0].sampler

    @property
    def denoiser(self) -> Denoiser:
        """The denoiser samplers should use: the EMA once it has been updated, else the live one."""
        return self.ema.module if self.ema.ready else self.model

    def forward(self, x: Tensor, sigma: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.denoiser(x, sigma, labels)

    def _noise_generator(self, step: int, stream: int) -> torch.Generator:
        seed = hash((self.hparams.noise_seed, step, stream)) & 0x7FFF_FFFF_FFFF_FFFF
        return torch.Generator(device=self.device).manual_seed(seed)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        y, labels = split_batch(batch)
        if self.hparams.channels_last and y.ndim == 4:
            y = y.contiguous(memory_format=torch.channels_last)
        generator = self._noise_generator(self.global_step, self.global_rank)
        if self._seed_global_rng:  # dropout draws from the global RNG: seeded per step, a resume is exact
            dropout_seed = hash((self.hparams.noise_seed, self.global_step, self.global_rank, 1))
            torch.manual_seed(dropout_seed & 0x7FFF_FFFF_FFFF_FFFF)
        per_sample, sigma = self.loss_fn(self.model, y, labels, generator=generator)
        loss = per_sample.mean()
        self.nonfinite.observe(loss, sigma)
        self._samples_in_step += y.shape[0]
        if self._loss_read_at(batch_idx):
            self.log("train/loss", loss, prog_bar=True)
        self.bucket_losses.update(per_sample.detach(), sigma)
        return loss

    def _loss_read_at(self, batch_idx: int) -> bool:
        """Whether anything reads this step's ``train/loss``: a logger writing this step, a progress bar,
        a callback monitoring it, or the last batch of an epoch or of the fit (``callback_metrics``).

        ``self.log`` costs ~0.5-1 ms per call on the CPU (Lightning moves its result metric to the
        device on every call), 5-8% of a toy MLP step; on the other steps nobody sees the value.
        """
        trainer = self._trainer
        connector = getattr(trainer, "_logger_connector", None)
        if trainer is None or connector is None or trainer.progress_bar_callback is not None:
            return True
        if any(getattr(callback, "monitor", None) == "train/loss" for callback in trainer.callbacks):
            return True
        if batch_idx + 1 >= trainer.num_training_batches or self.global_step + 1 >= trainer.max_steps > 0:
            return True
        return bool(trainer.loggers) and bool(connector.should_update_logs)

    def on_train_epoch_end(self) -> None:
        # Logged once per epoch from summed states: no per-step logging work for the diagnostic.
        self.log_dict(self.bucket_losses.compute())
        self.bucket_losses.reset()

    def setup(self, stage: str) -> None:
        if self.hparams.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.ema.module.to(memory_format=torch.channels_last)
        if self.hparams.compile and stage == "fit":
            # In place (nn.Module.compile): parameter names and checkpoints stay those of the eager net.
            self.model.net.compile(mode=self.hparams.compile_mode)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_finite_ema(self.ema.module, self.global_step)  # no checkpoint with NaN EMA weights
        clear_finished_epoch_sums(self, checkpoint, "bucket_losses.")  # an epoch-end checkpoint starts a new epoch

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        fill_missing_metric_states(self, checkpoint)  # checkpoints from before the epoch sums were saved

    def on_before_optimizer_step(self, optimizer) -> None:
        self._step_skipped = self.nonfinite.check(self, self.global_step)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # The EMA moves with the weights inside the optimizer step, so that a checkpoint written
        # at any batch end (by any callback) holds weights and EMA of the same step.
        if not self._step_skipped:
            self.ema.update(self.model, self._samples_in_step * self.trainer.world_size)
        self._samples_in_step, self._step_skipped = 0, False

    def _held_out_loss(self, batch, batch_idx: int) -> Tensor:
        """The loss of the evaluation denoiser with fixed noise per batch (comparable across epochs)."""
        y, labels = split_batch(batch)
        generator = self._noise_generator(-1 - batch_idx, self.global_rank)
        per_sample, _ = self.loss_fn(self.denoiser, y, labels, generator=generator)
        return per_sample.mean()

    def validation_step(self, batch, batch_idx: int) -> Tensor:
        loss = self._held_out_loss(batch, batch_idx)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)
        return loss

    def test_step(self, batch, batch_idx: int) -> Tensor:
        loss = self._held_out_loss(batch, batch_idx)
        self.log("test/loss", loss, sync_dist=True)
        return loss

    def predict_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        """Samples for the seeds in ``batch`` (global sample indices), with ``predict_sampler``;
        for class-conditional data each sample's class is drawn from its seed."""
        seeds = batch.tolist()
        datamodule = self.trainer.datamodule
        shape = tuple(datamodule.data_shape)
        # Class-conditional data: one label per sample, drawn from its seed as in the evaluation.
        labels = draw_labels(seeds, int(getattr(datamodule, "num_classes", 0)), None, self.device)
        result = self.predict_sampler(self.denoiser, seeds=seeds, shape=shape, labels=labels, device=self.device)
        return result.samples.to(torch.float32)

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = torch.optim.AdamW if hp.weight_decay > 0 else torch.optim.Adam
        # torch picks the multi-tensor (foreach) Adam on CUDA only; on the CPU it saves ~0.4 ms of a
        # toy MLP step (one call per operation for all tensors instead of one per tensor), same update.
        foreach = True if self.device.type == "cpu" else None
        opt = optimizer(self.model.parameters(), lr=hp.lr, betas=tuple(hp.betas), eps=hp.eps,
                        weight_decay=hp.weight_decay, foreach=foreach)
        warmup = max(hp.lr_warmup_steps, 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min((step + 1) / warmup, 1.0))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
