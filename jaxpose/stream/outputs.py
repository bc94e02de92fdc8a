"""Every `--write_*` output of a run: per-frame files (atomic) and run-level files (video, COCO JSON).

Shared by the `jaxpose` command and the batch job, so both write the same files under the same
names. `validate()` checks every destination before the first frame; `write(result)` writes one
frame's files as soon as it is done; `close()` finishes the run-level files (also after an error,
Ctrl-C or SIGTERM), so every file left on disk is complete.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxpose.errors import InputError, UsageError
from jaxpose.io.atomic import new_file_mode, temp_file_in
from jaxpose.options.check import per_frame_dirs
from jaxpose.options.table import Options
from jaxpose.poses import Poses

DEFAULT_VIDEO_FPS = 30.0


class VideoWriter:
    """`--write_video`: MJPG (.avi, as OpenPose) or mp4v (.mp4) via OpenCV, size fixed by frame 1.

    MJPG frames are encoded by OpenCV's built-in writer, one JPEG each at a fixed quality (FFmpeg's
    encoder adapts its quantizer to the frames before): a frame's bytes do not depend on where the
    video started, so the batch job's segments join into the plain command's frames.

    Frames go to a hidden temporary file beside the target, renamed over it on `close()` (also on
    Ctrl-C / SIGTERM), so the target path only ever holds a finished video. Frames of another size
    than the first cannot go into the video: they are counted (`left_out`, `first_left_out`) and
    reported once by the caller, not once per frame.
    """

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self.left_out = 0
        self.first_left_out: str | None = None
        self._writer = None
        self._tmp: Path | None = None

    def add(self, rgb: np.ndarray, name: str = "") -> bool:
        """Append one frame; False (and counted) when its size differs from the video's."""
        import cv2

        height, width = rgb.shape[:2]
        if self._writer is None and self.size is None:
            fd, tmp = temp_file_in(self.path.parent, prefix=f".{self.path.stem}.",
                                   suffix=self.path.suffix or ".avi")
            os.close(fd)
            self._tmp = Path(tmp)
            if self.path.suffix.lower() in (".mp4", ".m4v", ".mov"):
                self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                               (width, height))
            else:  # OpenCV's own MJPG writer: each frame one JPEG of fixed quality, whatever came before
                self._writer = cv2.VideoWriter(str(self._tmp), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                                               self.fps, (width, height))
            if not self._writer.isOpened():
                self.discard()
                raise InputError(f"{self.path}: OpenCV cannot write this video (use a .avi or .mp4 path).")
            self.size = (width, height)
        if (width, height) != self.size:
            self.left_out += 1
            self.first_left_out = self.first_left_out or name
            return False
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1
        return True

    def close(self) -> None:
        """Finish the video and move it into place (a video with no frame is not created)."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self.frames:
            os.chmod(self._tmp, new_file_mode(self.path))
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def left_out_message(self, label: str | None = None) -> str | None:
        """One line about the frames that could not go into the video, or None."""
        if not self.left_out:
            return None
        return (f"{label or self.path}: {self.left_out} frame(s) of another size than the first "
                f"({self.size[0]}x{self.size[1]}) were left out of the video, from "
                f"{self.first_left_out} on; a video holds frames of one size.")

    def discard(self) -> None:
        """Drop the temporary file (nothing was written that should be kept)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


def _is_a_file(path: Path) -> bool:
    """Whether `path` exists and is not a folder (one stat: another process may be making or
    removing the folder at the same moment)."""
    try:
        return not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _probe(flag: str, given: str, folder: Path) -> None:
    """Check that `folder` can be created and files created in it; UsageError if not. Folders
    made for the probe are removed again (the writers create them with their first file), so a
    run that stops before its first frame leaves nothing behind."""
    if _is_a_file(folder):
        where = "exists and is not a folder" if str(folder) == given else f"{folder} is not a folder"
        raise UsageError(f"--{flag} {given}: {where}; pass a path inside a writable folder.")
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        fd, probe = temp_file_in(folder, prefix=".jaxpose-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"--{flag} {given}: cannot write there ({error.strerror or error}); "
                         "pass a writable folder.") from None
    finally:
        for made in missing:
            try:
                made.rmdir()
            except OSError:
                break


def _probe_folder(flag: str, folder: str) -> None:
    _probe(flag, folder, Path(folder))


def check_writable_folder(flag: str, folder: str) -> None:
    """`folder` exists or can be created and files can be created in it, else UsageError naming
    `--flag folder` and the reason."""
    _probe_folder(flag, folder)


def check_writable_file(flag: str, file: str) -> None:
    """`file` can be created or rewritten (its folder exists or can be created and is writable,
    it is not a folder), else UsageError naming `--flag file` and the reason."""
    _probe_file(flag, file)


def _probe_file(flag: str, file: str) -> None:
    """Check that `file` can be created (its folder is writable, it is not a folder)."""
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"--{flag} {file}: is a folder; pass a file path.")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"--{flag} {file}: the file is not writable (permission denied).")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # the nearest existing folder decides
        parent = parent.parent
    if _is_a_file(parent):
        raise UsageError(f"--{flag} {file}: {parent} is not a folder; pass a path inside a writable folder.")
    _probe(flag, file, path.parent)


