from pathlib import Path

import pytest

from tests.reliability.helpers import run_cli, tiny_args


@pytest.fixture(autouse=True)
def _tiny_models_on_one_thread(one_thread):
    """One thread, as in the subprocesses these tests start (``one_thread`` in tests/conftest.py)."""


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
