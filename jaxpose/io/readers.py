"""Streaming frame sources: image folders, single images, videos, webcams and IP cameras.

Every source yields, one at a time and with bounded memory whatever the input length:

- `Frame(name, index, image)`: `image` is (H, W, 3) uint8 **RGB**, already rotated/flipped;
- `FrameError(name, index, message)`: this frame could not be read (corrupt image, undecodable
  video frame, truncated file); the run goes on with the next one;
- `Skipped(name, index)`: the caller's `skip(name)` said the frame is done already; it was not decoded.

Frame names follow OpenPose (features §3.1): image file stem; `<video stem>_<12-digit index>`;
12-digit capture index for cameras. Frame selection (`frame_first`, `frame_last` inclusive,
`frame_step`) applies to image folders and videos, as in OpenPose.

Image files are measured from their header (Pillow) before they are decoded (OpenCV, as
OpenPose): one larger than `jaxpose.limits` allows (16384 pixels a side, 128 megapixels) is
refused without decoding, so a decompression bomb (a tiny file whose header claims 30000 x 30000
pixels) costs no memory. Videos whose frame size exceeds the limits are refused when opened.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Callable, Iterator
from itertools import zip_longest
from pathlib import Path

import numpy as np

from jaxpose.errors import InputError
from jaxpose.limits import MAX_IMAGE_PIXELS, image_size_problem

# OpenPose's image extensions (src/openpose/utilities/fileSystem.cpp), compared case-insensitively.
IMAGE_EXTENSIONS = (".bmp", ".dib", ".pbm", ".pgm", ".ppm", ".sr", ".ras", ".jpg", ".jpeg", ".png")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".webm", ".ogv")
ROTATIONS = (0, 90, 180, 270)


@dataclasses.dataclass(frozen=True)
class Frame:
    """One decoded frame: `image` is (H, W, 3) uint8 RGB."""

    name: str
    index: int
    image: np.ndarray


@dataclasses.dataclass(frozen=True)
class FrameError:
    """A frame (or the rest of a stream) that could not be read; `message` names the problem."""

    name: str
    index: int
    message: str


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A frame the caller asked to skip (its outputs exist); it was not decoded."""

    name: str
    index: int


@dataclasses.dataclass(frozen=True)
class Views:
    """One instant seen by V synchronised cameras: `images` are V (H_v, W_v, 3) uint8 RGB arrays in
    camera order; `name` is the instant's frame name (view v's files get OpenPose's `_<v>` suffix)."""

    name: str
    index: int
    images: tuple[np.ndarray, ...]


Item = Frame | FrameError | Skipped | Views
SkipFn = Callable[[str], bool]


def _never(_: str) -> bool:
    return False


@dataclasses.dataclass(frozen=True)
class FrameSelection:
    """OpenPose's `--frame_first`, `--frame_last` (inclusive, -1 = till the end), `--frame_step`."""

    first: int = 0
    last: int = -1
    step: int = 1

    def __post_init__(self) -> None:
        if self.first < 0:
            raise InputError(f"--frame_first must be >= 0 (got {self.first}).")
        if self.step < 1:
            raise InputError(f"--frame_step must be >= 1 (got {self.step}).")
        if self.last >= 0 and self.last < self.first:
            raise InputError(
                f"--frame_last ({self.last}) is before --frame_first ({self.first}); "
                "use -1 to read till the end."
            )

    def indices(self, total: int) -> range:
        """The selected frame indices of a stream of `total` frames."""
        stop = total if self.last < 0 else min(total, self.last + 1)
        return range(self.first, max(stop, self.first), self.step)

    def count(self, total: int | None) -> int | None:
        """Number of selected frames, or None when the stream length is unknown and unbounded."""
        if total is None:
            return len(range(self.first, self.last + 1, self.step)) if self.last >= 0 else None
        return len(self.indices(total))


