"""`--3d` from options: the cameras, the multi-view input, undistortion and the reconstruction stage
(openpose-features §5; shared by the command and anything else that runs the engine on views).

Inputs (V = the number of camera files, or `--3d_views`):
- OpenPose's forms: a video whose frames hold V views side by side; an image folder in which V
  consecutive images (natural order) form one instant;
- beyond OpenPose: one synchronised video per camera (`--video a.mp4,b.mp4,...`), or a folder of
  per-camera image folders (natural order of the sub-folders = camera order).
Each view must have the size its camera was calibrated at (when the file says it); with
`--frame_undistort` the views are undistorted before detection (same K, as OpenPose) and
triangulated as pinhole views; without it, triangulation undistorts the 2D points themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jaxpose.errors import InputError, JaxposeError, UsageError
from jaxpose.io import readers
from jaxpose.stream.engine import Result, Stage

METHODS_3D = ("robust", "openpose", "dlt")
OUTPUTS_3D = ("write_keypoint_3d", "write_trc", "write_images_3d", "write_video_3d")


def three_d(options: Any) -> bool:
    return bool(getattr(options, "3d", False))


def load_cameras(options: Any) -> Any:
    """The `CameraGroup` of `--camera_parameter_path` (UsageError naming the path and the fix)."""
    from jaxpose.cameras import CameraGroup

    path = options.camera_parameter_path
    if not path:
        raise UsageError("--3d and --frame_undistort need --camera_parameter_path: a folder with one "
                         "OpenPose camera .xml per camera (write them with `jaxpose calibrate`).")
    try:
        return CameraGroup.from_openpose_xml(path)
    except JaxposeError as error:
        raise UsageError(f"--camera_parameter_path {path}: {error}") from None


def check_3d_options(options: Any) -> tuple[Any, int] | None:
    """(cameras, views) for `--3d` / `--frame_undistort` runs, None otherwise; UsageError for
    impossible combinations (before any work)."""
    if not three_d(options):
        for flag in OUTPUTS_3D:
            if getattr(options, flag, ""):
                raise UsageError(f"--{flag} writes 3D keypoints: it needs --3d (with --camera_parameter_path).")
    if not three_d(options) and not options.frame_undistort:
        for flag in ("3d_views", "3d_min_views"):
            if getattr(options, flag) not in (-1, 0) and flag in options.given:
                raise UsageError(f"--{flag} needs --3d.")
        return None
    group = load_cameras(options)
    if not three_d(options):
        if len(group) != 1:
            raise UsageError(f"--frame_undistort without --3d undistorts one camera's frames: "
                             f"--camera_parameter_path holds {len(group)} cameras; pass one .xml file.")
        return group, 1
    if len(group) < 2:
        raise UsageError(f"--3d needs at least 2 calibrated cameras; --camera_parameter_path "
                         f"{options.camera_parameter_path} holds {len(group)}.")
    from jaxpose.triangulation.geometry import check_camera_set

    try:
        check_camera_set(group.projection_matrices())
    except JaxposeError as error:
        raise UsageError(f"--camera_parameter_path {options.camera_parameter_path}: {error}") from None
    views = getattr(options, "3d_views")
    if views in (-1, 0):
        views = len(group)
    if views != len(group):
        raise UsageError(f"--3d_views {views} but --camera_parameter_path {options.camera_parameter_path} "
                         f"holds {len(group)} camera files; they must match (one file per view).")
    method = getattr(options, "3d_method")
    if method not in METHODS_3D:
        raise UsageError(f"--3d_method {method!r}: use one of {', '.join(METHODS_3D)}.")
    min_views = getattr(options, "3d_min_views")
    if min_views in (0, 1) or min_views > views:
        raise UsageError(f"--3d_min_views {min_views}: use -1 (default) or 2..{views} (OpenPose refuses 0 and 1).")
    for flag in ("write_coco_json", "write_heatmaps", "write_keypoint", "write_posetrack"):
        if getattr(options, flag):
            raise UsageError(f"--{flag} is not written with --3d (2D per-view formats); use --write_json, "
                             "whose files carry each view's 2D people and their 3D keypoints.")
    if options.output_layout != "native":
        raise UsageError("--output_layout applies to 2D files without --3d; with --3d the JSON keeps the "
                         "model's own part order for both its 2D and 3D keypoints.")
    return group, views


@dataclasses.dataclass
class _Views:
    """One view per camera, whichever way the input gives them."""

    source: Any
    total: int | None
    fps: float | None
    path: Path
    selection: Any = None
    still: bool = False  # still images (image folders): OpenPose's net_resolution_dynamic applies

    def frames(self, skip: Any = readers._never) -> Iterator[readers.Item]:
        return self.source.frames(skip)


def open_views(target: str, views: int, selection: readers.FrameSelection,
               orientation: readers.Orientation, group: Any = None) -> Any:
    """The multi-view source of one input (see the module docstring for the forms). With the
    cameras' `group`, the first instant's views are checked against the calibrated sizes before
    any work: a mismatch fails the input once (InputError), not every one of its frames."""
    source = _open_views(target, views, selection, orientation)
    if group is not None:  # a source reads once: check on a copy of its own
        check_first_instant(source, group, target)
        source = _open_views(target, views, selection, orientation)
    return source


def _open_views(target: str, views: int, selection: readers.FrameSelection,
                orientation: readers.Orientation) -> Any:
    parts = [p for p in str(target).split(",") if p]
    if len(parts) > 1:
        if len(parts) != views:
            raise InputError(f"{target}: {len(parts)} videos for {views} cameras; give one per camera, "
                             "in the cameras' order.")
        sources = [readers.VideoSource(p, selection, orientation) for p in parts]
        synced = readers.SynchronizedSources(sources, [Path(p).name for p in parts])
        return _Views(synced, synced.total, synced.fps, Path(parts[0]), selection)
    path = Path(target)
    if path.is_dir():
        folders = sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: readers.natural_key(p.name))
        if folders and not readers.list_images(path):
            if len(folders) != views:
                raise InputError(f"{path}: {len(folders)} camera folders for {views} cameras; give one "
                                 "folder of images per camera.")
            sources = [readers.ImageFolderSource(f, selection, orientation) for f in folders]
            synced = readers.SynchronizedSources(sources, [f.name for f in folders])
            return _Views(synced, synced.total, None, path, still=True)
        grouped = readers.GroupedImageSource(path, views, orientation)
        return _Views(grouped, grouped.total, None, path, still=True)
    video = readers.VideoSource(path, selection, orientation)
    return _Views(readers.SideBySideSource(video, views), video.total, video.fps, path, selection)


class UndistortedSource:
    """A source whose frames (or views) are undistorted before detection (`--frame_undistort`)."""

    def __init__(self, source: Any, cameras: Any) -> None:
        from jaxpose.calibration import FrameUndistorter

        self.source = source
        self.undistort = [FrameUndistorter(camera) for camera in cameras]
        self.total, self.fps = source.total, source.fps
        self.path = getattr(source, "path", None)
        self.selection = getattr(source, "selection", None)
        self.still = getattr(source, "still", False) or isinstance(
            source, (readers.ImageFolderSource, readers.ImageFileSource))

    def frames(self, skip: Any = readers._never) -> Iterator[readers.Item]:
        for item in self.source.frames(skip):
            try:
                if isinstance(item, readers.Views):
                    yield readers.Views(item.name, item.index,
                                        tuple(u(v) for u, v in zip(self.undistort, item.images)))
                elif isinstance(item, readers.Frame):
                    yield readers.Frame(item.name, item.index, self.undistort[0](item.image))
                else:
                    yield item
            except InputError as error:
                yield readers.FrameError(item.name, item.index, f"{item.name}: {error}")


def pinhole(group: Any) -> Any:
    """The cameras without lens distortion (their views were undistorted already)."""
    from jaxpose.cameras import CameraGroup

    return CameraGroup(tuple(camera.replace(dist=camera.dist[:0]) for camera in group.cameras))


PEEK_INSTANTS = 10  # items looked at for a first readable instant before giving up the check


def check_first_instant(source: Any, group: Any, label: str) -> None:
    """The first readable instant of `source` has views of the calibrated sizes (InputError
    naming the input and the camera); an input that ends before any readable instant fails with
    its last error. Reads up to PEEK_INSTANTS items; unreadable first frames of a longer input
    are left to the run, which reports them one by one."""
    frames = source.frames()
    error = None
    try:
        for _ in range(PEEK_INSTANTS):
            item = next(frames, None)
            if item is None:  # the input ended before a readable instant
                if error is not None:
                    raise InputError(error)
                return
            if isinstance(item, readers.Views):
                check_view_sizes(item, group, label)
                return
            if isinstance(item, readers.FrameError):
                error = item.message
    finally:
        frames.close()


def check_view_sizes(item: readers.Views, group: Any, label: str | None = None) -> None:
    """Each view has the size its camera was calibrated at (InputError naming the camera, after
    `label` when given)."""
    for camera, image in zip(group.cameras, item.images):
        size = (image.shape[1], image.shape[0])
        if camera.image_size is not None and camera.image_size != size:
            where = f"{label}: " if label else ""
            raise InputError(
                f"{where}view of camera {camera.name} is {size[0]}x{size[1]} but the camera was "
                f"calibrated at {camera.image_size[0]}x{camera.image_size[1]}; use frames of that size "
                "(or recalibrate, or check the order of the camera files and views).")


def reconstruction_stage(group: Any, options: Any) -> Stage:
    """Result with `views` -> the same with `extra["poses3d"]` (every person, §5.3 or better)."""
    from jaxpose.triangulation import reconstruct

    min_views = getattr(options, "3d_min_views")
    settings = dict(method=getattr(options, "3d_method"),
                    min_views=None if min_views < 0 else min_views,
                    associate_people=options.number_people_max != 1)
    checked: set[tuple] = set()

    def stage(result: Result) -> Result:
        sizes = tuple(p.image_size for p in result.views)
        if sizes not in checked:
            check_view_sizes(readers.Views(result.name, result.index, result.images), group)
            checked.add(sizes)
        poses3d = reconstruct(group, list(result.views), **settings)
        return result.replace(extra={**result.extra, "poses3d": poses3d})

    return stage
