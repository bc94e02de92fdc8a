"""Image files are measured from their header before decoding; oversized ones cost no memory.

The decompression bombs are tiny hand-made files whose headers claim 30000 x 30000 pixels (PNG:
an IHDR with a valid CRC; JPEG: a real 16 x 16 JPEG with its SOF0 size patched). The memory
check runs the reader in a child process and reads that process's peak RSS.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.io import readers
from jaxpose.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

REPO = Path(__file__).resolve().parents[1]


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR says `width` x `height` RGB, with one tiny (short) IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * 16))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A real 16 x 16 JPEG whose SOF0 frame header is patched to `width` x `height`."""
    ok, data = cv2.imencode(".jpg", np.full((16, 16, 3), 90, np.uint8))
    assert ok
    data = bytearray(data.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def test_header_size_is_read_without_decoding(tmp_path):
    png = png_claiming(tmp_path / "a.png", 640, 480)
    assert readers.image_header_size(png) == (640, 480)
    jpg = jpeg_claiming(tmp_path / "a.jpg", 20000, 5000)  # 1e8 pixels: no Pillow warning shown
    assert readers.image_header_size(jpg) == (20000, 5000)
    assert readers.image_header_size(tmp_path / "a.png") == (640, 480)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert readers.image_header_size(tmp_path / "b.jpg") is None  # left to OpenCV


@pytest.mark.parametrize("make", [png_claiming, jpeg_claiming])
def test_decompression_bomb_is_refused_quickly(tmp_path, make):
    bomb = make(tmp_path / f"bomb.{'png' if make is png_claiming else 'jpg'}", 30000, 30000)
    assert bomb.stat().st_size < 1000
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"bomb\.(png|jpg).*(30000x30000|more than).*without decoding"):
        readers.decode_image(bomb)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("width, height, message", [
    (MAX_IMAGE_SIDE + 1, 100, "larger than 16384 pixels per side"),
    (12000, 12000, "pixel limit"),
])
def test_oversized_headers_are_refused_with_the_limit(tmp_path, width, height, message):
    assert max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS
    path = png_claiming(tmp_path / "big.png", width, height)
    with pytest.raises(InputError, match=message):
        readers.decode_image(path)


def test_images_within_the_limits_still_decode_exactly(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "ok.png"), rgb[:, :, ::-1])
    np.testing.assert_array_equal(readers.decode_image(tmp_path / "ok.png"), rgb)


def test_a_bomb_in_a_folder_is_one_frame_error_and_the_rest_is_read(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 6, 3), np.uint8))
    jpeg_claiming(tmp_path / "b.jpg", 30000, 30000)
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((4, 6, 3), np.uint8))
    items = list(readers.ImageFolderSource(tmp_path).frames())
    kinds = [type(item).__name__ for item in items]
    assert kinds == ["Frame", "FrameError", "Frame"]
    assert "b.jpg" in items[1].message and "without decoding" in items[1].message


@pytest.mark.parametrize("kind", ["png", "jpg"])
def test_decompression_bomb_is_refused_in_constant_memory(tmp_path, kind):
    """Peak RSS of a child process reading the bomb stays far below the 2.7 GB it claims."""
    make = png_claiming if kind == "png" else jpeg_claiming
    bomb = make(tmp_path / f"bomb.{kind}", 30000, 30000)
    script = textwrap.dedent(f"""
        import resource, sys
        import cv2, PIL.Image  # imported before the baseline
        from jaxpose.errors import InputError
        from jaxpose.io.readers import decode_image
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            decode_image({str(bomb)!r})
            sys.exit(3)
        except InputError:
            pass
        print(baseline, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    baseline_kb, peak_kb = (int(v) for v in done.stdout.split())
    assert peak_kb - baseline_kb < 64 * 1024  # KB: under 64 MB above the imports
