"""Tiny toy runs for the reliability tests: command lines, in-process and subprocess runners, probes."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[2]
TOY = str(ROOT / "configs" / "toy.yaml")
DIGITS = str(ROOT / "configs" / "digits.yaml")


def tiny_args(save_dir: Path, max_steps: int = 40, every: int = 10, *extra: str, command: str = "fit") -> list[str]:
    """``main.py fit`` on the toy config with a 16-wide MLP and small batches, no sampler evaluation."""
    return [
        command, "--config", TOY,
        "--trainer.callbacks", "[]",
        "--trainer.max_steps", str(max_steps),
        "--trainer.log_every_n_steps", "1",
        "--trainer.check_val_every_n_epoch", "2",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.logger.init_args.save_dir", str(save_dir),
        "--model.net.init_args.width", "16",
        "--model.net.init_args.depth", "2",
        "--data.init_args.batch_size", "64",
        "--data.init_args.steps_per_epoch", "50",
        "--data.init_args.num_val_samples", "256",
        "--checkpoint.every_n_train_steps", str(every),
        *extra,
    ]


def tiny_digits_args(save_dir: Path, max_steps: int = 40, every: int = 10, *extra: str,
                     command: str = "fit") -> list[str]:
    """``main.py fit`` on the digits config with a tiny U-Net (~15k parameters), no sampler evaluation."""
    return [
        command, "--config", DIGITS,
        "--trainer.callbacks", "[]",
        "--trainer.max_steps", str(max_steps),
        "--trainer.log_every_n_steps", "1",
        "--trainer.val_check_interval", "null",
        "--trainer.check_val_every_n_epoch", "100",
        "--trainer.num_sanity_val_steps", "0",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.logger.init_args.save_dir", str(save_dir),
        "--model.net.init_args.base_channels", "8",
        "--model.net.init_args.channel_mult", "[1, 2]",
        "--model.net.init_args.attn_resolutions", "[]",
        "--data.init_args.batch_size", "64",
        "--checkpoint.every_n_train_steps", str(every),
        *extra,
    ]


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``restart_lightning.cli.main(args)`` in this process: (exit code, stdout, stderr)."""
    from restart_lightning.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# Bounds every refused case must stay within: refusals come before any real work.
REFUSAL_SECONDS = 20.0
REFUSAL_MEMORY_BYTES = 512 << 20  # growth of the test process's peak resident memory


def watched_directories(*extra: Path) -> list[Path]:
    """Where a refused run must not write: the given directories, the repository root and the cache."""
    return [*extra, ROOT, Path(os.environ.get("RESTART_LIGHTNING_CACHE", ROOT / ".cache"))]


def snapshots(directories: list[Path]) -> list[dict[str, tuple[int, int]]]:
    """``snapshot`` of each directory; the repository root without the folders tests and tools use."""
    taken = []
    for directory in directories:
        files = snapshot(directory) if directory != ROOT else {
            str(p.relative_to(ROOT)): (p.stat().st_size, p.stat().st_mtime_ns) for p in ROOT.iterdir()
            if p.name not in (".git", ".pytest_cache", ".ruff_cache", "__pycache__")}
        taken.append(files)
    return taken


def assert_refused(args: list[str], words: list[str], *dirs: Path, code: int = 2) -> str:
    """Run the CLI in this process on ``args`` and check the refusal: exit ``code``, exactly one
    ``error:`` line holding every word of ``words`` (the field, the value, what is allowed), no
    traceback, no new or changed file in ``dirs``, the repository or the cache, and bounded time
    and memory. Returns the error line."""
    watched = watched_directories(*dirs)
    before = snapshots(watched)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.monotonic()
    got, out, err = run_cli(args)
    seconds = time.monotonic() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
    assert got == code, (got, args, out[-2000:], err[-2000:])
    lines = error_lines(err)
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err + out, err[-3000:]
    missing = [w for w in words if w not in lines[0]]
    assert not missing, (missing, lines[0])
    after = snapshots(watched)
    changed = [sorted(set(a.items()) ^ set(b.items())) for a, b in zip(before, after, strict=True) if a != b]
    assert not changed, f"a refused run wrote or changed files: {changed}"
    assert seconds < REFUSAL_SECONDS, f"refusing took {seconds:.1f} s"
    assert grown < REFUSAL_MEMORY_BYTES, f"refusing grew the peak memory by {grown >> 20} MiB"
    return lines[0]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RESTART_LIGHTNING_TRACEBACK", None)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def start_main(args: list[str], log: Path) -> subprocess.Popen:
    """``python main.py <args>`` from the repository root, stdout+stderr into ``log``."""
    handle = open(log, "wb")
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=subprocess_env(),
                            stdout=handle, stderr=subprocess.STDOUT)


def run_main(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)


def run_main_with_peak_memory(args: list[str], timeout: float = 240) -> tuple[subprocess.CompletedProcess, int]:
    """``python main.py args`` and that process's peak resident memory in KiB.

    The peak is the largest ``VmHWM`` of ``/proc/<pid>/status`` seen while polling every 10 ms (the
    high-water mark of the program after ``exec``). ``ru_maxrss`` cannot be used: a child forked from a
    large pytest process inherits the parent's peak at the fork, and ``RUSAGE_CHILDREN`` is the largest
    of every child so far.
    """
    peak = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=subprocess_env(),
                                   stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                peak = max(peak, *(int(line.split()[1]) for line in status.read_text().splitlines()
                                   if line.startswith("VmHWM:")))
            except (OSError, ValueError, TypeError):  # exiting (a zombie has no VmHWM)
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"python main.py {' '.join(args)} ran over {timeout} s")
            time.sleep(0.01)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read()), peak


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    """Poll until ``path`` exists (fails if the process ends first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended (code {process.returncode}) before {path} appeared")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.005)


def scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of every TensorBoard scalar in ``run_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: {e.step: e.value for e in accumulator.Scalars(tag)} for tag in accumulator.Tags()["scalars"]}


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime) of every file below ``directory``."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def max_abs_difference(a, b) -> float:
    """The largest |a - b| over matching tensors of two nested dicts/lists (asserts equal structure)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, (a, b)
        return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
    if isinstance(a, dict):
        assert set(a) == set(b), set(a) ^ set(b)
        return max([max_abs_difference(a[k], b[k]) for k in a] or [0.0])
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        return max([max_abs_difference(x, y) for x, y in zip(a, b)] or [0.0])
    assert a == b, (a, b)
    return 0.0


# ------------------------------------------------------------------ callbacks given by class_path
class SignalAtStep(Callback):
    """Sends ``signal_name`` to this process at the end of training step ``step``."""

    def __init__(self, step: int = 5, signal_name: str = "SIGUSR1") -> None:
        self.step, self.signal_name = step, signal_name

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), getattr(signal, self.signal_name))


class NaNGradientAtStep(Callback):
    """Makes the first gradient non-finite at optimizer step ``step`` (after backward)."""

    def __init__(self, step: int = 5) -> None:
        self.step = step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == self.step:
            next(p for p in pl_module.parameters() if p.grad is not None).grad.fill_(float("nan"))


class RecordSignalHandler(Callback):
    """Records the SIGUSR1 handler seen during training (Lightning's under SLURM, ours elsewhere)."""

    handler = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        RecordSignalHandler.handler = signal.getsignal(signal.SIGUSR1)


class SignalDuringValidation(Callback):
    """Sends SIGTERM to this process in the middle of the validation after training step ``step``."""

    def __init__(self, step: int = 50) -> None:
        self.step = step

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 1 and not trainer.sanity_checking and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)
