"""Commands of ``safe-install-tool``; one module per command (see :mod:`safeinstall.tool`)."""
