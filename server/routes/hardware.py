"""`GET /api/v1/hardware/info`: GPU memory and whether Spout can be used."""

from __future__ import annotations

import torch
from litestar import get
from pydantic import BaseModel

from nodes.spout import spout_available


class HardwareInfo(BaseModel):
    vram_gb: float | None
    """Total memory of CUDA device 0 in GiB; null without CUDA."""
    spout_available: bool
    """True where SpoutGL can be imported (Windows with the SpoutGL package)."""


@get("/api/v1/hardware/info", tags=["hardware"], sync_to_thread=False)
def hardware_info() -> HardwareInfo:
    vram = None
    if torch.cuda.is_available():
        vram = torch.cuda.get_device_properties(0).total_memory / 1024**3
    return HardwareInfo(vram_gb=vram, spout_available=spout_available())


routes = [hardware_info]
