"""The batch job's manifest: one input (video, image folder, image or glob) per line -> named inputs.

    inputs, problems = read_manifest("study.txt")      # [Input(line, path, name)], ["study.txt:3: ..."]

Rules (README, "Many videos, many machines" > "The manifest"):
- blank lines and lines starting with `#` are ignored; surrounding spaces are stripped;
- relative paths are relative to the manifest's folder; `~` is expanded;
- a line naming an existing file or folder is taken as it is; otherwise it is a glob (`*`, `?`,
  `[...]`, `**` recursive), expanded in natural order, keeping the folders and the image and video
  files it matches;
- every input once: the same file on two lines (or matched by two globs) is refused;
- each input's name (the folder `DIR/<name>/` its outputs go to) is its file name without the
  extension (a folder: its name). Inputs sharing a name are told apart by their parent folders,
  joined with `__` (`s01/cam0.mp4`, `s02/cam0.mp4` -> `s01__cam0`, `s02__cam0`); names that stay
  equal (`x/` beside `x.mp4`) are refused.

`parse_lines` and `input_names` are pure; `read_manifest` looks at the file system.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Sequence
from pathlib import Path

from jaxpose.io.readers import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, natural_key

JOB_FOLDER = ".jaxpose-job"  # inside --out; no input may take this name
_GLOB_CHARS = set("*?[")


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of the job: `line` of the manifest it came from, its absolute `path`, its `name`."""

    line: int
    path: Path
    name: str


def parse_lines(text: str) -> list[tuple[int, str]]:
    """(line number, entry) for every line that is not blank or a `#` comment."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.strip()
        if entry and not entry.startswith("#"):
            entries.append((number, entry))
    return entries


def _is_media(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in VIDEO_EXTENSIONS or suffix in IMAGE_EXTENSIONS


def _candidate_name(path: Path, depth: int) -> str:
    """The last `depth` components of `path` (an image or video without its extension), joined
    with `__`."""
    parts = list(path.parts[1:-1]) + [path.stem if _is_media(path) else path.name]
    return "__".join(parts[-depth:])


def input_names(paths: Sequence[Path]) -> tuple[list[str], list[tuple[int, int]]]:
    """A distinct output folder name for each absolute path, and the pairs (i, j), i < j, whose
    names stay equal at every depth. Pure: looks at the paths only."""
    depths = [1] * len(paths)
    while True:
        names = [_candidate_name(p, d) for p, d in zip(paths, depths)]
        owners: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            owners.setdefault(name, []).append(i)
        grew = False
        for members in owners.values():
            if len(members) > 1:
                for i in members:
                    if depths[i] < len(paths[i].parts) - 1:
                        depths[i] += 1
                        grew = True
        if not grew:
            break
    clashes = [(members[0], j) for members in owners.values() if len(members) > 1 for j in members[1:]]
    return names, clashes


def read_manifest(manifest: str | os.PathLike) -> tuple[list[Input], list[str]]:
    """The manifest's inputs, and one message per problem (`<manifest>:<line>: ...`).

    Problems: the manifest cannot be read; a line that is not a file or folder and a glob that
    matches nothing usable; a file of an unknown kind; an input listed twice; names that clash.
    """
    manifest = Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return [], [f"{manifest}: cannot read the manifest ({reason}); pass a text file with one input per line."]
    base = manifest.resolve().parent
    problems: list[str] = []
    found: list[tuple[int, Path]] = []
    for number, entry in parse_lines(text):
        where = f"{manifest}:{number}"
        path = Path(os.path.expanduser(entry))
        path = path if path.is_absolute() else base / path
        if path.exists():
            if path.is_file() and not _is_media(path):
                problems.append(
                    f"{where}: {entry}: unknown kind of input (expected a folder of images, an image "
                    f"{', '.join(IMAGE_EXTENSIONS)} or a video {', '.join(VIDEO_EXTENSIONS)})."
                )
                continue
            found.append((number, path))
            continue
        if not _GLOB_CHARS & set(entry):
            problems.append(f"{where}: {entry}: no such file or folder.")
            continue
        matches = sorted(glob.glob(str(path), recursive=True), key=natural_key)
        usable = [Path(m) for m in matches if Path(m).is_dir() or (Path(m).is_file() and _is_media(Path(m)))]
        if not usable:
            problems.append(f"{where}: {entry}: the pattern matches no folder, image or video.")
            continue
        found.extend((number, m) for m in usable)
    seen: dict[Path, int] = {}
    inputs_paths: list[tuple[int, Path]] = []
    for number, path in found:
        real = path.resolve()
        if real in seen:
            problems.append(
                f"{manifest}:{number}: {path} is already listed on line {seen[real]}; list each input once."
            )
            continue
        seen[real] = number
        inputs_paths.append((number, real))
    names, clashes = input_names([p for _, p in inputs_paths])
    for i, j in clashes:
        (li, pi), (lj, pj) = inputs_paths[i], inputs_paths[j]
        problems.append(
            f"{manifest}:{lj}: {pj} and {pi} (line {li}) would both write to the output folder "
            f"{names[j]!r}; rename one of them."
        )
    for (number, path), name in zip(inputs_paths, names):
        if name == JOB_FOLDER:
            problems.append(f"{manifest}:{number}: {path}: the name {JOB_FOLDER} is reserved for the job's records; rename it.")
    if not inputs_paths and not problems:
        problems.append(f"{manifest}: no inputs (every line is blank or a # comment).")
    return [Input(number, path, name) for (number, path), name in zip(inputs_paths, names)], problems
