"""Shared fixtures: the repository root and validated copies of the shipped configs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def read_config(name: str) -> dict:
    with open(ROOT / "config" / name) as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def default_config() -> dict:
    """The default study's config as written (not yet validated)."""
    return copy.deepcopy(read_config("config.yaml"))


@pytest.fixture
def test_config() -> dict:
    """The tiny test study's config as written (not yet validated)."""
    return copy.deepcopy(read_config("test.yaml"))
