"""auditor: recompute QoE metrics from raw player events and prove which pipeline is right."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("auditor")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from auditor.errors import AuditorError, ConfigError, ExitCode, InputError  # noqa: E402

__all__ = ["AuditorError", "ConfigError", "ExitCode", "InputError", "__version__"]
