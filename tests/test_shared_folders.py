"""Writers and writability probes sharing a folder with other processes (the batch job runs chunks
of one input side by side, on Ray actors or worker processes): a probe removes the folders it made
for itself, so another writer may see its folder vanish between making it and creating a file in
it. Every writer makes the folder again instead of failing (the CI failure that found it:
"--write_json .../walk/json: cannot write there (No such file or directory)")."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from jaxpose.errors import UsageError
from jaxpose.io import atomic
from jaxpose.io.atomic import atomic_write_text
from jaxpose.stream.outputs import VideoWriter, check_writable_file, check_writable_folder


def _mkstemp_after_folder_removed(monkeypatch, times: int) -> list[Path]:
    """Make mkstemp find its folder removed (as by another process) on its first `times` calls."""
    real, removed = tempfile.mkstemp, []

    def racing(*args, dir=None, **kwargs):
        if len(removed) < times:
            Path(dir).rmdir()
            removed.append(Path(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", racing)
    return removed


def test_an_atomic_write_survives_its_folder_being_removed_once(tmp_path, monkeypatch):
    target = tmp_path / "in" / "json" / "0_keypoints.json"
    removed = _mkstemp_after_folder_removed(monkeypatch, 1)
    atomic_write_text(target, '{"people":[]}')
    assert removed == [target.parent]
    assert target.read_text() == '{"people":[]}'
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


def test_the_probe_and_the_video_writer_survive_it_too(tmp_path, monkeypatch):
    removed = _mkstemp_after_folder_removed(monkeypatch, 2)
    check_writable_folder("write_json", str(tmp_path / "a" / "json"))
    video = VideoWriter(tmp_path / "b" / "out.avi", 10.0)
    video.add(np.zeros((16, 16, 3), np.uint8))
    video.close()
    assert len(removed) == 2
    assert (tmp_path / "b" / "out.avi").stat().st_size > 0
    assert not (tmp_path / "a").exists()  # the probe still leaves nothing behind


def test_a_folder_removed_every_time_still_fails_with_the_one_line_error(tmp_path, monkeypatch):
    _mkstemp_after_folder_removed(monkeypatch, 10**6)
    with pytest.raises(UsageError, match=r"^--write_json .*: cannot write there \(No such file or directory\); "
                                         r"pass a writable folder\.$"):
        check_writable_folder("write_json", str(tmp_path / "gone"))


def test_a_file_in_the_way_is_still_refused(tmp_path):
    (tmp_path / "json").write_text("not a folder")
    with pytest.raises(UsageError, match="exists and is not a folder"):
        check_writable_folder("write_json", str(tmp_path / "json"))
    with pytest.raises(UsageError, match="is not a folder"):
        check_writable_file("write_video", str(tmp_path / "json" / "out.avi"))


def test_probes_and_writes_racing_on_new_folders_all_succeed(tmp_path):
    """Four threads at a time probe (folder and file flags) and write into the same new folder,
    300 rounds: before the fix about a third of the rounds failed."""
    errors: list[str] = []

    def one(kind: int, folder: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            if kind == 0:
                check_writable_folder("write_json", str(folder))
            elif kind == 1:
                check_writable_file("write_video", str(folder / "out.avi"))
            else:
                atomic_write_text(folder / "0_keypoints.json", "{}")
        except Exception as error:  # noqa: BLE001 - every failure is the finding
            errors.append(repr(error))

    for round_ in range(300):
        folder = tmp_path / f"clip{round_}" / "json"
        start = threading.Barrier(4)
        threads = [threading.Thread(target=one, args=(kind, folder, start)) for kind in (0, 1, 0, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (folder / "0_keypoints.json").read_text() == "{}"
    assert errors == []
