"""Data tests never touch the user's frame cache or data folder."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("ASYNCSIM_CACHE_DIR", str(tmp_path / "frame-cache"))
    monkeypatch.delenv("ASYNCSIM_DATA_DIR", raising=False)
