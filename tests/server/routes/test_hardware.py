"""`GET /api/v1/hardware/info`."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from litestar.testing import TestClient

from server.routes import hardware


def test_no_cuda_no_spout_on_this_machine(client: TestClient[Any]) -> None:
    response = client.get("/api/v1/hardware/info")

    assert response.status_code == 200
    assert response.json() == {"vram_gb": None, "spout_available": False}


def test_vram_is_the_total_memory_of_device_0_in_gib(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Properties:
        total_memory = 80 * 1024**3 + 512 * 1024**2

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Properties())

    assert client.get("/api/v1/hardware/info").json()["vram_gb"] == 80.5


def test_spout_needs_windows_and_an_importable_spoutgl(monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[str] = []

    def import_module(name: str) -> object:
        imported.append(name)
        raise ImportError(name)

    monkeypatch.setattr(hardware.importlib, "import_module", import_module)
    assert not hardware.spout_available()
    assert imported == [], "not even tried off Windows"

    monkeypatch.setattr(hardware.sys, "platform", "win32")
    assert not hardware.spout_available()
    assert imported == ["SpoutGL"]

    monkeypatch.setattr(hardware.importlib, "import_module", lambda name: object())
    assert hardware.spout_available()
