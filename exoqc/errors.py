"""Typed errors for bad input.

Every error about a user's file says which file, where in it (line or record) and what
was expected, so a scientist can fix the export without reading code.

The commands turn :class:`ExoqcInputError` (and its subclasses) into a one-line message and
exit status 1, and nothing else: any other exception is a bug and keeps its traceback. Code
that finds a problem in what the user gave (a file, a folder, a label column, an option, an
environment variable) raises one of these, never a bare ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Place:
    """A place of the input named inside a message: a file (or folder), or a line of it."""

    file: str
    line: int | None = None


class Places:
    """How a run names the places of its input: by default the files and lines of a prep
    dataset folder. An engine whose input is something else (Spark tables: a table and a
    record) names them in its own terms by overriding :meth:`file` and :meth:`line`."""

    def file(self, file: str) -> str:
        """The file as the start of a problem's place (``preps.csv``)."""
        return file

    def line(self, file: str, line: int) -> str:
        """A line of ``file`` (``line 3``)."""
        return f"line {line}"

    def mention(self, place: Place) -> str:
        """A place named inside a message: a file or folder as written, a line as
        ``on line 3``."""
        return place.file if place.line is None else f"on {self.line(place.file, place.line)}"


FOLDER_PLACES = Places()


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in an input folder.

    ``prep_id`` is set when the problem belongs to one preparation: in batch work only
    that preparation fails. ``severity`` is ``"error"`` (the prep cannot be used) or
    ``"warning"`` (the prep is used, the scientist should know).
    """

    file: str
    message: str
    line: int | None = None
    column: str | None = None
    prep_id: str | None = None
    severity: str = "error"
    parts: tuple[str | Place, ...] = ()
    """The message as text and places (:meth:`of`), for :meth:`describe` in other terms;
    empty when the message names no place."""
    code: str | None = None
    """What kind of problem, for code that acts on one kind (``exoqc.preps.DUPLICATE_PREP_ID``);
    ``None`` for the rest, which are only reported."""

    @classmethod
    def of(cls, file: str, *parts: str | Place, line: int | None = None,
           column: str | None = None, prep_id: str | None = None,
           severity: str = "error", code: str | None = None) -> Problem:
        """A problem whose message names places of the input (``Place``), kept typed."""
        return cls(file, _text(parts, FOLDER_PLACES), line=line, column=column,
                   prep_id=prep_id, severity=severity, parts=parts, code=code)

    def describe(self, places: Places = FOLDER_PLACES) -> str:
        """The problem as a user reads it, its places named by ``places``."""
        where = places.file(self.file)
        if self.line is not None:
            where += f", {places.line(self.file, self.line)}"
        if self.column is not None:
            where += f", column '{self.column}'"
        text = _text(self.parts, places) if self.parts else self.message
        return f"{where}: {text}"

    def placed(self, places: Places) -> Problem:
        """The same problem with its place and message in the terms of ``places``."""
        if places is FOLDER_PLACES:
            return self
        where = places.file(self.file)
        if self.line is not None:
            where += f", {places.line(self.file, self.line)}"
        text = _text(self.parts, places) if self.parts else self.message
        return replace(self, file=where, line=None, message=text, parts=())

    def __str__(self) -> str:
        return self.describe()


def _text(parts: tuple[str | Place, ...], places: Places) -> str:
    return "".join(p if isinstance(p, str) else places.mention(p) for p in parts)


class ExoqcInputError(ValueError):
    """Input that exoqc cannot use, with the place it was found."""

    def __init__(
        self,
        file: str | Path,
        message: str,
        *,
        line: int | None = None,
        record: str | int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = str(file)
        self.line = line
        self.record = record
        self.column = column
        self.detail = message
        where = self.file
        if line is not None:
            where += f", line {line}"
        if record is not None:
            where += f", record {record}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


class DatasetError(ExoqcInputError):
    """A prep dataset folder that cannot be used as a whole (training needs all of it)."""

    def __init__(self, root: str | Path, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(root, f"{len(problems)} problem(s):\n  {shown}{more}")


class DLSFormatError(ExoqcInputError):
    """A DLS export that cannot be read or analysed."""


class NTAFormatError(ExoqcInputError):
    """An NTA (nanoparticle tracking analysis) export that cannot be read or analysed."""


class SettingsError(ExoqcInputError):
    """An environment variable of the settings (``EXOQC_*``, ``MLFLOW_TRACKING_URI``) that
    does not hold what its setting expects; ``file`` names the variable."""


class LabelError(ExoqcInputError):
    """Labels in preps.csv that cannot train a model (none, too few batches...)."""
