"""The one configuration error: every problem names the file, the field and the fix."""

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


class ConfigError(Exception):
    """Configuration that cannot be used. Raised at start, never at run time."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def single(cls, file: Path | str, field: str, problem: str, fix: str) -> ConfigError:
        return cls([ConfigProblem(str(file), field, problem, fix)])