class Outputs:
    """The files of one run, per the flag values in `options` (attribute or mapping access)."""

    def __init__(self, options: Any, every_frame: bool = False) -> None:
        """every_frame: each frame's poses are needed even when its files exist (tracking)."""
        self.options = options if not isinstance(options, Mapping) else Options(**options)
        o = self.options
        self.dirs = per_frame_dirs(o)
        self.skip_existing = o.skip_existing
        self.every_frame = every_frame
        self.coco = None
        self.posetrack = None
        self.trc = None
        self.video_3d = None
        self.video: VideoWriter | None = None
        if o.write_coco_json:
            from jaxpose.io.writers.coco_json import CocoJsonWriter

            self.coco = CocoJsonWriter(o.write_coco_json, coco_gt=getattr(o, "coco_gt", "") or None)

    @staticmethod
    def validate(options: Any) -> None:
        """Every destination writable, checked before the first frame (UsageError naming it)."""
        o = options if not isinstance(options, Mapping) else Options(**options)
        for flag, folder in (("write_json", o.write_json), ("write_images", o.write_images),
                             ("write_keypoint", o.write_keypoint), ("write_heatmaps", o.write_heatmaps),
                             ("write_posetrack", getattr(o, "write_posetrack", ""))):
            if folder:
                _probe_folder(flag, folder)
        for flag in ("write_keypoint_3d", "write_images_3d", "write_trc"):
            if getattr(o, flag, ""):
                _probe_folder(flag, getattr(o, flag))
        for flag, file in (("write_video", o.write_video), ("write_coco_json", o.write_coco_json),
                           ("write_video_3d", getattr(o, "write_video_3d", ""))):
            if file:
                _probe_file(flag, file)

    @property
    def run_level(self) -> bool:
        """Files that need every frame's poses (so --skip_existing cannot skip frames)."""
        return bool(self.options.write_coco_json or self.options.write_video or self.every_frame)

    def start_input(self, name: str, fps: float | None = None) -> None:
        """Files kept per input: a PoseTrack sequence `<write_posetrack>/<name>.json`, OpenSim
        markers `<write_trc>/<name>.trc` (one file per person, written when the input ends)."""
        self.end_input()
        folder = getattr(self.options, "write_posetrack", "")
        if folder:
            from jaxpose.io.writers.posetrack import PoseTrackWriter

            self.posetrack = PoseTrackWriter(Path(folder) / f"{name}.json", sequence=name)
        folder = getattr(self.options, "write_trc", "")
        if folder:
            from jaxpose.io.writers.trc import TrcWriter

            self.trc = TrcWriter(Path(folder) / f"{name}.trc", fps or DEFAULT_VIDEO_FPS,
                                 up=getattr(self.options, "3d_up"))

    def end_input(self) -> None:
        if self.posetrack is not None:
            self.posetrack.close()
            self.posetrack = None
        if self.trc is not None:
            trc, self.trc = self.trc, None
            trc.close()

    @property
    def per_frame(self) -> bool:
        return any(self.dirs.values())

    def frame_paths(self, name: str) -> dict[str, list[Path]]:
        """The files each per-frame output kind writes for frame `name`."""
        from jaxpose.io.names import output_path

        o = self.options
        paths: dict[str, list[Path]] = {}
        if o.write_json:
            paths["json"] = [output_path(o.write_json, name, "keypoints", "json")]
        if o.write_images:
            paths["images"] = [output_path(o.write_images, name, "rendered", o.write_images_format.lower())]
        if o.write_keypoint:
            fmt = o.write_keypoint_format.lower()
            if fmt == "csv":
                paths["keypoint"] = [output_path(o.write_keypoint, name, "keypoints", "csv")]
            else:
                tags = ["pose"] + (["face"] if o.face else []) + (["hand_left", "hand_right"] if o.hand else [])
                paths["keypoint"] = [output_path(o.write_keypoint, name, tag, fmt) for tag in tags]
        if o.write_heatmaps:
            paths["heatmaps"] = [output_path(o.write_heatmaps, name, "pose_heatmaps", o.write_heatmaps_format.lower())]
        return paths

    def done(self, name: str) -> bool:
        """--skip_existing: all of this frame's files exist (and nothing run-level needs its poses)."""
        if not self.skip_existing or self.run_level:
            return False
        paths = [p for group in self.frame_paths(name).values() for p in group]
        return bool(paths) and all(p.is_file() for p in paths)

    def write(self, name: str, image: np.ndarray, poses: Poses, fps: float | None) -> None:
        """Write one frame's outputs (skipping existing files with --skip_existing)."""
        from jaxpose.io.keypoint_scale import scale_keypoints
        from jaxpose.io.layout import to_layout
        from jaxpose.io.writers.heatmaps import write_heatmaps
        from jaxpose.io.writers.image import write_rendered_image
        from jaxpose.io.writers.keypoint_file import write_keypoint_files
        from jaxpose.io.writers.people_json import write_people_json
        from jaxpose.options.build import render

        o = self.options
        todo = {
            kind: paths
            for kind, paths in self.frame_paths(name).items()
            if not (self.skip_existing and all(p.is_file() for p in paths))
        }
        saved = scale_keypoints(poses, o.keypoint_scale) if o.keypoint_scale else poses
        laid_out = to_layout(saved, o.output_layout) if o.output_layout != "native" else saved
        rendered = render(image, poses, vars(o)) if ("images" in todo or o.write_video) else None
        if "json" in todo:
            write_people_json(o.write_json, name, laid_out)
        if "keypoint" in todo:
            write_keypoint_files(o.write_keypoint, name, laid_out, o.write_keypoint_format.lower())
        if "heatmaps" in todo:
            write_heatmaps(
                o.write_heatmaps,
                name,
                poses,
                fmt=o.write_heatmaps_format,
                add_parts=o.heatmaps_add_parts,
                add_bkg=o.heatmaps_add_bkg,
                add_pafs=o.heatmaps_add_PAFs,
                scale_mode=o.heatmaps_scale,
            )
        if "images" in todo:
            write_rendered_image(o.write_images, name, rendered, o.write_images_format.lower())
        if o.write_video:
            if self.video is None:
                self.video = VideoWriter(o.write_video, self._video_fps(fps))
            self.video.add(rendered, name)
        if self.coco is not None:
            self.coco.add(name, saved)
        if self.posetrack is not None:
            self.posetrack.add(name, poses)

    def write_views(self, name: str, images: tuple[np.ndarray, ...], views: tuple[Poses, ...],
                    poses3d: Any, fps: float | None) -> None:
        """One multi-view instant (`--3d`): per view `<name>_keypoints[_<v>].json` (the view's 2D
        people with their 3D keypoints) and `<name>_rendered[_<v>].<fmt>`; the views side by side
        in `--write_video`; `<name>_keypoints_3d.csv`, `<name>_3d.png`, the 3D video and the .trc."""
        from jaxpose.io.keypoint_scale import scale_keypoints
        from jaxpose.io.names import output_path
        from jaxpose.io.writers.image import write_rendered_image
        from jaxpose.io.writers.keypoints3d_csv import write_keypoints3d_csv
        from jaxpose.io.writers.people_json_3d import write_people_json_3d
        from jaxpose.options.build import render

        o = self.options
        rendered = [render(image, poses, vars(o)) for image, poses in zip(images, views)] \
            if (o.write_images or o.write_video) else None
        for v, poses in enumerate(views):
            if o.write_json and not self._exists(output_path(o.write_json, name, "keypoints", "json", v)):
                saved = scale_keypoints(poses, o.keypoint_scale) if o.keypoint_scale else poses
                write_people_json_3d(o.write_json, name, saved, poses3d, view=v)
            fmt = o.write_images_format.lower()
            if o.write_images and not self._exists(output_path(o.write_images, name, "rendered", fmt, v)):
                write_rendered_image(o.write_images, name, rendered[v], fmt, view=v)
        if o.write_video:
            if self.video is None:
                self.video = VideoWriter(o.write_video, self._video_fps(fps))
            self.video.add(_side_by_side(rendered), name)
        if getattr(o, "write_keypoint_3d", ""):
            write_keypoints3d_csv(o.write_keypoint_3d, name, poses3d)
        if getattr(o, "write_images_3d", "") or getattr(o, "write_video_3d", ""):
            from jaxpose.render.plot3d import Video3DWriter, write_3d_image

            up = getattr(o, "3d_up")
            if o.write_images_3d:
                write_3d_image(o.write_images_3d, name, poses3d, up=up)
            if o.write_video_3d:
                if self.video_3d is None:
                    self.video_3d = Video3DWriter(o.write_video_3d, self._video_fps(fps), up=up)
                self.video_3d.add(poses3d)
        if self.trc is not None:
            self.trc.add(poses3d)

    def _exists(self, path: Path) -> bool:
        return self.skip_existing and path.is_file()

    def _video_fps(self, source_fps: float | None) -> float:
        if self.options.write_video_fps > 0:
            return float(self.options.write_video_fps)
        return source_fps or DEFAULT_VIDEO_FPS

    def close(self) -> None:
        """Finish the run-level files (also after an error, Ctrl-C or SIGTERM)."""
        try:
            self.end_input()
            if self.coco is not None:
                self.coco.close()
        finally:
            try:
                if self.video_3d is not None:
                    self.video_3d.close()
            finally:
                if self.video is not None:
                    self.video.close()


def _side_by_side(images: list[np.ndarray]) -> np.ndarray:
    """Views next to each other in one frame (shorter views padded with black at the bottom)."""
    height = max(image.shape[0] for image in images)
    padded = [np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0))) for image in images]
    return np.concatenate(padded, axis=1)
