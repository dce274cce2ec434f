"""safe-install: a checked `pip install` that refuses artifacts added late to their release."""

__version__ = "0.1.0"
