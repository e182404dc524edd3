"""Typed errors of the arf_ids core. Every error names what is wrong."""

from __future__ import annotations


class ArfIdsError(Exception):
    """Base class of every error that arf_ids raises on purpose."""


class InvalidFlowError(ArfIdsError, ValueError):
    """A flow is missing a feature, has an unknown one, or holds a non-finite value.

    >>> err = InvalidFlowError("Flow Duration", "is NaN")
    >>> str(err)
    "feature 'Flow Duration' is NaN"
    """

    def __init__(self, feature: str | None, problem: str, *, index: int | None = None) -> None:
        self.feature = feature
        self.problem = problem
        self.index = index
        where = f"flow {index}: " if index is not None else ""
        what = f"feature {feature!r} " if feature is not None else ""
        super().__init__(f"{where}{what}{problem}")


class MalformedDataError(ArfIdsError, ValueError):
    """A data file cannot be read as the format it claims to be."""

    def __init__(self, source: str, problem: str, *, column: str | None = None) -> None:
        self.source = source
        self.problem = problem
        self.column = column
        col = f" column {column!r}:" if column is not None else ""
        super().__init__(f"{source}:{col} {problem}")


class UnknownLabelError(ArfIdsError, ValueError):
    """A label is not one of the classes a model or data set knows."""

    def __init__(self, label: object, known: list[str] | tuple[str, ...]) -> None:
        self.label = label
        self.known = tuple(known)
        super().__init__(f"unknown label {label!r}; known labels: {', '.join(self.known)}")


class ClassCannotBeFilledError(ArfIdsError, ValueError):
    """The base data holds too few rows of a class for the concept-balanced merge."""

    def __init__(self, label: str, needed: int, available: int) -> None:
        self.label = label
        self.needed = needed
        self.available = available
        super().__init__(
            f"class {label!r} needs {needed} base rows for a balanced merge but the base data "
            f"has {available}; add base data or set merge.on_short_class='resample'"
        )


class ModelIntegrityError(ArfIdsError):
    """A model artifact does not match its recorded checksum or cannot be decoded."""


class RegistryError(ArfIdsError):
    """The model registry has no such model, version or alias, or cannot be reached."""
