"""``ModelRef``: one registered model version, its name and its version *number*.

MLflow's registry numbers a model's versions 1, 2, 3 ... but hands them back as strings, the
CLI reads them as integers, and the ledger's subjects and payloads spell them either way
(``model:<name>/v<N>``; ``model_version`` is a string in some recorded payloads and a number
in others: the recorded forms stay as they are). A ``ModelRef`` is the one value code passes
around instead of a name and a version that is a number here and a string there: the version is an ``int`` once, at the
boundary (:meth:`ModelRef.parse`), and every comparison is between integers.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.ground.errors import InputError
from governance.ground.vocabulary import Subject


@dataclass(frozen=True, order=True)
class ModelRef:
    """A registered model version.

    Parameters
    ----------
    name : str
        The registered model's name (the strategy).
    version : int
        Its version number, >= 1. The constructor takes an ``int`` only (anything else is a
        bug: a ``TypeError``); input from outside (the registry's strings, a subject, a
        payload) goes through :meth:`of`.
    """

    name: str
    version: int

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise TypeError(f"ModelRef.version must be an int, not {type(self.version).__name__}")
        if self.version < 1:
            raise ValueError(f"ModelRef.version must be >= 1, not {self.version}")

    @staticmethod
    def number(raw: int | str) -> int:
        """A version number read from outside: a number or its decimal string (``3``,
        ``"3"``; a registry's ``ModelVersion.version``, a payload's ``model_version``, a
        ``--model-version`` argument). The one parser of a version.

        Raises
        ------
        InputError
            ``raw`` is not a positive whole number (exit 2, naming it).
        """
        text = str(raw).strip()
        if isinstance(raw, bool) or not text.isdecimal() or int(text) < 1:
            raise InputError(f"model version: {raw!r} is not a version number (1, 2, ...)")
        return int(text)

    @classmethod
    def parse(cls, name: str, raw: int | str) -> ModelRef:
        """The ref of ``name`` at version ``raw`` as it crosses a boundary (:meth:`number`).

        Raises
        ------
        InputError
            ``raw`` is not a positive whole number (exit 2, naming it).
        """
        return cls(str(name), cls.number(raw))

    @classmethod
    def recorded(cls, name: str, raw) -> ModelRef | None:
        """The ref a recorded payload names (its ``model_name``, ``model_version``); None
        when that version is no version number (a forged entry: readers skip it, never fail)."""
        number = cls.recorded_number(raw)
        return None if number is None else cls(str(name), number)

    @classmethod
    def recorded_number(cls, raw) -> int | None:
        """The version number a record spells (a payload's, a signed document's, a registry
        alias's); None when it is no version number (readers skip it, never fail)."""
        try:
            return cls.number(raw)
        except InputError:
            return None

    @classmethod
    def from_subject(cls, subject: str | None) -> ModelRef | None:
        """The ref a ``model:<name>/v<N>`` subject names; None for any other subject
        (a model without a version included)."""
        parsed = Subject.parse_model(subject)
        if parsed is None or parsed[1] is None:
            return None
        return cls.parse(*parsed)

    @property
    def version_text(self) -> str:
        """The version as MLflow's registry hands it back and as signed documents, registry
        tags and the payloads that always did record it: its decimal string (``"3"``). The
        one place a version number is spelled as text again."""
        return str(self.version)

    @property
    def mlflow(self) -> tuple[str, str]:
        """``(name, version)`` as MLflow's client takes them (``get_model_version(*ref.mlflow)``)."""
        return self.name, self.version_text

    @property
    def subject(self) -> str:
        """``model:<name>/v<N>`` (``governance.ground.vocabulary.Subject.model``)."""
        return Subject.model(self.name, self.version)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
