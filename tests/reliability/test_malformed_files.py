"""Files a run reads or writes: none runs code, a bad one is refused in one line before anything is written.

Covers data (CIFAR-10 batch files, image folders), reference statistics, Inception weights,
checkpoints without optimizer state, and write failures (a full disk while a checkpoint is written,
an unwritable cache). Every refusal goes through ``assert_refused`` (see ``helpers``).
"""

from __future__ import annotations

import errno
import pathlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from restart_lightning.data.cifar10 import load_cifar10_batches
from restart_lightning.data.safe_pickle import UnsafePickleError, load_numeric_pickle
from restart_lightning.reliability import load_checkpoint_file
from tests.reliability.helpers import assert_refused, error_lines, run_cli, snapshot, tiny_args, tiny_digits_args


class WritesMarker:
    """Unpickling this object calls ``Path.touch(marker)``: what a malicious data file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = pathlib.PosixPath(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def write_cifar10(folder: Path, crafted: Path | None = None, protocol: int = 4) -> None:
    """CIFAR-10's python layout, 4 random images per file; ``crafted``: data_batch_1 runs code when unpickled."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
        if crafted is not None and name == "data_batch_1":
            batch[b"filenames"] = WritesMarker(crafted)
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)


@pytest.fixture
def crafted_cifar10(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    root = tmp_path / "cifar"
    write_cifar10(root / "cifar-10-batches-py", crafted=marker)
    with open(root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:  # the file really runs code ...
        pickle.load(f)
    assert marker.exists()
    marker.unlink()  # ... which the tests below must never let happen
    return root, marker


def cifar10_args(save_dir: Path, root: Path, *extra: str) -> list[str]:
    return tiny_digits_args(save_dir, 20, 10, "--data", "restart_lightning.data.CIFAR10DataModule",
                            "--data.init_args.root", str(root), "--model.net.init_args.in_channels", "3",
                            "--model.net.init_args.resolution", "32", *extra)


def test_crafted_cifar10_pickle_is_refused_without_running(tmp_path, crafted_cifar10):
    root, marker = crafted_cifar10
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    assert_refused(cifar10_args(tmp_path / "logs", root), ["data.root", str(batch), "not the official CIFAR-10",
                                                           "MD5"], tmp_path)
    assert not marker.exists()
    # Without the checksums (a modified copy), the numbers-only unpickler refuses it, still before any write.
    assert_refused(cifar10_args(tmp_path / "logs", root, "--data.init_args.verify_checksums", "false"),
                   ["data.root", str(batch), "pathlib", "not part of a NumPy array", "nothing was run"], tmp_path)
    assert not marker.exists()
    with pytest.raises(UnsafePickleError, match="nothing was run"):
        load_numeric_pickle(batch)
    assert not marker.exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numbers_only_unpickler_reads_the_cifar10_format(tmp_path, protocol):
    """Python 2's format (CIFAR-10's own files) is pickle protocol 2; NumPy 2 writes others."""
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder, protocol=protocol)
    images, labels = load_cifar10_batches(folder, ("data_batch_1", "test_batch"))
    with open(folder / "data_batch_1", "rb") as f:
        expected = pickle.load(f, encoding="bytes")[b"data"].reshape(-1, 3, 32, 32)
    assert torch.equal(images[:4], torch.from_numpy(expected)) and labels.tolist() == [1, 2, 3, 4] * 2


def reference_file(path: Path, mu=None, sigma=None, **extra) -> Path:
    arrays = {"mu": np.zeros(2) if mu is None else mu, "sigma": np.eye(2) if sigma is None else sigma, **extra}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def reference_cases(directory: Path) -> list[tuple[Path, list[str]]]:
    (directory / "text.npz").write_text("mu: 0\n")
    with open(directory / "pickled.npz", "wb") as f:  # an object array: loading it would unpickle
        np.savez(f, mu=np.array([WritesMarker(directory / "code_ran")], dtype=object), sigma=np.eye(2))
    return [
        (directory / "text.npz", ["not a reference statistics .npz", "pickled"]),
        (directory / "pickled.npz", ["not a reference statistics .npz of numbers", "allow_pickle=False"]),
        (reference_file(directory / "nan.npz", mu=np.array([0.0, np.nan])), ["1 non-finite value(s) in mu"]),
        (reference_file(directory / "inf.npz", sigma=np.array([[1.0, 0], [0, np.inf]])), ["non-finite", "sigma"]),
        (reference_file(directory / "asym.npz", sigma=np.array([[1.0, 0.5], [0.0, 1.0]])), ["not symmetric"]),
        (reference_file(directory / "notpsd.npz", sigma=np.array([[1.0, 2.0], [2.0, 1.0]])),
         ["not positive semi-definite", "smallest eigenvalue -1"]),
        (reference_file(directory / "dim.npz", mu=np.zeros(3), sigma=np.eye(3)), ["feature dimension 3", "2-dim"]),
        (_without_mu(directory / "nomu.npz"), ["lacks key(s) ['mu']"]),
        (reference_file(directory / "count.npz", num_samples=np.array(1)), ["num_samples = ", "integer >= 2"]),
    ]


def _without_mu(path: Path) -> Path:
    np.savez(path, sigma=np.eye(2))
    return path


def evaluation_args(save_dir: Path, yaml_dir: Path, options: str, digits: bool = False) -> list[str]:
    config = yaml_dir / f"callback_{abs(hash(options))}.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: restart_lightning.callbacks.SamplerEvaluation\n"
                      "      init_args: {samplers: {h: {name: heun, num_steps: 2}}, num_samples: 16, "
                      f"batch_size: 16, num_reference_samples: 64, {options}}}\n")
    args = (tiny_digits_args if digits else tiny_args)(save_dir, 20, 10, "--config", str(config))
    i = args.index("--trainer.callbacks")
    del args[i:i + 2]
    return args