@dataclasses.dataclass(frozen=True)
class Orientation:
    """OpenPose's `--frame_rotate` (degrees, counter-clockwise) and `--frame_flip` (mirror)."""

    rotate: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if self.rotate not in ROTATIONS:
            raise InputError(f"--frame_rotate must be one of 0, 90, 180, 270 (got {self.rotate}).")


def orient(image: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Mirror (if `flip`) then rotate counter-clockwise by `rotate` degrees, as OpenPose's producer.

    OpenPose (src/openpose/producer/producer.cpp): 90 = transpose + vertical flip, 270 = transpose +
    horizontal flip, 180 = both flips; with `--frame_flip` the combination equals a horizontal
    mirror applied before the rotation. (H, W, 3) -> (H, W, 3) or (W, H, 3), contiguous.
    """
    if orientation.flip:
        image = image[:, ::-1]
    if orientation.rotate:
        image = np.rot90(image, k=orientation.rotate // 90)
    return np.ascontiguousarray(image)


def natural_key(name: str) -> list:
    """Sort key for OpenPose's natural order: digit runs compare as numbers ("img2" < "img10")."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (no hidden files, no sub-folders), in natural order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (--image_dir needs a folder of images).")
    try:
        entries = list(os.scandir(folder))
    except OSError as error:
        raise InputError(f"{folder}: cannot list the folder ({error.strerror}).") from None
    files = [
        Path(entry.path)
        for entry in entries
        if not entry.name.startswith(".")
        and entry.is_file()
        and Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda path: natural_key(path.name))


def image_header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image file's header, without decoding the pixels (Pillow).

    None when Pillow does not recognise the file (OpenCV may still decode it). Raises InputError
    when the header declares more pixels than Pillow's own decompression-bomb limit (which is
    above `MAX_IMAGE_PIXELS`) or the file cannot be opened.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return int(image.width), int(image.height)
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: image header declares more than {MAX_IMAGE_PIXELS:,} pixels (the limit); "
            "refused without decoding it. Downscale it first."
        ) from None
    except OSError as error:
        if isinstance(error, UnidentifiedImageError) or error.errno is None:
            return None  # not a format Pillow knows, or a damaged header: OpenCV decides
        raise InputError(f"{path}: cannot read the file ({error.strerror}).") from None
    except Exception:  # Pillow's header parsers raise many types on damaged files
        return None  # OpenCV decides (and reports a damaged file as unreadable)


def decode_image(path: Path) -> np.ndarray:
    """Read one image file as (H, W, 3) uint8 RGB; grey and alpha images are converted.

    The size is read from the header first: an image over the limits (`jaxpose.limits`) is
    refused before decoding. Raises InputError naming the file when it cannot be read, decoded
    or is too large.
    """
    import cv2

    path = Path(path)
    size = image_header_size(path)
    problem = image_size_problem(*size) if size is not None else None
    if problem:
        raise InputError(f"{path}: {problem} Refused without decoding it.")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputError(f"{path}: cannot read the file ({error.strerror}).") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unsupported format).")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageFolderSource:
    """`--image_dir`: images of a folder in natural order; a bad image yields a FrameError."""

    fps: float | None = None

    def __init__(
        self,
        folder: str | os.PathLike,
        selection: FrameSelection = FrameSelection(),
        orientation: Orientation = Orientation(),
    ) -> None:
        self.path = Path(folder)
        files = list_images(self.path)
        if not files:
            raise InputError(
                f"{self.path}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})."
            )
        self.files = [files[i] for i in selection.indices(len(files))]
        self.orientation = orientation
        self.total: int | None = len(self.files)

    def frames(self, skip: SkipFn = _never) -> Iterator[Item]:
        for index, path in enumerate(self.files):
            yield _read_image_item(path, index, self.orientation, skip)


