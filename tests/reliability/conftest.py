from pathlib import Path

import pytest
import torch

from tests.reliability.helpers import run_cli, tiny_args


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is faster than several on a shared machine (and matches the subprocesses)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A finished 20-step toy run: ``<save_dir>/toy/version_0/checkpoints/last.ckpt`` (returns save_dir)."""
    save_dir = tmp_path_factory.mktemp("trained")
    code, _, err = run_cli(tiny_args(save_dir, 20, 10))
    assert code == 0, err
    return save_dir


@pytest.fixture(scope="session")
def trained_checkpoint(trained_run) -> Path:
    return trained_run / "toy" / "version_0" / "checkpoints" / "last.ckpt"
