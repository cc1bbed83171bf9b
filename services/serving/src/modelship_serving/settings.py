"""Settings of the model server, read from ``MODELSHIP_*`` environment variables."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from pydantic import Field

from modelship_common.settings import BaseServiceSettings


def _default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "modelship-models"


class ServingSettings(BaseServiceSettings):
    """What one model server needs besides its command line (which names the model and the ports)."""

    max_image_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    """Largest accepted encoded image (PNG/JPEG/GIF) in bytes; larger images get a 400."""

    prefer_onnx: bool = True
    """Serve the verified ONNX export with onnxruntime when the version has one."""

    model_cache_dir: Path = Field(default_factory=_default_cache_dir)
    """Where downloaded model artifacts and the registry facts of pinned versions are kept."""

    onnx_threads: int = Field(default=1, ge=0)
    """onnxruntime intra-op threads (0 = one per core)."""

    fast_path: bool = True
    """Answer the two JSON inference routes with the lean front (false: kserve's FastAPI app for everything)."""

    access_log: bool = False
    """Log one line per HTTP request (uvicorn access log and kserve timing lines)."""


@lru_cache(maxsize=1)
def get_settings() -> ServingSettings:
    """The process-wide settings, read from the environment on first use."""
    return ServingSettings()
