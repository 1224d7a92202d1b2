"""`GET /api/v1/lora/list`."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from server.settings import ServerSettings


def test_lora_files_anywhere_under_models_lora(
    client: TestClient[Any], settings: ServerSettings
) -> None:
    lora = settings.lora_dir
    (lora / "styles" / "anime").mkdir(parents=True)
    (lora / "pixar.safetensors").write_bytes(bytes(3 * 1024 * 1024))
    (lora / "styles" / "anime" / "jinx.PT").write_bytes(b"x")
    (lora / "styles" / "arcane.bin").write_bytes(b"x")
    (lora / "readme.txt").write_text("not a LoRA")

    response = client.get("/api/v1/lora/list")

    assert response.status_code == 200
    assert response.json() == {
        "lora_files": [
            {
                "name": "pixar",
                "path": str((lora / "pixar.safetensors").resolve()),
                "size_mb": 3.0,
                "folder": None,
            },
            {
                "name": "arcane",
                "path": str((lora / "styles" / "arcane.bin").resolve()),
                "size_mb": 0.0,
                "folder": "styles",
            },
            {
                "name": "jinx",
                "path": str((lora / "styles" / "anime" / "jinx.PT").resolve()),
                "size_mb": 0.0,
                "folder": "styles/anime",
            },
        ]
    }


def test_no_lora_files(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/lora/list").json() == {"lora_files": []}