def test_bad_reference_statistics_are_refused_before_any_write(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    for path, words in reference_cases(files):
        line = assert_refused(evaluation_args(tmp_path / "logs", files, f"reference_stats: {path}"),
                              ["SamplerEvaluation.reference_stats", str(path), *words], tmp_path)
        assert "reference_stats_path" not in line
    assert not (files / "code_ran").exists()


def test_bad_inception_weights_are_refused_before_any_write(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    (files / "weights.txt").write_text("these are not weights\n")
    (files / "empty.pth").write_bytes(b"")
    torch.save({"net": WritesMarker(files / "code_ran")}, files / "code.pth")
    torch.save({"w": torch.zeros(2)}, files / "truncated.pth")
    (files / "truncated.pth").write_bytes((files / "truncated.pth").read_bytes()[:100])
    cases = [(files / "weights.txt", "not a PyTorch weights file"), (files / "empty.pth", "is empty"),
             (files / "code.pth", "holds pickled Python objects"), (files / "truncated.pth", "truncated"),
             (files, "no weights file at"), (files / "missing.pth", "no weights file at")]
    for path, words in cases:
        options = f"feature_extractor: inception, inception_weights: {path}"
        assert_refused(evaluation_args(tmp_path / "logs", files, options, digits=True),
                       ["SamplerEvaluation.inception_weights", str(path), words], tmp_path)
    assert not (files / "code_ran").exists()


def test_weights_only_checkpoint_cannot_resume_fit(tmp_path, trained_checkpoint):
    checkpoint = load_checkpoint_file(trained_checkpoint)
    weights_only = {k: v for k, v in checkpoint.items() if k not in ("optimizer_states", "lr_schedulers", "loops")}
    torch.save(weights_only, tmp_path / "weights_only.ckpt")
    assert_refused(tiny_args(tmp_path / "logs", 30, 10, "--ckpt_path", str(tmp_path / "weights_only.ckpt")),
                   ["ckpt_path", "weights_only.ckpt", "holds no optimizer_states", "test, validate or predict"],
                   tmp_path)
    code, _, err = run_cli(tiny_args(tmp_path / "logs", 30, 10, "--ckpt_path", str(tmp_path / "weights_only.ckpt"),
                                     command="validate"))
    assert code == 0, err[-2000:]  # still good for evaluation


def test_corrupt_images_are_named_before_any_write(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "3.png").write_text("not an image\n")
    (folder / "4.png").write_bytes(b"")
    args = tiny_digits_args(tmp_path / "logs", 20, 10, "--data", "restart_lightning.data.ImageFolderDataModule",
                            "--data.init_args.root", str(folder), "--data.init_args.resolution", "8",
                            "--data.init_args.channels", "1", "--data.init_args.batch_size", "2",
                            "--model.net.init_args.num_classes", "0", "--model.net.init_args.label_dropout", "0")
    assert_refused(args, ["data.root", str(folder / "3.png"), "not a readable image", "UnidentifiedImageError"],
                   tmp_path)
    (folder / "3.png").unlink()
    assert_refused(args, ["data.root", str(folder / "4.png"), "not a readable image"], tmp_path)


def test_unwritable_reference_cache_is_refused_before_any_write(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("RESTART_LIGHTNING_CACHE", str(tmp_path / "a_file" / "cache"))
    assert_refused(evaluation_args(tmp_path / "logs", tmp_path, "feature_extractor: identity, metrics: [frechet]"),
                   ["SamplerEvaluation.reference_stats (auto", "is a file"], tmp_path)


def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    """ENOSPC in the middle of a checkpoint write: one line (exit 1), the previous last.ckpt intact, no temporary."""
    import restart_lightning.reliability.checkpoint_io as checkpoint_io

    real_save, calls = torch.save, []

    def save_until_the_disk_is_full(obj, f, *args, **kwargs):
        calls.append(obj.get("global_step"))
        if obj.get("global_step") == 20:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_io.torch, "save", save_until_the_disk_is_full)
    code, _, err = run_cli(tiny_args(tmp_path, 40, 10))
    checkpoints = tmp_path / "toy" / "version_0" / "checkpoints"
    assert code == 1, err[-2000:]
    [line] = error_lines(err)
    assert "checkpoint: cannot write" in line and "No space left on device" in line and "Traceback" not in err
    assert load_checkpoint_file(checkpoints / "last.ckpt")["global_step"] == 10
    assert not list(checkpoints.glob(".*.tmp")), snapshot(checkpoints)


def test_checkpoint_hyperparameters_are_checked_before_lightning_parses_them(tmp_path, trained_checkpoint):
    """A checkpoint trained with a value now refused (a NaN EMA half-life), or written by another class."""
    good = load_checkpoint_file(trained_checkpoint)
    cases = {"nan.ckpt": (dict(good["hyper_parameters"], ema_half_life=float("nan")),
                          ["holds hyperparameters that are refused", "model.ema_half_life", "nan", "finite"]),
             "other_class.ckpt": ({"_class_path": "other.Model", "width": 3},
                                  ["written by another model (other.Model)"]),
             "kwargs.ckpt": ({"_class_path": "restart_lightning.module.DiffusionModule", "args": 1},
                             ["hyperparameters args are not arguments of DiffusionModule"])}
    for name, (hparams, words) in cases.items():
        torch.save(dict(good, hyper_parameters=hparams), tmp_path / name)
        for command in ("fit", "test"):
            assert_refused(tiny_args(tmp_path / "logs", 30, 10, "--ckpt_path", str(tmp_path / name), command=command),
                           ["ckpt_path", name, *words], tmp_path)
