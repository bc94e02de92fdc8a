"""Chessboard corners: detection, OpenPose's sub-pixel refinement rule, and one canonical corner order.

Corner rules (features §5.4, basis doc §3):
- "openpose" (default), as OpenPose's calibration tool (`gridPatternFunctions.cpp`): OpenCV's
  chessboard finder with adaptive threshold + image normalisation + quad filtering; when the board
  is not found, once more on a sharpened image (1.8 I - 0.8 GaussianBlur(I, sigma = 105); the blur
  is OpenCV's 631-tap separable Gaussian filter, 20x faster than GaussianBlur's bit-exact 8-bit path
  and within rounding of it), then on
  up to 3 pyramid down-samplings (stopping at 20,000 px area), corners scaled back by the integer
  width ratio; then `cornerSubPix` with half-window max(5, round(|c0 - c1|_inf / 4)) (a quarter of
  the square pitch), no dead zone, 1000 iterations or epsilon 1e-9.
- "opencv": OpenCV's calibration sample: adaptive threshold + normalisation, `cornerSubPix`
  half-window 11, 30 iterations or epsilon 0.01.

Corner order (jaxpose's rule, so that every camera numbers the corners of one board alike): row by
row, `cols` corners per row, object points (c * s, r * s, 0) as OpenCV's samples. Corners are
mirrored when needed so that the board is seen from the front (the row direction turned to the
next-row direction is clockwise in the image), then, for boards with an odd number of inner corners
on one side and even on the other, rotated by 180 degrees when needed so that the board square
diagonally outside the first corner is the darker of the two end squares. Boards with both sides
even or both odd are symmetric under that rotation: the first corner is then the one nearer the
image's top-left, which is only consistent between cameras that are roughly upright (a warning).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxpose.errors import InputError

CORNER_RULES = ("openpose", "opencv")
PYRAMID_MIN_AREA = 20e3


@dataclasses.dataclass(frozen=True)
class Chessboard:
    """A chessboard: inner corners `cols` x `rows` (squares - 1 per side), square side in `units`."""

    cols: int
    rows: int
    square_size: float = 1.0
    units: str = "mm"

    def __post_init__(self) -> None:
        if not (isinstance(self.cols, int) and isinstance(self.rows, int) and self.cols >= 2 and self.rows >= 2):
            raise InputError(f"a chessboard needs at least 2x2 inner corners, got {self.cols}x{self.rows}")
        if not (np.isfinite(self.square_size) and self.square_size > 0):
            raise InputError(f"the square size must be a positive length, got {self.square_size}")

    @classmethod
    def parse(cls, text: str, square_size: float = 1.0, units: str = "mm") -> Chessboard:
        """'9x6' (OpenPose's `--grid_number_inner_corners` form) -> Chessboard."""
        try:
            cols, rows = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise InputError(f"board size {text!r} must be inner corners as WIDTHxHEIGHT, e.g. 9x6") from None
        return cls(cols, rows, float(square_size), units)

    @property
    def pattern(self) -> tuple[int, int]:
        return self.cols, self.rows

    @property
    def n_corners(self) -> int:
        return self.cols * self.rows

    @property
    def orientable(self) -> bool:
        """True when the board's two ends differ in colour (one side odd, the other even)."""
        return (self.cols + self.rows) % 2 == 1

    def object_points(self) -> np.ndarray:
        """(rows * cols, 3) float32 board coordinates (c * s, r * s, 0), row by row."""
        grid = np.mgrid[0: self.cols, 0: self.rows].T.reshape(-1, 2)
        return np.c_[grid * self.square_size, np.zeros(len(grid))].astype(np.float32)

    def describe(self) -> str:
        return f"{self.cols}x{self.rows} inner corners, squares of {self.square_size:g} {self.units}"


def _find(gray: np.ndarray, board: Chessboard, flags: int) -> np.ndarray | None:
    import cv2

    found, corners = cv2.findChessboardCorners(gray, board.pattern, flags=flags)
    return corners.reshape(-1, 2) if found and corners is not None else None


def _sharpen_kernel():
    import cv2

    return cv2.getGaussianKernel(2 * int(np.ceil(3 * 105)) + 1, 105)


_SHARPEN_KERNEL = _sharpen_kernel()


def _find_openpose(gray: np.ndarray, board: Chessboard) -> np.ndarray | None:
    """OpenPose's `heavilyTryToFindGridCorners` (its identical second try is skipped: deterministic)."""
    import cv2

    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FILTER_QUADS

    def medium(image: np.ndarray) -> np.ndarray | None:
        corners = _find(image, board, flags)
        if corners is None:
            blurred = cv2.sepFilter2D(image, -1, _SHARPEN_KERNEL, _SHARPEN_KERNEL)
            corners = _find(cv2.addWeighted(image, 1.8, blurred, -0.8, 0), board, flags)
        return corners

    corners = medium(gray)
    small = gray
    for _ in range(3):
        if corners is not None:
            break
        small = cv2.pyrDown(small)
        corners = medium(small)
        if corners is None and small.shape[0] * small.shape[1] <= PYRAMID_MIN_AREA:
            break
    if corners is not None and small.shape[1] != gray.shape[1]:
        corners = corners * float(gray.shape[1] // small.shape[1])
    return corners


def refine_window(corners: np.ndarray, rule: str) -> int:
    """cornerSubPix half-window: OpenPose's max(5, round(|c0 - c1|_inf / 4)), or OpenCV's sample 11."""
    if rule == "opencv":
        return 11
    return max(5, int(np.round(np.abs(corners[0] - corners[1]).max() / 4)))


def _canonical_order(corners: np.ndarray, gray: np.ndarray, board: Chessboard) -> np.ndarray:
    """The stated corner order (module doc): front-facing, then the dark end square first."""
    grid = corners.reshape(board.rows, board.cols, 2)
    along, down = grid[0, 1] - grid[0, 0], grid[1, 0] - grid[0, 0]
    if along[0] * down[1] - along[1] * down[0] < 0:  # seen mirrored: reverse every row
        grid = grid[:, ::-1]
    if board.orientable:
        if _end_square_level(grid, gray) > _end_square_level(grid[::-1, ::-1], gray):  # darker end first
            grid = grid[::-1, ::-1]
    elif grid[-1, -1].sum() < grid[0, 0].sum():
        grid = grid[::-1, ::-1]
    return np.ascontiguousarray(grid.reshape(-1, 2))


def _end_square_level(grid: np.ndarray, gray: np.ndarray) -> float:
    """Grey level of the board square diagonally outside corner grid[0, 0] minus that of a square
    beside it (the squares around a corner alternate: negative means the end square is the dark
    one). Sampled a quarter diagonal from the corner, inside the squares even when foreshortened."""
    c0 = grid[0, 0].astype(np.float64)
    along, down = grid[0, 1] - c0, grid[1, 0] - c0
    radius = max(1, int(0.08 * min(np.linalg.norm(along), np.linalg.norm(down))))

    def level(point: np.ndarray) -> float:
        x, y = int(round(point[0])), int(round(point[1]))
        h, w = gray.shape
        patch = gray[max(0, y - radius): min(h, y + radius + 1), max(0, x - radius): min(w, x + radius + 1)]
        return float(patch.mean()) if patch.size else 128.0

    return level(c0 - 0.25 * (along + down)) - level(c0 + 0.25 * (along - down))


def find_corners(gray: np.ndarray, board: Chessboard, rule: str = "openpose") -> np.ndarray | None:
    """Board corners (rows * cols, 2) float32 in pixels, refined and in canonical order; None if not found.

    gray: (H, W) uint8. rule: "openpose" (default) or "opencv" (module doc).
    """
    import cv2

    if rule not in CORNER_RULES:
        raise InputError(f"unknown corner rule {rule!r}; use one of {CORNER_RULES}")
    if rule == "openpose":
        corners = _find_openpose(gray, board)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 1000, 1e-9)
    else:
        corners = _find(gray, board, cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    if corners is None or len(corners) != board.n_corners:
        return None
    corners = np.ascontiguousarray(corners, dtype=np.float32).reshape(-1, 1, 2)
    win = refine_window(corners[:, 0], rule)
    corners = cv2.cornerSubPix(gray, corners, (win, win), (-1, -1), criteria).reshape(-1, 2)
    return _canonical_order(corners, gray, board).astype(np.float32)
