"""Size limits on images and networks, shared by the readers and the pipeline (one place).

An image is refused (`InputError`, before decoding when read from a file) when a side exceeds
`MAX_IMAGE_SIDE` or its pixel count exceeds `MAX_IMAGE_PIXELS`: a 128-megapixel RGB image is
384 MB decoded, and the pipeline holds about three copies of it (decoded, RGB, bucket-padded).
A net input side above `MAX_NET_SIDE` is refused too (an extreme aspect ratio with
`net_resolution_dynamic <= 0` would otherwise ask for a network input of millions of pixels).
"""

from __future__ import annotations

MAX_IMAGE_SIDE = 16384  # pixels per side
MAX_IMAGE_PIXELS = 1 << 27  # 134,217,728 pixels (128 megapixels, e.g. 13000 x 10000)
MAX_NET_SIDE = 16384  # net input pixels per side


def image_size_problem(width: int, height: int) -> str | None:
    """Why an image of `width` x `height` pixels is refused, or None when it is within the limits."""
    if max(width, height) > MAX_IMAGE_SIDE:
        return (f"image of {width}x{height} pixels: larger than {MAX_IMAGE_SIDE} pixels per side; "
                "downscale it first.")
    if width * height > MAX_IMAGE_PIXELS:
        return (f"image of {width}x{height} pixels ({width * height:,} pixels): more than the "
                f"{MAX_IMAGE_PIXELS:,}-pixel limit; downscale it first.")
    return None
