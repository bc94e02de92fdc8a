"""A newcomer's first command works on a bare clone: shipped sample photos, JSON and images out.

The README's set-up command is `python3 -m venv .venv && .venv/bin/pip install -e . &&
.venv/bin/jaxpose samples/ ...`; the test runs its jaxpose part on a `git clone` of this checkout's
HEAD in a temporary folder with no ../shared beside it, with the installed environment (not a new
venv) and the default model cache ($JAXPOSE_CACHE), then reads the files back with json and cv2.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from conftest import REPO

COMMAND_SOURCES = ("README.md",)  # where the set-up command is written
SAMPLES = ("basketball_1", "basketball_2", "skier")


def setup_command(repo: Path) -> str:
    """The first fenced bash command that installs into `.venv` and runs jaxpose on samples/."""
    for name in COMMAND_SOURCES:
        path = repo / name
        if not path.is_file():
            continue
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                if ".venv" in line and "samples" in line and "jaxpose" in line:
                    return line.strip()
    raise AssertionError(f"no set-up command running jaxpose on samples/ in {COMMAND_SOURCES}")


def jaxpose_part(command: str) -> list[str]:
    """The arguments of the `... && .venv/bin/jaxpose ARGS` step of the command."""
    for step in command.split("&&"):
        words = shlex.split(step)
        if words and Path(words[0]).name == "jaxpose":
            return words[1:]
    raise AssertionError(f"no jaxpose step in {command!r}")


def test_setup_command_shape():
    command = setup_command(REPO)
    steps = [s.strip() for s in command.split("&&")]
    assert "python3 -m venv" in steps[0] and ".venv" in steps[0]
    assert any(s.startswith(".venv/bin/python -m pip install") and "-e ." in s for s in steps)
    args = jaxpose_part(command)
    assert args[0].rstrip("/") == "samples"
    assert "--write_json" in args and "--write_images" in args


def test_samples_are_small_and_attributed():
    folder = REPO / "samples"
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert [p.stem for p in photos] == list(SAMPLES)
    assert sum(p.stat().st_size for p in photos) < 400_000
    notes = (folder / "README.md").read_text()
    for photo in photos:
        assert photo.name in notes
        assert cv2.imread(str(photo)) is not None
    for licence in ("CC BY 2.0", "Apache-2.0", "BSD-3-Clause", "modified"):
        assert licence in notes


@pytest.mark.slow
def test_first_command_on_a_bare_clone_finds_people(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "jaxpose"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head.stdout.strip()], check=True)
    assert not (tmp_path / "shared").exists()
    env = {**os.environ, "PYTHONPATH": str(clone), "JAXPOSE_SHARED": str(tmp_path / "shared")}
    which = subprocess.run([sys.executable, "-c", "import jaxpose; print(jaxpose.__file__)"],
                           cwd=clone, env=env, capture_output=True, text=True, check=True)
    assert Path(which.stdout.strip()).is_relative_to(clone)  # the clone's code runs
    args = jaxpose_part(setup_command(clone))
    done = subprocess.run([sys.executable, "-m", "jaxpose", *args], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    json_dir = clone / args[args.index("--write_json") + 1]
    image_dir = clone / args[args.index("--write_images") + 1]
    people = {}
    for stem in SAMPLES:
        document = json.loads((json_dir / f"{stem}_keypoints.json").read_text())
        people[stem] = len(document["people"])
        for person in document["people"]:
            assert len(person["pose_keypoints_2d"]) == 18 * 3
            assert sum(c > 0 for c in person["pose_keypoints_2d"][2::3]) >= 5
        rendered = cv2.imread(str(next(image_dir.glob(f"{stem}_rendered.*"))))
        assert rendered is not None and rendered.shape[:2] == cv2.imread(
            str(clone / "samples" / f"{stem}.jpg")).shape[:2]
    assert all(people.values()) and sum(people.values()) >= 4, people
    assert re.search(r"3 frames, \d+ people, 0 failed", done.stderr)
