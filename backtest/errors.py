"""Errors a user can act on. No click import here: the CLI maps these to exit codes."""

from __future__ import annotations

from dataclasses import dataclass


class BacktestError(Exception):
    """Base class: a problem the user can fix. The message names what, where, and the fix."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(BacktestError):
    """Bad command-line input (missing file, unwritable folder, ...)."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One config problem: dotted key path, what is wrong, and the YAML line (1-based) when known."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "<document>"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


class ConfigError(BacktestError):
    """The config is invalid. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem, source: str | None = None):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        n = len(self.problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} in the config:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DataError(BacktestError):
    """Market data is missing, malformed or inconsistent."""

    exit_code = 2


class NetworkError(DataError):
    """A download was needed but the network (Yahoo) could not be reached."""


class SimulationError(BacktestError):
    """The simulation could not honour the targets (reported, never silent)."""
