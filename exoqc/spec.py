"""The release specification (``--spec FILE``, TOML): what may be released, spec limits.

One file serves release decisions and control charts::

    [release]
    alpha = 0.1                      # error rate of the conformal prediction sets
    purity_accept = ["high"]
    potency_accept = ["potent"]

    [limits.dls_z_average_nm]        # keyed by quality attribute name
    lower = 70
    upper = 130

A limit table needs at least one of ``lower`` and ``upper``; with both, ``lower < upper``.
A bad file is an :class:`~exoqc.errors.ExoqcInputError` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from exoqc.errors import ExoqcInputError


class SpecLimits(BaseModel):
    """Lower and/or upper specification limit of one quality attribute."""

    model_config = ConfigDict(extra="forbid")

    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SpecLimits:
        if self.lower is None and self.upper is None:
            raise ValueError("expected at least one of 'lower' and 'upper'")
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"expected lower < upper, got lower={self.lower:g}, "
                             f"upper={self.upper:g}")
        return self


class ReleaseSpec(BaseModel):
    """Which predicted classes may be released, at which error rate."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.1, gt=0.0, lt=1.0)
    purity_accept: list[str] = Field(default_factory=lambda: ["high"])
    potency_accept: list[str] = Field(default_factory=lambda: ["potent"])


class Spec(BaseModel):
    """A release specification: release rules and spec limits per quality attribute."""

    model_config = ConfigDict(extra="forbid")

    release: ReleaseSpec = Field(default_factory=ReleaseSpec)
    limits: dict[str, SpecLimits] = Field(default_factory=dict)


def load_spec(path: Path | None) -> Spec:
    """Read a TOML spec file; ``None`` gives the defaults (no spec limits).

    Raises
    ------
    ExoqcInputError
        The file is missing, not TOML, or a key has a wrong value; the message names the
        file and the key (``limits.dls_pdi.upper``).
    """
    if path is None:
        return Spec()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ExoqcInputError(path, f"cannot read the spec file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ExoqcInputError(path, "not a UTF-8 text file: expected a TOML spec") from None
    except tomllib.TOMLDecodeError as error:
        raise ExoqcInputError(path, f"not valid TOML: {error}") from None
    try:
        return Spec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise ExoqcInputError(path, f"key '{key}': {message}") from None
