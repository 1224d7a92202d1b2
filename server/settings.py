"""Where the server keeps things, from the environment variables Scope users already set."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from scope_graph.model_store import default_models_dir, env_path, scope_home

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GRAPH = ROOT / "graphs" / "default.yaml"
GRAPH_VARIABLE = "SCOPE_GRAPH_SERVER_GRAPH"
"""The graph behind the API when none is given (`serve --graph` sets it for `--reload`)."""


class ServerSettings(BaseModel):
    """Folders and the graph behind the API. `from_env` reads the Scope environment variables."""

    model_config = ConfigDict(frozen=True)

    models_dir: Path
    logs_dir: Path
    graph_path: Path = DEFAULT_GRAPH
    prewarm_pipeline: str | None = None
    verbose_logging: bool = False
    hf_endpoint: str | None = None
    """Where models are downloaded from; None: huggingface.co (or `HF_ENDPOINT`)."""

    @property
    def assets_dir(self) -> Path:
        """Scope keeps user assets beside the models folder, with no variable of its own."""
        return self.models_dir.parent / "assets"

    @property
    def lora_dir(self) -> Path:
        return self.models_dir / "lora"

    @property
    def recordings_dir(self) -> Path:
        """Session recordings (`/api/v1/sessions/{id}/recording`), beside the logs."""
        return self.logs_dir / "recordings"

    @classmethod
    def from_env(cls, graph_path: Path | None = None) -> ServerSettings:
        return cls(
            models_dir=default_models_dir(),
            logs_dir=env_path("DAYDREAM_SCOPE_LOGS_DIR", scope_home() / "logs"),
            graph_path=graph_path or env_path(GRAPH_VARIABLE, DEFAULT_GRAPH),
            prewarm_pipeline=os.environ.get("PIPELINE") or None,
            verbose_logging=bool(os.environ.get("VERBOSE_LOGGING")),
            hf_endpoint=os.environ.get("HF_ENDPOINT") or None,
        )

    def ensure_dirs(self) -> None:
        for folder in (
            self.models_dir,
            self.lora_dir,
            self.assets_dir,
            self.logs_dir,
            self.recordings_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
