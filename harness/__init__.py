"""archbench: benchmark three reference architectures of one e-commerce backend."""

from __future__ import annotations

__version__ = "0.1.0"
