"""varnet: operational 4DVarNet mapping of sea-surface height and surface currents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("varnet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
