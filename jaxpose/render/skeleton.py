"""OpenPose's CPU skeleton renderer (features §4.1-§4.2) with `--alpha_pose` blending.

Public functions:
    render_pose(image_rgb, poses, *, render_threshold=None, hand_render_threshold=None,
                face_render_threshold=None, alpha_pose=0.6, render_hands=True, render_face=True,
                disable_blending=False, color_by_id=False, draw_ids=False) -> (H, W, 3) uint8 RGB
    render_sets(poses, *, render_threshold=None, hand_render_threshold=None,
                face_render_threshold=None, render_hands=True, render_face=True) -> list[RenderSet]
    output_canvas(image_rgb, output_size) -> (canvas uint8 RGB, scale_input_to_output)

Drawing follows OpenPose's `renderKeypointsCpu`: body, then face, then left and right hands; per
person all limbs (colour of the pair's second part, both scores > threshold), then all keypoints
(score > threshold), as 8-connected OpenCV lines and rings. Per person, with B the box of its
keypoints scored > 0.1 (a person whose box has zero area is skipped) on a W x H canvas:
`ratio = min(1, max(B.w / W, B.h / H))`, `t = max(2, round(sqrt(W*H) * circle_ratio * ratio))`,
ring thickness t (1 when ratio <= 0.05), radius t // 2, line thickness max(1, round(t * line_ratio)).

Blending: the primitives are drawn opaque into a layer, which is then mixed into the image where
something was drawn: `out = (1 - alpha) * image + alpha * layer`, rounded. `alpha_pose=1` gives
OpenPose's CPU output exactly (it draws opaque); the default 0.6 is OpenPose's `--alpha_pose`, the
look of its GPU renderer. Keypoints must be in the canvas's pixels (input pixels, or scaled by
`scale_input_to_output` for an `output_canvas`).

Tracked people (`Poses.ids`, jaxpose.render.ids): `color_by_id=True` draws each tracked person's
body skeleton (limbs and points) in its id's colour, the same in every frame (untracked people and
hands/face keep the tables' colours); `draw_ids=True` then writes each id above its box, opaque.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.keypoint_scale import scale_input_to_output
from jaxpose.poses import Poses
from jaxpose.render.ids import draw_id_labels, person_colors
from jaxpose.specs import FACE, HAND, ModelSpec, get_spec

# OpenPose's renderer constants per keypoint set (renderPose.cpp, renderHand.cpp, renderFace.cpp).
CIRCLE_RATIO = {"body": 1 / 75, "hand": 1 / 50, "face": 1 / 75}
LINE_RATIO = {"body": 0.75, "hand": 0.75, "face": 0.334}
RECTANGLE_THRESHOLD = 0.1  # the box that sizes a person uses keypoints scored above this


@dataclasses.dataclass(frozen=True)
class RenderSet:
    """One group of keypoints drawn together: (P, K, 3) keypoints, their table and threshold."""

    kind: str  # "body", "face" or "hand"
    keypoints: np.ndarray
    spec: ModelSpec
    threshold: float


def _checked(name: str, array: np.ndarray, spec: ModelSpec) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (spec.num_parts, 3):
        raise InputError(f"{name} keypoints must be (people, {spec.num_parts}, 3) for "
                         f"{spec.name}; got {array.shape}")
    return array


def render_sets(poses: Poses, *, render_threshold: float | None = None,
                hand_render_threshold: float | None = None,
                face_render_threshold: float | None = None, render_hands: bool = True,
                render_face: bool = True) -> list[RenderSet]:
    """What gets drawn, in OpenPose's order: body, face, left hands, right hands.

    Thresholds default to the tables' `render_threshold` (body 0.05, face 0.4, hand 0.2).
    """
    body = get_spec(poses.model)
    sets = [RenderSet("body", _checked("body", poses.keypoints, body), body,
                      body.render_threshold if render_threshold is None else render_threshold)]
    if render_face and poses.face is not None:
        sets.append(RenderSet("face", _checked("face", poses.face, FACE), FACE,
                              FACE.render_threshold if face_render_threshold is None
                              else face_render_threshold))
    if render_hands:
        hand_threshold = HAND.render_threshold if hand_render_threshold is None \
            else hand_render_threshold
        for name, hands in (("hand_left", poses.hand_left), ("hand_right", poses.hand_right)):
            if hands is not None:
                sets.append(RenderSet("hand", _checked(name, hands, HAND), HAND, hand_threshold))
    return sets


def _round(v: float) -> int:
    """OpenPose's `positiveIntRound`: int(v + 0.5)."""
    return int(v + 0.5)


