"""What each step reports: whether it changed anything, and the ids a person needs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StepResult(BaseModel):
    """Outcome of one idempotent step: created/updated something, or found it as wanted."""

    model_config = ConfigDict(frozen=True)

    step: str
    changed: bool
    summary: str
    ids: dict[str, str] = Field(default_factory=dict)

    @property
    def verb(self) -> str:
        """'changed' or 'unchanged', for reports."""
        return "changed" if self.changed else "unchanged"