class ImageFileSource:
    """A single image file (positional convenience input)."""

    fps: float | None = None
    total: int | None = 1

    def __init__(self, path: str | os.PathLike, orientation: Orientation = Orientation()) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such image file.")
        self.orientation = orientation

    def frames(self, skip: SkipFn = _never) -> Iterator[Item]:
        yield _read_image_item(self.path, 0, self.orientation, skip)


def _read_image_item(path: Path, index: int, orientation: Orientation, skip: SkipFn) -> Item:
    if skip(path.stem):
        return Skipped(path.stem, index)
    try:
        return Frame(path.stem, index, orient(decode_image(path), orientation))
    except InputError as error:
        return FrameError(path.stem, index, str(error))


FFMPEG_LOGLEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
# OpenCV reads this once, when its FFmpeg backend first starts (any VideoCapture or VideoWriter of
# the process, e.g. `--write_video` before a damaged video is read); so it is set on import.
os.environ.setdefault(FFMPEG_LOGLEVEL_ENV, "8")  # AV_LOG_FATAL: h264 "error while decoding MB" off


def _quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own warnings ("can't open camera by index", "Invalid NAL unit")
    off stderr: our one-line message says what went wrong. A user-set level is kept."""
    import cv2

    os.environ.setdefault(FFMPEG_LOGLEVEL_ENV, "8")

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:
        pass


class _CaptureSource:
    """Shared reading loop of cv2.VideoCapture-based sources."""

    orientation: Orientation
    selection: FrameSelection
    fps: float | None
    total: int | None
    label: str
    _stream_total: int | None
    _start: int = 0  # capture position of the first frame read (after a seek)

    def _open(self, target: int | str) -> None:
        import cv2

        _quiet_opencv()
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            self._capture.release()
            raise InputError(self._open_error())
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None

    def _open_error(self) -> str:
        raise NotImplementedError

    def _name(self, position: int) -> str:
        return f"{position:012d}"

    def frames(self, skip: SkipFn = _never) -> Iterator[Item]:
        import cv2

        capture = self._capture
        position = self._start
        emitted = 0
        try:
            while self.selection.last < 0 or position <= self.selection.last:
                wanted = position >= self.selection.first and (
                    (position - self.selection.first) % self.selection.step == 0
                )
                name = self._name(position)
                if not wanted or skip(name):
                    if not capture.grab():
                        break
                    if wanted:
                        yield Skipped(name, emitted)
                        emitted += 1
                    position += 1
                    continue
                ok, image = capture.read()
                if not ok or image is None:
                    break
                yield Frame(name, emitted, orient(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self.orientation))
                emitted += 1
                position += 1
            shortfall = self._missing_frames(position)
            if shortfall:
                yield FrameError(self._name(position), emitted, shortfall)
        finally:
            capture.release()

    def _missing_frames(self, position: int) -> str | None:
        return None


class VideoSource(_CaptureSource):
    """`--video`: a video file read with OpenCV's FFmpeg backend.

    A stream that ends before its announced frame count (truncated or damaged file), or that
    yields no frame at all (OpenCV opens some non-videos, e.g. a text file named .png, as a
    one-frame stream), ends with a FrameError naming the file and how many frames were read.

    seek: start at `selection.first` by seeking (OpenCV's CAP_PROP_POS_FRAMES) instead of decoding
    every frame before it; frame names stay the capture positions. Seeking is frame-exact for
    constant-frame-rate files; a caller that must be sure checks a frame it already knows (the
    batch job compares the frames on both sides of each chunk boundary). Falls back to decoding
    from the start when the backend refuses the seek.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        selection: FrameSelection = FrameSelection(),
        orientation: Orientation = Orientation(),
        seek: bool = False,
    ) -> None:
        import cv2

        self.path = Path(path)
        self.selection = selection
        self.orientation = orientation
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, not a video; use --image_dir for a folder of images.")
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such video file.")
        if not os.access(self.path, os.R_OK):
            raise InputError(f"{self.path}: the video file is not readable (permission denied).")
        self._open(str(self.path))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._stream_total = count if count > 0 else None
        if self._stream_total is not None and selection.first >= self._stream_total:
            self._capture.release()
            raise InputError(
                f"{self.path}: --frame_first {selection.first} is past the end of the video "
                f"({self._stream_total} frames)."
            )
        self.total = selection.count(self._stream_total)
        if seek and selection.first > 0 and self._capture.set(cv2.CAP_PROP_POS_FRAMES, selection.first):
            self._start = selection.first

    def _open_error(self) -> str:
        return f"{self.path}: cannot open the video (corrupt, truncated header or unsupported codec)."

    def _name(self, position: int) -> str:
        return f"{self.path.stem}_{position:012d}"

    def _missing_frames(self, position: int) -> str | None:
        if position == self._start:  # not one frame decoded or skipped (e.g. text named .png)
            return (f"{self.path}: no frame could be decoded (not a video or an image OpenCV can read, "
                    "or a damaged one).")
        expected = self._stream_total
        if expected is None:
            return None
        if self.selection.last >= 0:
            expected = min(expected, self.selection.last + 1)
        # Containers may announce one frame more than they hold; more than that is damage.
        if position < expected - 1:
            return (
                f"{self.path}: the video ended after {position} of {expected} frames "
                "(truncated or damaged file)."
            )
        return None


