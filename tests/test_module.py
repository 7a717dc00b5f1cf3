"""DiffusionModule: training lowers the loss, the EMA is used only once updated and is saved."""

import lightning.pytorch as pl
import torch

from restart_lightning.data import ToyDataModule
from restart_lightning.ema import EMA
from restart_lightning.module import DiffusionModule
from restart_lightning.networks import MLP


def make_module(**kwargs) -> DiffusionModule:
    defaults = dict(net=MLP(width=32, depth=2), sigma_data=1.4, lr=3e-3, ema_half_life=2000)
    return DiffusionModule(**{**defaults, **kwargs})


def held_out_loss(module: DiffusionModule, denoiser) -> float:
    y = ToyDataModule(name="grid").reference_samples(4096)
    with torch.no_grad():
        per_sample, _ = module.loss_fn(denoiser, y, generator=torch.Generator().manual_seed(0))
    return float(per_sample.mean())


def fit(module, tmp_path, steps=150, **trainer_kwargs):
    trainer = pl.Trainer(
        max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        default_root_dir=tmp_path, **trainer_kwargs,
    )
    trainer.fit(module, ToyDataModule(name="grid", batch_size=256, steps_per_epoch=50))
    return trainer


def test_short_training_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    module = make_module()
    before = held_out_loss(module, module.model)
    fit(module, tmp_path)
    after = held_out_loss(module, module.model)
    # The EDM-weighted loss has an irreducible floor near 1 on this data; untrained it is ~1.4.
    assert after < 0.85 * before, (before, after)
    assert held_out_loss(module, module.denoiser) < 0.9 * before


def test_ema_is_not_used_before_its_first_update():
    module = make_module()
    assert module.denoiser is module.model
    module.ema.update(module.model, 256)
    assert module.denoiser is module.ema.module


def test_ema_follows_the_half_life():
    net = torch.nn.Linear(1, 1, bias=False)
    ema = EMA(net, half_life=100.0, rampup_ratio=None)
    with torch.no_grad():
        net.weight.fill_(1.0)
        ema.module.weight.fill_(0.0)
    for _ in range(10):  # 10 updates of 10 samples = one half-life: halfway to the target
        ema.update(net, 10)
    assert float(ema.module.weight) == torch.tensor(0.5).item()


def test_ema_rampup_forgets_the_initial_weights_quickly():
    net = torch.nn.Linear(1, 1, bias=False)
    ema = EMA(net, half_life=1e6, rampup_ratio=0.05)
    # First update: half-life = 0.05 * 100 = 5 samples < 100, so beta = 0.5 ** 20.
    assert ema.beta(100) == 0.5**20


def test_ema_and_counters_are_in_the_checkpoint(tmp_path):
    module = make_module()
    trainer = fit(module, tmp_path, steps=5)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert int(state["ema.num_updates"]) == 5
    restored = DiffusionModule.load_from_checkpoint(path, net=MLP(width=32, depth=2), weights_only=True)
    for a, b in zip(restored.ema.parameters(), module.ema.parameters()):
        assert torch.equal(a, b)
    assert restored.denoiser is restored.ema.module


def test_lr_warms_up_linearly(tmp_path):
    module = make_module(lr=1e-2, lr_warmup_steps=10)
    trainer = fit(module, tmp_path, steps=4)
    assert trainer.optimizers[0].param_groups[0]["lr"] == 1e-2 * 5 / 10


def test_channels_last_and_compile_options_prepare_the_network_for_fit():
    from restart_lightning.networks import UNet

    net = UNet(resolution=8, in_channels=1, base_channels=8, channel_mult=[1], num_blocks=1, attn_resolutions=[],
               dropout=0.0)
    module = DiffusionModule(net=net, channels_last=True, compile=True)
    module.setup("fit")
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert module.model.net._compiled_call_impl is not None  # nn.Module.compile: in place
    assert module.ema.module.net._compiled_call_impl is None  # the sampling copy stays eager
    assert all(not k.startswith("model.net._orig_mod") for k in module.state_dict())  # checkpoints unchanged


def test_dropout_free_networks_leave_the_global_rng_alone():
    """The training noise has its own generator; the global RNG is re-seeded per step only for dropout."""
    torch.manual_seed(123)
    untouched = torch.rand(1)
    module, batch = make_module(), torch.randn(8, 2)
    torch.manual_seed(123)
    module.training_step(batch, 0)
    assert torch.equal(torch.rand(1), untouched)


def test_networks_that_draw_from_the_global_rng_are_recognised():
    from restart_lightning.module import uses_global_rng_in_training
    from restart_lightning.networks import UNet

    small = dict(resolution=8, in_channels=1, base_channels=8, channel_mult=[1], num_blocks=1, attn_resolutions=[])
    assert not uses_global_rng_in_training(MLP(width=8, depth=1))
    assert not uses_global_rng_in_training(UNet(**small, dropout=0.0))
    assert uses_global_rng_in_training(UNet(**small, dropout=0.1))
    assert uses_global_rng_in_training(UNet(**small, dropout=0.0, num_classes=10, label_dropout=0.1))


def test_predict_draws_each_class_label_from_the_sample_seed():
    """Class-conditional models predict with the labels the evaluation would draw for those seeds."""
    from types import SimpleNamespace

    from restart_lightning.data import DigitsDataModule
    from restart_lightning.networks import UNet

    net = UNet(resolution=8, in_channels=1, base_channels=8, channel_mult=[1], num_blocks=1, attn_resolutions=[],
               dropout=0.0, num_classes=10)
    module = DiffusionModule(net=net, predict_sampler={"name": "euler", "num_steps": 2})
    module._trainer = SimpleNamespace(datamodule=DigitsDataModule())
    seen = []
    module.model.net.register_forward_pre_hook(lambda m, args: seen.append(args[2].clone()))
    module.ema.module.net.register_forward_pre_hook(lambda m, args: seen.append(args[2].clone()))
    samples = module.predict_step(torch.tensor([3, 4, 5]), 0)
    assert samples.shape == (3, 1, 8, 8)
    # The label stream, written out: a CPU generator seeded by seed ^ 0x4C414245_4C53, one randint each.
    expected = torch.tensor([int(torch.randint(10, (1,), generator=torch.Generator().manual_seed(s ^ 0x4C41_4245_4C53)))
                             for s in (3, 4, 5)])
    assert seen and all(torch.equal(s, expected) for s in seen)
