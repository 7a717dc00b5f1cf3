import pytest


@pytest.fixture(autouse=True)
def _tiny_models_on_one_thread(one_thread):
    """One thread, as in the subprocesses these tests start (``one_thread`` in tests/conftest.py)."""
