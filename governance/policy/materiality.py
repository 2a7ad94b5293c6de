"""The materiality score's breakpoints (the adopted policy's ``materiality:`` section; issue 27).

The inventory of record (governance/evidence/inventory_record.py) scores each model from its
materiality drivers and complexity and *proposes* a tier; the adopted policy still assigns
it, under four eyes. The score is one point for each breakpoint a figure reaches:

- ``book_value``: the strategy's latest published book (default 1e7, 1e8, 1e9: ten million
  to a billion of client money);
- ``accounts``: accounts the book is managed for (default 10, 100);
- ``features``: model inputs (default 5, 20);
- one point for any external feature source (``sources`` 1: a vendor or another desk's data
  is a dependency to manage), and one for more than ``trials`` distinct trials on the data
  (default 100: multiple testing, Bailey & Lopez de Prado 2014).

A score of at least ``high`` proposes ``high``, at least ``medium`` ``medium``, else ``low``.
The defaults are the constants the inventory used before they were policy fields: the
shipped policy's reading of ``high`` as client money at scale.
"""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator, model_validator

from governance.ground.configio import StrictModel

__all__ = ["MaterialityPolicy"]


class MaterialityPolicy(StrictModel):
    """Breakpoints of the materiality score and the scores that propose each tier."""

    book_value: list[float] = Field(default_factory=lambda: [1e7, 1e8, 1e9])
    accounts: list[float] = Field(default_factory=lambda: [10, 100])
    features: list[float] = Field(default_factory=lambda: [5, 20])
    sources: int = Field(default=1, ge=1)  # external feature sources for one point
    trials: int = Field(default=100, ge=1)  # more distinct trials than this: one point
    high: int = Field(default=5, ge=1)
    medium: int = Field(default=3, ge=1)

    @field_validator("book_value", "accounts", "features")
    @classmethod
    def _ascending_positive(cls, steps: list[float]) -> list[float]:
        if any(s <= 0 for s in steps):
            raise ValueError("breakpoints must be positive")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("breakpoints must be strictly ascending")
        return steps

    @model_validator(mode="after")
    def _tiers_ordered(self) -> MaterialityPolicy:
        if self.medium >= self.high:
            raise ValueError(f"medium ({self.medium}) must be below high ({self.high})")
        top = len(self.book_value) + len(self.accounts) + len(self.features) + 2
        if self.high > top:
            raise ValueError(f"high ({self.high}) exceeds the highest possible score ({top})")
        return self

    def points(self, drivers: dict, complexity: dict) -> int:
        """The score of a model's drivers and complexity (module docstring)."""

        def reached(value, steps) -> int:
            return 0 if value is None else sum(value >= s for s in steps)

        return (
            reached(drivers.get("book_value"), self.book_value)
            + reached(drivers.get("accounts"), self.accounts)
            + reached(complexity.get("features"), self.features)
            + (1 if (complexity.get("sources") or 0) >= self.sources else 0)
            + (1 if (complexity.get("trials_total") or 0) > self.trials else 0)
        )

    def proposed(self, score: int) -> str:
        """The tier a score proposes."""
        return "high" if score >= self.high else "medium" if score >= self.medium else "low"
