"""musefuse: multi-modal fusion for continuous emotion recognition with auto-encoder difficulty indicators."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("musefuse")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
