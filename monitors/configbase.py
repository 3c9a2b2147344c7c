"""Base for every config section: strict (unknown keys are errors), immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config section. Unknown keys are rejected; values are validated on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)
