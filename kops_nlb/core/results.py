"""What each step reports: what it created, whether it changed anything, the ids a person needs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StepResult(BaseModel):
    """Outcome of one idempotent step.

    ``created`` names the parts this run made itself (``{"bucket"}``, ``{"role",
    "instance-profile"}``...): cleanup after a failed run removes exactly those. A step that only
    adjusted something that was there is ``changed`` with nothing ``created``. ``left`` marks
    something teardown could not delete; ``summary`` then says why.
    """

    model_config = ConfigDict(frozen=True)

    step: str
    changed: bool
    summary: str
    ids: dict[str, str] = Field(default_factory=dict)
    created: frozenset[str] = frozenset()
    left: bool = False

    @model_validator(mode="after")
    def _created_is_a_change(self) -> StepResult:
        if self.created and not self.changed:
            raise ValueError(f"step {self.step}: created {sorted(self.created)} but not changed")
        return self

    @property
    def verb(self) -> str:
        """'changed' or 'unchanged', for reports."""
        return "changed" if self.changed else "unchanged"
