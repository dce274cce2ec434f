"""One exception root for everything safe-install reports to a user.

Library code raises these; only :mod:`safeinstall.cli` turns them into messages and exit codes.
Every message names the input that caused it and says what to do.
"""

from __future__ import annotations

#: Exit codes, documented in docs/reference.md.
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INDEX = 3
EXIT_PIP = 4
#: the run's outcome stands (see the message: installed or not), but ``--report`` could not be
#: written
EXIT_REPORT = 5
#: an unexpected internal error (a bug; EX_SOFTWARE); the message says whether anything was
#: installed
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_BROKEN_PIPE = 141  # standard output was closed early (``| head``): 128 + SIGPIPE
EXIT_TERMINATED = 143  # SIGTERM


class SafeInstallError(Exception):
    """Root of all errors safe-install reports; ``exit_code`` says how the command ends."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(SafeInstallError):
    """A bad option, argument or configuration value (exit 2)."""

    exit_code = EXIT_USAGE


class RequirementError(UsageError):
    """A requirement or requirement file that cannot be read or parsed (exit 2)."""


class ResolutionError(SafeInstallError):
    """No set of artifacts satisfies the requirements (exit 2)."""

    exit_code = EXIT_USAGE


class IndexAccessError(SafeInstallError):
    """An index, find-links location or file could not be read (exit 3)."""

    exit_code = EXIT_INDEX


class IntegrityError(SafeInstallError):
    """Downloaded bytes do not match the expected hash (exit 3)."""

    exit_code = EXIT_INDEX


class PolicyRefusal(SafeInstallError):
    """The policy refused at least one artifact (exit 1)."""

    exit_code = EXIT_REFUSED


class ReportError(SafeInstallError):
    """``--report`` could not be written after the run (exit 5; the message says whether the
    checked artifacts were installed)."""

    exit_code = EXIT_REPORT


class PipError(SafeInstallError):
    """pip itself failed while installing checked artifacts (exit 4)."""

    exit_code = EXIT_PIP