def _person_sizes(person: np.ndarray, width: int, height: int,
                  kind: str) -> tuple[int, int, int] | None:
    """(line thickness, circle radius, circle thickness) for one person, or None to skip it."""
    valid = person[:, 2] > np.float32(RECTANGLE_THRESHOLD)
    if not valid.any():
        return None
    xs, ys = person[valid, 0], person[valid, 1]
    box_w = np.float32(xs.max() - xs.min())
    box_h = np.float32(ys.max() - ys.min())
    if box_w * box_h <= 0:
        return None
    ratio = min(np.float32(1), max(box_w / np.float32(width), box_h / np.float32(height)))
    # C++ promotes sqrt(int) to double: keep this product in float64.
    t = max(_round(math.sqrt(width * height) * float(np.float32(CIRCLE_RATIO[kind])) * float(ratio)), 2)
    circle_thickness = max(1, t if ratio > np.float32(0.05) else -1)
    line_thickness = max(1, _round(t * np.float32(LINE_RATIO[kind])))
    return line_thickness, t // 2, circle_thickness


def _draw_set(layer: np.ndarray, mask: np.ndarray, render_set: RenderSet,
              own_colors: list | None = None) -> None:
    """Draw one set; `own_colors[p]`, when not None, is person p's single colour."""
    height, width = layer.shape[:2]
    threshold = np.float32(render_set.threshold)
    for index, person in enumerate(render_set.keypoints):
        sizes = _person_sizes(person, width, height, render_set.kind)
        if sizes is None:
            continue
        own = None if own_colors is None else own_colors[index]
        colors = render_set.spec.part_colors if own is None else (own,)
        line_thickness, radius, circle_thickness = sizes
        points = [(_round(x), _round(y)) for x, y in person[:, :2].tolist()]
        visible = (person[:, 2] > threshold).tolist()
        for a, b in render_set.spec.render_pairs:
            if visible[a] and visible[b]:
                color = colors[b % len(colors)]
                cv2.line(layer, points[a], points[b], color, line_thickness, cv2.LINE_8)
                cv2.line(mask, points[a], points[b], 255, line_thickness, cv2.LINE_8)
        for part, point in enumerate(points):
            if visible[part]:
                color = colors[part % len(colors)]
                cv2.circle(layer, point, radius, color, circle_thickness, cv2.LINE_8)
                cv2.circle(mask, point, radius, 255, circle_thickness, cv2.LINE_8)


def render_pose(image_rgb: np.ndarray, poses: Poses, *, render_threshold: float | None = None,
                hand_render_threshold: float | None = None,
                face_render_threshold: float | None = None, alpha_pose: float = 0.6,
                render_hands: bool = True, render_face: bool = True,
                disable_blending: bool = False, color_by_id: bool = False,
                draw_ids: bool = False) -> np.ndarray:
    """Draw the skeletons of `poses` on a copy of `image_rgb` ((H, W, 3) uint8 RGB)."""
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"render_pose needs an (H, W, 3) uint8 RGB image; got "
                         f"{image.shape} {image.dtype}")
    if not 0.0 <= alpha_pose <= 1.0:
        raise InputError(f"alpha_pose must lie in [0, 1], got {alpha_pose}")
    sets = render_sets(poses, render_threshold=render_threshold,
                       hand_render_threshold=hand_render_threshold,
                       face_render_threshold=face_render_threshold, render_hands=render_hands,
                       render_face=render_face)
    base = np.zeros_like(image) if disable_blending else image.copy()
    layer = np.zeros_like(image)  # colours are integers and strokes aliased: uint8 is exact
    mask = np.zeros(image.shape[:2], np.uint8)
    own_colors = person_colors(poses.ids) if color_by_id else None
    for render_set in sets:
        _draw_set(layer, mask, render_set, own_colors if render_set.kind == "body" else None)
    # (1 - alpha) * base + alpha * layer in float, rounded and saturated to uint8, where drawn
    blended = cv2.addWeighted(base, 1.0 - float(alpha_pose), layer, float(alpha_pose), 0.0)
    out = cv2.copyTo(blended, mask, base)
    return draw_id_labels(out, poses) if draw_ids else out


def output_canvas(image_rgb: np.ndarray,
                  output_size: tuple[int, int] | None) -> tuple[np.ndarray, float]:
    """The `--output_resolution` canvas: the image scaled by `scale_input_to_output`, top-left
    anchored, black padding right/bottom (cubic when enlarging, bilinear otherwise, as OpenPose's
    warpAffine). Returns (canvas (H', W', 3) uint8 RGB, scale)."""
    image = np.asarray(image_rgb)
    height, width = image.shape[:2]
    scale = scale_input_to_output((width, height), output_size)
    if output_size is None or output_size[0] <= 0 or output_size[1] <= 0:
        return image.copy(), scale
    out_w, out_h = int(output_size[0]), int(output_size[1])
    if scale == 1.0 and (out_w, out_h) == (width, height):
        return image.copy(), scale
    matrix = np.array([[scale, 0, 0], [0, scale, 0]], np.float64)
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_LINEAR
    canvas = cv2.warpAffine(image, matrix, (out_w, out_h), flags=interpolation,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return canvas, scale
