"""SkyDriver: the REST service that runs IceCube's Skymap Scanner sky scans (see README.md)."""

from importlib.metadata import version

__version__ = version("skydriver")  # declared once, in pyproject.toml
