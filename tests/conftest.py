import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # main.py and callbacks/ live at the repository root
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Weights and reference statistics go to a temporary cache, never the user's (nor torch hub's)."""
    os.environ["RESTART_LIGHTNING_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["TORCH_HOME"] = str(tmp_path_factory.mktemp("torch_home"))


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other jobs for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A finished 20-step toy run of ``tests/reliability/helpers.tiny_args``, shared by every test that needs
    one: ``<save_dir>/toy/version_0/checkpoints/last.ckpt`` (returns save_dir)."""
    from tests.reliability.helpers import run_cli, tiny_args

    save_dir = tmp_path_factory.mktemp("trained")
    code, _, err = run_cli(tiny_args(save_dir, 20, 10))
    assert code == 0, err
    return save_dir


@pytest.fixture(scope="session")
def trained_checkpoint(trained_run) -> Path:
    return trained_run / "toy" / "version_0" / "checkpoints" / "last.ckpt"
