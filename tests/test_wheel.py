"""The package as a user installs it: build the wheel, install it into a fresh virtual environment and
run the packaged toy config from a directory outside the repository (a short run)."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("restart_lightning", "configs", "setup.py", "pyproject.toml", "README.md", "LICENSE")


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    """A wheel built from a clean copy of the sources (no stale build/ directory can leak into it)."""
    source = tmp / "source"
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, source / name)
    # The installed setuptools if there is one (offline and fast), else pip's isolated build environment.
    isolation = ["--no-build-isolation"] if _has_setuptools() else []
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(tmp / "dist"), str(source)],
        tmp, env)
    [wheel] = (tmp / "dist").glob("restart_lightning-*.whl")
    return wheel


def _has_setuptools() -> bool:
    try:
        import setuptools  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RESTART_LIGHTNING_TRACEBACK")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PIP_NO_INPUT="1")
    wheel = build_wheel(tmp, env)
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], tmp, env)
    python = venv / "bin" / "python"
    # The system's pip, run by the venv's interpreter, installs into the venv; --no-deps: the
    # dependencies come from the system site-packages.
    run([str(python), "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", str(wheel)], tmp, env)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return wheel, venv, elsewhere, env


def test_wheel_holds_the_package_configs_and_no_top_level_extras(installed):
    wheel, *_ = installed
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"restart_lightning", wheel.name.split("-py3")[0] + ".dist-info"}  # no callbacks/, tests/ ...
    assert "restart_lightning/configs/toy.yaml" in names and "restart_lightning/py.typed" in names
    assert "restart_lightning/configs/samplers/restart_toy_nfe43.yaml" in names


def test_installed_console_script_runs_the_toy_config_from_another_directory(installed):
    _, venv, elsewhere, env = installed
    where = run([str(venv / "bin" / "python"), "-c", "import restart_lightning; print(restart_lightning.__file__)"],
                elsewhere, env)
    assert str(venv) in where, where  # the installed copy, not the repository's
    out = run([str(venv / "bin" / "python"), "-m", "restart_lightning", "fit", "--help"], elsewhere, env)
    assert "--sampler" in out
    out = run([
        str(venv / "bin" / "restart-lightning"), "fit", "--config", "toy.yaml",
        "--trainer.max_steps", "20", "--trainer.check_val_every_n_epoch", "1", "--data.init_args.steps_per_epoch", "10",
        "--data.init_args.batch_size", "64", "--model.net.init_args.width", "16",
        "--trainer.callbacks.init_args.num_samples", "32", "--trainer.callbacks.init_args.batch_size", "32",
        "--trainer.callbacks.init_args.num_reference_samples", "256",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", "runs",
    ], elsewhere, env)
    run_dir = elsewhere / "runs" / "toy" / "version_0"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file(), out[-3000:]
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    restart = saved["trainer"]["callbacks"][0]["init_args"]["samplers"]["restart"]
    assert restart["name"] == "restart" and restart["restart_intervals"]  # the preset next to the packaged config
    assert re.search(r"step 20 \| restart \(restart, \d+ NFE, n=32\)", out), out[-3000:]  # the packaged preset ran
