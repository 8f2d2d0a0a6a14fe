"""exoqc: quality of exosome (small EV) preparations from their characterization data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exoqc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
