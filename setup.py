"""Packaging details pyproject.toml cannot express: the repository's configs/ ship inside the wheel.

Everything else (name, dependencies, entry points) is in pyproject.toml. ``configs/`` stays at the
top of the repository, where the README's commands and the tests use it, and is installed as
package data ``restart_lightning/configs/`` (found by ``restart_lightning.config_files``).
"""

from setuptools import find_packages, setup

CONFIG_PACKAGES = {"restart_lightning.configs": "configs", "restart_lightning.configs.samplers": "configs/samplers"}

setup(
    packages=find_packages(include=["restart_lightning", "restart_lightning.*"]) + list(CONFIG_PACKAGES),
    package_dir=CONFIG_PACKAGES,
    package_data={"restart_lightning": ["py.typed"], **{name: ["*.yaml"] for name in CONFIG_PACKAGES}},
)
