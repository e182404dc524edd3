"""Shared fixtures: the real data sets in ../shared/data, isolated state directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Where the real data sets live (ARF_IDS_SHARED_DATA overrides ../shared/data)."""
    return Path(os.environ.get("ARF_IDS_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory; tests that need it skip with a reason when it is absent."""
    path = shared_data_dir()
    if not (path / "cic-ids2017" / "cic_0.01km.csv").exists():
        pytest.skip(f"real data not found at {path} (set ARF_IDS_SHARED_DATA to its location)")
    return path
