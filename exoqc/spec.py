"""The release specification (``--spec FILE``, TOML): what a lab may release, at what error.

.. code-block:: toml

    [release]
    alpha = 0.1                      # error rate of the conformal prediction sets
    purity_accept = ["high"]         # purity classes that may be released
    potency_accept = ["potent"]      # potency classes that may be released

    [limits.dls_z_average_nm]        # a quality attribute: feature-table or prediction column
    lower = 50
    upper = 150

Every key is optional; without a file the defaults above apply (no limits). A file that
cannot be used is an :class:`~exoqc.errors.ExoqcInputError` naming the file, the key and
what was expected; unknown keys are refused by name (a misspelt ``purity_acept`` must not
fall back silently to the default).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from exoqc.contracts import POTENCY_CLASSES, PURITY_CLASSES
from exoqc.errors import ExoqcInputError


class SpecLimits(BaseModel):
    """Specification limits of one quality attribute; at least one, ``lower < upper``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _one_and_ordered(self) -> SpecLimits:
        if self.lower is None and self.upper is None:
            raise ValueError("expected 'lower', 'upper' or both")
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"expected lower < upper, got lower={self.lower}, "
                             f"upper={self.upper}")
        return self


def _classes(values: list[str], allowed: tuple[str, ...], key: str) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"{key}: unknown class(es) {', '.join(map(repr, unknown))}; expected "
                         f"some of {', '.join(allowed)}")
    return values


class ReleaseSpec(BaseModel):
    """Which classes may be released, and the error rate α of the prediction sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.1, gt=0, lt=1)
    purity_accept: list[str] = ["high"]
    potency_accept: list[str] = ["potent"]

    @field_validator("purity_accept")
    @classmethod
    def _purity(cls, values: list[str]) -> list[str]:
        return _classes(values, PURITY_CLASSES, "purity_accept")

    @field_validator("potency_accept")
    @classmethod
    def _potency(cls, values: list[str]) -> list[str]:
        return _classes(values, POTENCY_CLASSES, "potency_accept")


class Spec(BaseModel):
    """A release specification: ``release`` settings and ``limits`` keyed by quality
    attribute name (a feature-table column such as ``dls_z_average_nm`` or a prediction
    column such as ``p_potent``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release: ReleaseSpec = ReleaseSpec()
    limits: dict[str, SpecLimits] = {}


def load_spec(path: Path | None) -> Spec:
    """The specification in ``path`` (TOML), or the defaults when ``path`` is None.

    Raises :class:`ExoqcInputError` naming the file, the key and what was expected.
    """
    if path is None:
        return Spec()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ExoqcInputError(path, f"cannot read the release specification "
                                    f"({error.strerror})") from None
    except UnicodeDecodeError:
        raise ExoqcInputError(path, "expected a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise ExoqcInputError(path, f"not valid TOML ({error})") from None
    try:
        return Spec.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown key '{key}'")
            else:
                message = item["msg"].removeprefix("Value error, ")
                problems.append(f"key '{key}': {message}" if key else message)
        raise ExoqcInputError(path, "; ".join(problems) + " (expected [release] alpha, "
                              "purity_accept, potency_accept and [limits.<attribute>] lower, "
                              "upper)") from None
