"""3D skeletons with matplotlib: what users want instead of OpenPose's OpenGL 3D window.

Public functions (matplotlib is the optional `plot` extra, imported on first use):
    plot3d(poses3d, ax=None, *, cameras=None, up="z", limits=None, ...) -> Axes3D
    render3d(poses3d, *, size=(640, 480), cameras=None, up="z", limits=None, ...) -> (H, W, 3) uint8
    scene_limits(poses3d_list, cameras=None, up="z", margin=0.25) -> ((lo, hi) x 3) metres
    write_3d_image(directory, frame_name, poses3d, **render_options) -> Path  "<frame>_3d.png"
    Video3DWriter(path, fps, *, limits=None, **render_options): .add(poses3d), .close()  (mp4/gif
        via imageio; the axes stay fixed for the whole video)

Axes are in metres when the cameras' unit is a length (m, cm, mm, in, ft), else in that unit.
Limbs are the model's `render_pairs`, coloured like OpenPose's renderer (a limb takes the colour of
its second part); a limb is drawn when both keypoints were reconstructed, a keypoint when its
score > 0. `up` names the world axis pointing up, drawn vertically ("z": H36M, Pose2Sim; "y";
"-y": OpenPose's calibration world = camera 0's frame, y pointing down). Camera centres of a
`CameraGroup` are drawn as labelled black triangles.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from jaxpose.errors import InputError, JaxposeError
from jaxpose.io.names import output_path
from jaxpose.poses3d import Poses3D
from jaxpose.specs import SPECS

# display (x, y, z) with z vertical <- world (axis, sign)
_DISPLAY = {"z": ((0, 1), (1, 1), (2, 1)), "y": ((0, 1), (2, -1), (1, 1)),
            "-y": ((0, 1), (2, 1), (1, -1))}


def _matplotlib() -> Any:
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        import mpl_toolkits.mplot3d  # noqa: F401  (registers the "3d" projection)
    except ImportError as e:
        raise JaxposeError("3D plots need matplotlib: pip install 'jaxpose[plot]' "
                           "(or pip install matplotlib)") from e
    return matplotlib, Figure, FigureCanvasAgg


def _display(points: np.ndarray, up: str) -> np.ndarray:
    if up not in _DISPLAY:
        raise InputError(f"up={up!r}: give the world axis that points up, one of "
                         f"{', '.join(_DISPLAY)}")
    points = np.asarray(points, np.float64)
    return np.stack([sign * points[..., axis] for axis, sign in _DISPLAY[up]], axis=-1)


def _in_metres(poses3d: Poses3D) -> tuple[Poses3D, str]:
    from jaxpose.cameras.units import is_length

    return (poses3d.in_units("m"), "m") if is_length(poses3d.units) else (poses3d, poses3d.units)


def _camera_centres(cameras: Any, units: str) -> tuple[np.ndarray, list[str]]:
    if cameras is None:
        return np.zeros((0, 3)), []
    from jaxpose.cameras.units import is_length, unit_scale

    scale = unit_scale(cameras.units, "m") if is_length(cameras.units) and units == "m" else 1.0
    return np.array([cam.center * scale for cam in cameras]), [cam.name for cam in cameras]


def scene_limits(frames: Sequence[Poses3D], cameras: Any = None, up: str = "z",
                 margin: float = 0.25) -> tuple[tuple[float, float], ...]:
    """A cube (display coordinates, metres when convertible) holding every reconstructed keypoint
    of `frames` (and the camera centres), plus `margin` on each side."""
    points = []
    units = "m"
    for poses3d in frames:
        poses3d, units = _in_metres(poses3d)
        kp = poses3d.keypoints
        points.append(kp[kp[..., 3] > 0][:, :3])
    centres, _ = _camera_centres(cameras, units)
    points.append(centres)
    points = _display(np.concatenate(points, axis=0), up) if sum(map(len, points)) else np.zeros((1, 3))
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3) + margin
    return tuple((float(c - half), float(c + half)) for c in centre)


def plot3d(poses3d: Poses3D, ax: Any = None, *, cameras: Any = None, up: str = "z",
           limits: Sequence[tuple[float, float]] | None = None, linewidth: float = 2.0,
           markersize: float = 4.0, elev: float = 15.0, azim: float = -60.0) -> Any:
    """Draw the skeletons of `poses3d` on a 3D axis (a new figure's when `ax` is None)."""
    _, Figure, _ = _matplotlib()
    if ax is None:
        ax = Figure(figsize=(6.4, 4.8)).add_subplot(projection="3d")
    if poses3d.model not in SPECS:
        raise InputError(f"model {poses3d.model!r} has no limbs in jaxpose.specs")
    spec = SPECS[poses3d.model]
    colors = np.asarray(spec.part_colors, dtype=float) / 255.0
    shown, units = _in_metres(poses3d)
    for person in shown.keypoints:
        xyz = _display(person[:, :3], up)
        present = person[:, 3] > 0
        for a, b in spec.render_pairs:
            if present[a] and present[b]:
                ax.plot(*xyz[[a, b]].T, color=colors[b % len(colors)], linewidth=linewidth)
        if present.any():
            parts = np.flatnonzero(present)
            ax.scatter(*xyz[parts].T, c=colors[parts % len(colors)], s=markersize ** 2,
                       depthshade=False)
    centres, names = _camera_centres(cameras, units)
    if len(centres):
        shown_centres = _display(centres, up)
        ax.scatter(*shown_centres.T, c="k", marker="^", s=40)
        for centre, name in zip(shown_centres, names):
            ax.text(*centre, f" {name}", fontsize=7)
    limits = limits or scene_limits([poses3d], cameras, up)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_zlim(*limits[2])
    ax.set_box_aspect((1, 1, 1))
    world = {"z": "xyz", "y": ("x", "-z", "y"), "-y": ("x", "z", "-y")}[up]
    ax.set_xlabel(f"{world[0]} ({units})")
    ax.set_ylabel(f"{world[1]} ({units})")
    ax.set_zlabel(f"{world[2]} ({units})")
    ax.view_init(elev=elev, azim=azim)
    return ax


def render3d(poses3d: Poses3D, *, size: tuple[int, int] = (640, 480), dpi: int = 100,
             **plot_options: Any) -> np.ndarray:
    """`plot3d` rendered off-screen to an (H, W, 3) uint8 RGB image of `size` (W, H) pixels."""
    _, Figure, FigureCanvasAgg = _matplotlib()
    width, height = size
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    plot3d(poses3d, figure.add_subplot(projection="3d"), **plot_options)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_3d_image(directory: str | Path, frame_name: str, poses3d: Poses3D,
                   **render_options: Any) -> Path:
    """Write `<directory>/<frame_name>_3d.png` (the `render3d` image) atomically."""
    from jaxpose.io.writers.image import write_image

    return write_image(output_path(directory, frame_name, "3d", "png"),
                       render3d(poses3d, **render_options))


@contextlib.contextmanager
def _ffmpeg_started_quietly() -> Iterator[None]:
    """imageio's ffmpeg is started with a `preexec_fn`, which runs the fork hooks: JAX's warns that
    forking a multithreaded process may deadlock, but the child only execs ffmpeg. Hide that one
    warning, which users took for a fault."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        yield


class Video3DWriter:
    """An mp4 (or gif, by the path's extension) of `render3d` frames through imageio.

    Frames are rendered as they are added; the file is written under a temporary name and moved
    into place by `close()`, so an interrupted run leaves no half-written video. The axes are fixed
    by `limits`, else by the first frame (`scene_limits` with a 0.5 m margin)."""

    def __init__(self, path: str | Path, fps: float, *, limits: Any = None, **render_options: Any):
        import imageio.v2 as imageio

        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".gif", ".avi", ".mov"):
            raise InputError(f"{self.path}: a 3D video must end in .mp4, .gif, .avi or .mov")
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps={fps!r}: give a positive frame rate")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        self._writer = imageio.get_writer(self._partial, fps=fps) if self.path.suffix.lower() != ".gif" \
            else imageio.get_writer(self._partial, duration=1.0 / fps)
        self.limits = limits
        self.options = render_options

    def add(self, poses3d: Poses3D) -> None:
        if self.limits is None:
            self.limits = scene_limits([poses3d], self.options.get("cameras"),
                                       self.options.get("up", "z"), margin=0.5)
        frame = render3d(poses3d, limits=self.limits, **self.options)
        with _ffmpeg_started_quietly():
            self._writer.append_data(frame)

    def close(self) -> Path:
        with _ffmpeg_started_quietly():
            self._writer.close()
        self._partial.replace(self.path)
        return self.path
