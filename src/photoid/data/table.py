"""The canonical catalog table that every loader ends in.

One row per photo. Required columns: ``path`` (absolute path of the image file) and
``identity`` (the individual's ID, a non-empty string). Optional columns with fixed meaning:
``species``, ``viewpoint``, ``split``, ``bbox_x``, ``bbox_y``, ``bbox_w``, ``bbox_h`` (pixels),
``date`` and ``location``. Any other column a source carries (for example ``closed_split``) is
kept as it is, so a split column of the user's choosing can drive evaluation.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from photoid.data.names import name_problem, normal_name
from photoid.errors import CatalogError, did_you_mean
from photoid.files import kind_of

REQUIRED_COLUMNS = ("path", "identity")
OPTIONAL_COLUMNS = (
    "species",
    "viewpoint",
    "split",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "date",
    "location",
)
BBOX_COLUMNS = ("bbox_x", "bbox_y", "bbox_w", "bbox_h")
#: The smallest box side accepted, in pixels: a box of one or two pixels is a slip (a box in
#: fractions of the photo, say), never an animal.
MIN_BOX_PX = 4
MAX_LISTED_PROBLEMS = 50


@dataclass(frozen=True)
class RowProblem:
    """One bad row: ``row`` is the 1-based line number in the source (header = line 1)."""

    row: int
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.problem} — {self.fix}"


class PhotoTable:
    """A validated table of photos and the individuals they show.

    Build one with the loaders in :mod:`photoid.data.loaders`; construct directly only from a
    DataFrame that already has absolute paths. ``source`` names where the rows came from and
    appears in error messages.
    """

    def __init__(self, table: pd.DataFrame, source: str = "<table>", *, check_files: bool = True):
        self.source = source
        self.table = validate_table(table, source, check_files=check_files)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (
            f"PhotoTable({len(self)} photos, {self.table['identity'].nunique()} individuals, "
            f"source={self.source!r})"
        )

    @property
    def paths(self) -> list[str]:
        return self.table["path"].tolist()

    @property
    def identities(self) -> np.ndarray:
        """Identity labels, shape ``(n,)``, dtype object (str)."""
        return self.table["identity"].to_numpy(dtype=object)

    def column(self, name: str) -> pd.Series:
        """Return column ``name``; an unknown name raises with the closest known names."""
        if name not in self.table.columns:
            raise CatalogError(
                f"{self.source}: no column {name!r}; the catalog has "
                f"{', '.join(map(str, self.table.columns))}."
                f"{did_you_mean(name, self.table.columns)}"
            )
        return self.table[name]

    def subset(self, mask: np.ndarray | pd.Series | Sequence[bool]) -> PhotoTable:
        """Return the rows where ``mask`` is true, as a new catalog (files are not re-checked)."""
        mask = np.asarray(mask, dtype=bool)
        return PhotoTable(self.table[mask].reset_index(drop=True), self.source, check_files=False)


def validate_table(table: pd.DataFrame, source: str, *, check_files: bool = True) -> pd.DataFrame:
    """Check ``table`` against the schema and return a cleaned copy.

    Every problem is collected before raising, so one :class:`CatalogError` lists every bad row
    (missing or non-regular file, empty identity, duplicate path, bounding box that is
    incomplete, negative, NaN or infinite) with a fix. A box that lies outside its photo is
    found when the photo is read (:func:`~photoid.data.preprocess.load_model_input`).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        hints = "".join(did_you_mean(c, map(str, table.columns)) for c in missing)
        raise CatalogError(
            f"{source}: missing required column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, table.columns)) or 'no columns'}. Rename the columns or pass a "
            f"column mapping (e.g. --path-column/--identity-column).{hints}"
        )
    if len(table) == 0:
        raise CatalogError(
            f"{source}: the catalog has no rows; add photos or point at the right file."
        )
    df = table.reset_index(drop=True).copy()
    df["path"] = df["path"].map(lambda p: "" if pd.isna(p) else str(p))
    df["identity"] = df["identity"].map(lambda v: "" if pd.isna(v) else normal_name(str(v)))
    problems = _row_problems(df, check_files)
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        tail = f"\n  … and {more} more" if more > 0 else ""
        raise CatalogError(f"{source}: {len(problems)} bad row(s):\n  {shown}{tail}")
    for col in BBOX_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col])
    return df


def _row_problems(df: pd.DataFrame, check_files: bool) -> list[RowProblem]:
    problems: list[RowProblem] = []
    duplicated = df["path"].duplicated(keep="first")
    first_line = {p: i + 2 for i, p in reversed(list(enumerate(df["path"])))}
    for i, (path, identity) in enumerate(zip(df["path"], df["identity"], strict=True)):
        line = i + 2
        if not path:
            problems.append(RowProblem(line, "empty path", "fill in the image file's path"))
        elif duplicated.iloc[i]:
            problems.append(
                RowProblem(
                    line,
                    f"duplicate path {path} (first on row {first_line[path]})",
                    "list each photo once",
                )
            )
        elif check_files and (kind := _file_kind(path)):
            problems.append(RowProblem(line, f"{kind}: {path}", "fix the path or remove the row"))
        if not identity.strip():
            problems.append(
                RowProblem(line, "empty identity", "give the individual's ID or remove the row")
            )
        elif (problem := name_problem(identity)) is not None:
            problems.append(
                RowProblem(
                    line,
                    f"identity {identity!r} of {path}: {problem}",
                    "rename the folder or fix the name in the CSV",
                )
            )
    problems.extend(_bbox_problems(df))
    return sorted(problems, key=lambda p: p.row)


def _bbox_problems(df: pd.DataFrame) -> list[RowProblem]:
    present = [c for c in BBOX_COLUMNS if c in df.columns]
    if not present:
        return []
    if len(present) != len(BBOX_COLUMNS):
        absent = sorted(set(BBOX_COLUMNS) - set(present))
        return [RowProblem(1, f"bounding box incomplete, missing {absent}", "give all four")]
    problems = []
    boxes = df[list(BBOX_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    for i, row in enumerate(boxes.itertuples(index=False)):
        values = np.asarray(row, dtype=float)
        if np.isnan(values).all():
            continue  # no box on this row: the whole photo is used
        finite = np.isfinite(values).all()
        if not finite or values[0] < 0 or values[1] < 0 or values[2] <= 0 or values[3] <= 0:
            problems.append(
                RowProblem(
                    i + 2,
                    f"bad bounding box {tuple(df.loc[i, list(BBOX_COLUMNS)])}",
                    "give finite numbers x, y >= 0 and width, height > 0 (pixels), or leave "
                    "all four empty",
                )
            )
        elif values[2] < MIN_BOX_PX or values[3] < MIN_BOX_PX:
            problems.append(
                RowProblem(
                    i + 2,
                    f"bounding box {tuple(df.loc[i, list(BBOX_COLUMNS)])} smaller than "
                    f"{MIN_BOX_PX} pixels on a side (the model would see a few pixels "
                    "enlarged to its whole input)",
                    "give the animal's box in pixels, or leave all four empty",
                )
            )
    return problems


def _file_kind(path: str) -> str:
    """Why ``path`` cannot be a photo (``"file not found"``, ``"not a regular file (a
    FIFO …)"``), or ``""`` when it is a regular file."""
    try:
        mode = Path(path).stat().st_mode
    except ValueError:  # "embedded null byte"
        return "not a valid path (it holds a NUL character)"
    except OSError:
        return "file not found"
    return "" if stat.S_ISREG(mode) else f"not a regular file ({kind_of(mode)})"
