"""The one start-up configuration error: every problem names the file, the field and the fix.

Not ``integrations.errors.ConfigurationError``: that one is raised at run time, when an outside
system refuses our credentials or a tenant's options are missing for a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file."""

    file: str
    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.problem} (fix: {self.fix})"


class SettingsError(Exception):
    """Settings, the tenants file or the secrets file cannot be used: raised at start (exit 2),
    never at run time."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def single(cls, file: Path | str, field: str, problem: str, fix: str) -> SettingsError:
        return cls([ConfigProblem(str(file), field, problem, fix)])
