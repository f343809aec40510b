"""Shared fixtures: the two shipped places, loaded once per test session."""

from pathlib import Path

import pytest

from sim.config import load

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.fixture(scope="session")
def small():
    """The small test place (configs/small.yaml)."""
    return load(CONFIGS / "small.yaml")


@pytest.fixture(scope="session")
def bnes():
    """The default place (configs/bnes.yaml)."""
    return load(CONFIGS / "bnes.yaml")