class CameraSource(_CaptureSource):
    """`--camera N`: a webcam by index (-1 = the first one that opens)."""

    total: int | None = None

    def __init__(self, index: int, orientation: Orientation = Orientation(), frame_last: int = -1) -> None:
        self.index = index
        self.orientation = orientation
        self.selection = FrameSelection(0, frame_last, 1)
        if index < 0:
            for candidate in range(10):
                try:
                    self.index = candidate
                    self._open(candidate)
                    break
                except InputError:
                    continue
            else:
                raise InputError("no camera found (tried indices 0-9); pass --camera N or another input.")
        else:
            self._open(index)
        self.total = self.selection.count(None)

    def _open_error(self) -> str:
        return f"camera {self.index}: cannot open it (no such camera, or it is busy)."


class IPCameraSource(_CaptureSource):
    """`--ip_camera URL`: an RTSP/HTTP stream."""

    total: int | None = None

    def __init__(self, url: str, orientation: Orientation = Orientation(), frame_last: int = -1) -> None:
        self.url = url
        self.orientation = orientation
        self.selection = FrameSelection(0, frame_last, 1)
        self._open(url)
        self.total = self.selection.count(None)

    def _open_error(self) -> str:
        return f"{self.url}: cannot open the IP camera stream (check the URL and the network)."


Source = ImageFolderSource | ImageFileSource | VideoSource | CameraSource | IPCameraSource


def open_path(
    path: str | os.PathLike,
    selection: FrameSelection = FrameSelection(),
    orientation: Orientation = Orientation(),
) -> Source:
    """Open a positional input: a folder of images, an image file or a video file."""
    path = Path(path)
    if path.is_dir():
        return ImageFolderSource(path, selection, orientation)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permission denied).")
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return ImageFileSource(path, orientation)
    if suffix in VIDEO_EXTENSIONS:
        return VideoSource(path, selection, orientation)
    raise InputError(
        f"{path}: unknown kind of input (expected a folder, an image {', '.join(IMAGE_EXTENSIONS)} "
        f"or a video {', '.join(VIDEO_EXTENSIONS)}); use --image_dir or --video to say which."
    )


# ---------------------------------------------------------------------------- multi-view inputs


def split_side_by_side(image: np.ndarray, views: int) -> tuple[np.ndarray, ...]:
    """OpenPose's `--3d_views N` on a video: view i = columns [i*W/N, (i+1)*W/N) (features §5.2)."""
    width = image.shape[1]
    if width % views:
        raise InputError(f"a frame {width} pixels wide cannot be split into {views} equal views; "
                         "check --3d_views.")
    step = width // views
    return tuple(np.ascontiguousarray(image[:, i * step:(i + 1) * step]) for i in range(views))


