"""--num_threads: one thread for small models on the CPU unless the user says otherwise."""

from restart_lightning.threads import SMALL_MODEL_PARAMETERS, chosen_threads
from tests.reliability.helpers import run_cli


def test_auto_means_one_thread_for_small_cpu_models(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert chosen_threads("auto", on_cpu=True, num_parameters=118_000) == 1
    assert chosen_threads("auto", on_cpu=True, num_parameters=SMALL_MODEL_PARAMETERS) is None  # torch's default
    assert chosen_threads("auto", on_cpu=False, num_parameters=1000) is None  # GPU runs are left alone
    assert chosen_threads(3, on_cpu=True, num_parameters=1000) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert chosen_threads("auto", on_cpu=True, num_parameters=1000) is None  # the environment's choice


def test_bad_thread_count_is_refused_in_one_line():
    for value in ("0", "-2"):
        code, _, err = run_cli(["fit", "--config", "toy.yaml", "--num_threads", value, "--trainer.logger", "false"])
        assert code == 2 and err.count("\n") == 1
        assert err == f"error: num_threads: invalid value {value}; allowed values: auto or an integer >= 1\n"
