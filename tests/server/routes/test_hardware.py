"""`GET /api/v1/hardware/info`."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from litestar.testing import TestClient
from spout_standin import FakeSpout


def test_no_cuda_no_spout_on_this_machine(client: TestClient[Any], no_spout: None) -> None:
    response = client.get("/api/v1/hardware/info")

    assert response.status_code == 200
    assert response.json() == {"vram_gb": None, "spout_available": False}


def test_spout_is_available_where_spoutgl_imports(
    client: TestClient[Any], spout: FakeSpout
) -> None:
    assert client.get("/api/v1/hardware/info").json()["spout_available"] is True


def test_vram_is_the_total_memory_of_device_0_in_gib(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Properties:
        total_memory = 80 * 1024**3 + 512 * 1024**2

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Properties())

    assert client.get("/api/v1/hardware/info").json()["vram_gb"] == 80.5
