"""Person-id colours and labels for tracked `Poses` (issue #11).

Public functions:
    id_color(person_id) -> (r, g, b)             one fixed colour per id, the same in every frame
    person_colors(ids) -> list of (r, g, b) | None   None for untracked people (table colours)
    draw_id_labels(image_rgb, poses, *, scale_input_to_output=1.0, draw_boxes=True) -> image

Colour rule: hue = frac(id · 0.618034) (golden-ratio steps, so consecutive ids differ strongly),
saturation 0.85, value 1.0, converted to 8-bit RGB. The label is the id as decimal text above the
top-left corner of the person's box (`Poses.boxes`), in the id's colour on a black outline; the
box is outlined in the same colour. Untracked people (id -1) get no label.
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from jaxpose.errors import InputError
from jaxpose.poses import UNTRACKED, Poses

GOLDEN = 0.6180339887498949
SATURATION = 0.85
VALUE = 1.0


def id_color(person_id: int) -> tuple[int, int, int]:
    """The RGB colour of a person id (see the module's rule). Raises on negative ids."""
    if int(person_id) < 0:
        raise InputError(f"id_color needs a tracked id >= 0, got {person_id}")
    hue = math.modf(int(person_id) * GOLDEN)[0]
    r, g, b = colorsys.hsv_to_rgb(hue, SATURATION, VALUE)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def person_colors(ids: np.ndarray) -> list[tuple[int, int, int] | None]:
    """Per person: its id colour, or None when untracked."""
    return [None if pid == UNTRACKED else id_color(pid) for pid in np.asarray(ids).tolist()]


def draw_id_labels(image_rgb: np.ndarray, poses: Poses, *, scale_input_to_output: float = 1.0,
                   draw_boxes: bool = True) -> np.ndarray:
    """A copy of `image_rgb` with each tracked person's id (and box) drawn opaque."""
    image = np.array(image_rgb, copy=True)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"draw_id_labels needs an (H, W, 3) uint8 RGB image; got "
                         f"{image.shape} {image.dtype}")
    height, width = image.shape[:2]
    font_scale = max(0.4, math.sqrt(width * height) / 1000.0)
    thickness = max(1, int(round(font_scale * 2)))
    boxes = poses.boxes * np.float32(scale_input_to_output)
    for box, pid in zip(boxes.tolist(), np.asarray(poses.ids).tolist()):
        if pid == UNTRACKED or box[2] * box[3] <= 0:
            continue
        color = id_color(pid)
        x, y, w, h = (int(round(v)) for v in box)
        if draw_boxes:
            cv2.rectangle(image, (x, y), (x + w, y + h), color, thickness, cv2.LINE_8)
        (_, text_h), _ = cv2.getTextSize(str(pid), cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y - 2 * thickness
        origin = (x, top if top - text_h >= 0 else y + text_h + 2 * thickness)
        cv2.putText(image, str(pid), origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                    thickness + 2, cv2.LINE_AA)
        cv2.putText(image, str(pid), origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, color,
                    thickness, cv2.LINE_AA)
    return image
