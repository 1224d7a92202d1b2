"""`GET /api/v1/hardware/info`: GPU memory and whether Spout can be used."""

from __future__ import annotations

import importlib
import sys

import torch
from litestar import get
from pydantic import BaseModel


class HardwareInfo(BaseModel):
    vram_gb: float | None
    """Total memory of CUDA device 0 in GiB; null without CUDA."""
    spout_available: bool
    """True on Windows when SpoutGL can be imported."""


def spout_available() -> bool:
    """Spout works on native Windows only, and only when SpoutGL can be imported."""
    if sys.platform != "win32":
        return False
    try:
        importlib.import_module("SpoutGL")
    except (ImportError, OSError):
        return False
    return True


@get("/api/v1/hardware/info", tags=["hardware"], sync_to_thread=False)
def hardware_info() -> HardwareInfo:
    vram = None
    if torch.cuda.is_available():
        vram = torch.cuda.get_device_properties(0).total_memory / 1024**3
    return HardwareInfo(vram_gb=vram, spout_available=spout_available())


routes = [hardware_info]