class SideBySideSource:
    """A video (or any single source) whose frames hold `views` camera images side by side."""

    def __init__(self, source: Source, views: int) -> None:
        self.source, self.views = source, views
        self.fps, self.total = source.fps, source.total

    def frames(self, skip: SkipFn = _never) -> Iterator[Item]:
        """Every frame of a video has one width: one that cannot be split ends the stream with
        one FrameError (not one per frame)."""
        for item in self.source.frames(skip):
            if isinstance(item, Frame):
                try:
                    yield Views(item.name, item.index, split_side_by_side(item.image, self.views))
                except InputError as error:
                    yield FrameError(item.name, item.index, f"{item.name}: {error}")
                    return
            else:
                yield item


class GroupedImageSource:
    """OpenPose's `--image_dir` with `--3d_views N`: N consecutive images (natural order) form one
    instant, named after its first image."""

    fps: float | None = None

    def __init__(self, folder: str | os.PathLike, views: int, orientation: Orientation = Orientation()) -> None:
        self.path = Path(folder)
        files = list_images(self.path)
        if not files:
            raise InputError(f"{self.path}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}).")
        if len(files) % views:
            raise InputError(
                f"{self.path}: {len(files)} images are not a whole number of instants of {views} views "
                "(--3d_views); every instant needs one image per camera.")
        self.groups = [files[i:i + views] for i in range(0, len(files), views)]
        self.orientation = orientation
        self.total: int | None = len(self.groups)

    def frames(self, skip: SkipFn = _never) -> Iterator[Item]:
        for index, group in enumerate(self.groups):
            name = group[0].stem
            if skip(name):
                yield Skipped(name, index)
                continue
            try:
                yield Views(name, index, tuple(orient(decode_image(p), self.orientation) for p in group))
            except InputError as error:
                yield FrameError(name, index, str(error))


class SynchronizedSources:
    """One video or image folder per camera, read in lock-step: instant t = frame t of each.

    Instants are named after camera 0's frames. A camera that ends early ends the stream with a
    FrameError naming it; an unreadable frame of any camera fails that instant only.
    """

    def __init__(self, sources: list[Source], labels: list[str]) -> None:
        if len(sources) < 2:
            raise InputError("synchronised multi-view input needs at least 2 cameras.")
        self.sources, self.labels = sources, labels
        self.fps = sources[0].fps
        totals = [s.total for s in sources]
        known = [t for t in totals if t is not None]
        if len(set(known)) > 1:
            counts = ", ".join(f"{label}: {t}" for label, t in zip(labels, totals))
            raise InputError(f"the cameras have different frame counts ({counts}); cut them to the "
                             "same synchronised range (e.g. with --frame_first/--frame_last).")
        self.total = min(known) if known else None

    def frames(self, skip: SkipFn = _never) -> Iterator[Item]:
        streams = [s.frames() for s in self.sources]
        try:
            for index, items in enumerate(zip_longest(*streams)):
                first = items[0]
                name = getattr(first, "name", None) or f"{index:012d}"
                missing = [label for label, item in zip(self.labels, items) if item is None]
                if missing:
                    yield FrameError(name, index, f"{', '.join(missing)}: ended after {index} frames while "
                                     "the other cameras go on; the inputs are not synchronised.")
                    return
                bad = [item for item in items if not isinstance(item, Frame)]
                if bad:
                    message = "; ".join(getattr(b, "message", f"{b.name}: skipped") for b in bad)
                    yield FrameError(name, index, message)
                    continue
                if skip(name):
                    yield Skipped(name, index)
                    continue
                yield Views(name, index, tuple(item.image for item in items))
        finally:
            for stream in streams:
                stream.close()
