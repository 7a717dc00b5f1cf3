"""A new run never writes into an earlier run's directory; ``test`` gets a directory of its own."""

from __future__ import annotations

from tests.reliability.helpers import run_cli, snapshot, tiny_args


def test_test_command_writes_into_its_own_new_directory(trained_run, trained_checkpoint, tmp_path):
    save_dir = tmp_path / "logs"
    (save_dir / "toy").mkdir(parents=True)
    (save_dir / "toy" / "version_0").symlink_to(trained_checkpoint.parents[1], target_is_directory=True)
    before = snapshot(trained_run)
    evaluation = ["--trainer.callbacks+=callbacks.SamplerEvaluation", "--trainer.callbacks.num_samples=64",
                  "--trainer.callbacks.batch_size=64", "--trainer.callbacks.num_reference_samples=256",
                  "--trainer.callbacks.samplers={h: {name: heun, num_steps: 2}}"]
    for expected in ("version_1", "version_2"):  # twice: the second run must not clobber the first
        code, _, err = run_cli(tiny_args(save_dir, 20, 10, "--ckpt_path", "last", *evaluation, command="test"))
        assert code == 0, err[-3000:]
        run = save_dir / "toy" / expected
        assert (run / "config.yaml").is_file() and (run / "samples" / "h" / "samples.npz").is_file()
        assert not (run / "checkpoints").exists()
    assert snapshot(trained_run) == before
