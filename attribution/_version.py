"""The installed version, read from the package's metadata so it is written down once (pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: What ``__version__`` says when the package runs from a source tree that was never installed.
UNKNOWN = "0+unknown"


def package_version(distribution: str = "asgi-attribution") -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN
