"""The Wan2.1 DiT architecture, as read from a checkpoint folder's `config.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError, model_validator


class WanConfig(BaseModel):
    """DiT sizes under the native Wan `config.json` names; omitted keys take Wan's defaults."""

    # Unknown keys (`_class_name`, `_diffusers_version`, a pipeline's cache settings) are
    # ignored, as the reference filters them against the model constructor.
    model_config = ConfigDict(extra="ignore", frozen=True)

    model_type: Literal["t2v"] = "t2v"
    patch_size: tuple[PositiveInt, PositiveInt, PositiveInt] = (1, 2, 2)
    text_len: PositiveInt = 512
    in_dim: PositiveInt = 16
    dim: PositiveInt
    ffn_dim: PositiveInt
    freq_dim: PositiveInt = 256
    text_dim: PositiveInt = 4096
    out_dim: PositiveInt = 16
    num_heads: PositiveInt
    num_layers: PositiveInt
    window_size: tuple[int, int] = (-1, -1)
    qk_norm: bool = True
    cross_attn_norm: bool = True
    eps: float = 1e-6

    @model_validator(mode="after")
    def _check(self) -> WanConfig:
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        # 3D RoPE splits each head into three even parts of at least one complex channel.
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(f"head dim {self.head_dim} must be even and at least 6")
        if self.freq_dim % 2:
            raise ValueError(f"freq_dim {self.freq_dim} must be even")
        if self.patch_size[0] != 1:
            raise ValueError("the causal model caches whole latent frames: patch_size[0] must be 1")
        if self.window_size != (-1, -1):
            raise ValueError("windowed self-attention (window_size) is not supported")
        return self

    @property
    def head_dim(self) -> int:
        """Channels per attention head (128 for the published models)."""
        return self.dim // self.num_heads

    @property
    def patch_volume(self) -> int:
        """Latent values per token and channel: the product of the patch size."""
        t, h, w = self.patch_size
        return t * h * w

    @classmethod
    def from_folder(cls, folder: str | Path) -> WanConfig:
        """Read `<folder>/config.json`; errors name the file."""
        path = Path(folder) / "config.json"
        try:
            data = json.loads(path.read_text())
            return cls.model_validate(data)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no Wan config.json in this folder") from None
        except (json.JSONDecodeError, ValidationError) as error:
            raise ValueError(f"{path}: not a valid Wan DiT config: {error}") from error


WAN_T2V_1_3B = WanConfig(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)
"""`Wan-AI/Wan2.1-T2V-1.3B/config.json` (the other values are the constructor defaults)."""
WAN_T2V_14B = WanConfig(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40)
"""`Wan-AI/Wan2.1-T2V-14B/config.json`: the DiT Krea Realtime Video distils (§2.1)."""
