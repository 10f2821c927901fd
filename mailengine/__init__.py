"""mailengine: email marketing automation with YAML workflows and exactly-once delivery."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mailengine")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
