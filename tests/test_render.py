"""Rendering (features §4.1-§4.2, §4.4, §1.9, §2.5): hand-placed keypoints, expected pixels by hand.

Colours below are copied from the doc's tables (RGB), not from jaxpose.specs, so a wrong table or a
wrong limb-colour rule (first vs second part) fails here.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.render import output_canvas, render_pose

matplotlib.use("Agg")

W, H = 600, 400
BG = 100
NECK, RSHOULDER, RELBOW, MIDHIP = 1, 2, 3, 8
RED, ORANGE = (255, 0, 0), (255, 85, 0)  # Neck / MidHip, RShoulder (doc §4.4, BODY_25)


def _body() -> np.ndarray:
    body = np.zeros((1, 25, 3), np.float32)
    body[0, NECK] = (300, 80, 0.9)
    body[0, RSHOULDER] = (220, 80, 0.9)
    body[0, MIDHIP] = (300, 320, 0.8)
    body[0, RELBOW] = (160, 200, 0.04)  # below the body threshold 0.05: neither point nor limbs
    return body


def _poses(body=None, **extra) -> Poses:
    body = _body() if body is None else body
    return Poses(body, np.ones(len(body), np.float32), "BODY_25", (W, H), (656, 368), 1.0, **extra)


def _image(seed=None) -> np.ndarray:
    if seed is None:
        return np.full((H, W, 3), BG, np.uint8)
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _blend(background, color, alpha=0.6):
    return np.rint((1 - alpha) * np.asarray(background, float) + alpha * np.asarray(color, float))


def _sizes(box_w, box_h, circle_ratio=1 / 75, line_ratio=0.75):
    """The doc's §4.2 formulas: (t, line thickness, radius)."""
    ratio = min(1.0, max(box_w / W, box_h / H))
    t = max(2, int(math.sqrt(W * H) * circle_ratio * ratio + 0.5))
    return t, max(1, int(t * line_ratio + 0.5)), t // 2


def test_keypoint_and_limb_colours_blended():
    out = render_pose(_image(), _poses())
    np.testing.assert_array_equal(out[80, 300], _blend(BG, RED))  # Neck point
    np.testing.assert_array_equal(out[320, 300], _blend(BG, RED))  # MidHip point
    np.testing.assert_array_equal(out[200, 300], _blend(BG, RED))  # Neck-MidHip limb = MidHip's
    np.testing.assert_array_equal(out[80, 260], _blend(BG, ORANGE))  # Neck-RShoulder = colour of B
    np.testing.assert_array_equal(out[80, 220], _blend(BG, ORANGE))  # RShoulder point


def test_alpha_one_is_opaque_and_disable_blending_is_black():
    out = render_pose(_image(), _poses(), alpha_pose=1.0)
    assert tuple(out[80, 260]) == ORANGE
    black = render_pose(_image(seed=3), _poses(), alpha_pose=1.0, disable_blending=True)
    assert tuple(black[80, 260]) == ORANGE and not black[0:40, 0:100].any()


def test_below_threshold_is_not_drawn_and_elsewhere_unchanged():
    image = _image(seed=0)
    out = render_pose(image, _poses())
    t, line, radius = _sizes(box_w=300 - 220, box_h=320 - 80)
    # RElbow (score 0.04) and the RShoulder-RElbow limb are absent
    np.testing.assert_array_equal(out[200, 160], image[200, 160])
    np.testing.assert_array_equal(out[140, 190], image[140, 190])
    # nothing changes outside the drawn shapes' reach
    changed = np.argwhere((out != image).any(-1))
    reach = t + 1
    assert changed[:, 1].min() >= 220 - reach and changed[:, 1].max() <= 300 + reach
    assert changed[:, 0].min() >= 80 - reach and changed[:, 0].max() <= 320 + reach
    # a higher threshold drops MidHip (0.8) and its limb
    high = render_pose(image, _poses(), render_threshold=0.85)
    np.testing.assert_array_equal(high[320, 300], image[320, 300])
    np.testing.assert_array_equal(high[200, 300], image[200, 300])
    assert not np.array_equal(high[80, 260], image[80, 260])


def test_thickness_and_radius_from_image_and_person_size():
    t, line, radius = _sizes(box_w=80, box_h=240)  # ratio 0.6 -> t = 4, line 3, radius 2
    assert (t, line, radius) == (4, 3, 2)
    out = render_pose(_image(), _poses(), alpha_pose=1.0)
    # OpenCV rasterizes a thick stroke as a band of half-width (thickness + 1) // 2 around the
    # centre line (so thickness 3 covers 5 pixels), and a ring of radius r as a disc of r + that.
    column = (out[60:100, 260] != BG).any(-1)  # across the horizontal Neck-RShoulder limb
    assert column.sum() == 2 * ((line + 1) // 2) + 1
    row = (out[320, 280:330] != BG).any(-1)  # across the MidHip disc (limb leaves upwards)
    assert row.sum() == 2 * (radius + (t + 1) // 2) + 1
    # a big person on the same canvas gets thicker strokes
    big = _body()
    big[0, MIDHIP, 1] = 399
    big[0, RSHOULDER, 0] = 0
    big[0, 5] = (599, 80, 0.9)  # LShoulder
    t_big, line_big, _ = _sizes(box_w=599, box_h=319)
    assert (t_big, line_big) == (7, 5)
    out_big = render_pose(_image(), _poses(big), alpha_pose=1.0)
    column = (out_big[40:120, 200] != BG).any(-1)
    assert column.sum() == 2 * ((line_big + 1) // 2) + 1


def test_tiny_person_gets_thin_rings():
    # box 20 x 15 px: ratio = max(20/600, 15/400) = 0.0375 <= 0.05 -> ring thickness 1, radius
    # t // 2 = 1: a hollow ring whose centre keeps the image colour
    tiny = np.zeros((1, 25, 3), np.float32)
    tiny[0, NECK] = (100, 100, 0.9)
    tiny[0, 4] = (120, 115, 0.9)  # RWrist, not paired with the Neck
    out = render_pose(_image(), _poses(tiny), alpha_pose=1.0)
    assert tuple(out[100, 100]) == (BG, BG, BG)
    assert tuple(out[100, 101]) == RED and tuple(out[99, 100]) == RED
    assert tuple(out[100, 102]) == (BG, BG, BG)


def test_person_with_zero_area_box_is_skipped():
    lonely = np.zeros((1, 25, 3), np.float32)
    lonely[0, NECK] = (300, 80, 0.9)
    lonely[0, MIDHIP] = (320, 320, 0.08)  # drawn-worthy (> 0.05) but not in the > 0.1 box
    image = _image(seed=1)
    np.testing.assert_array_equal(render_pose(image, _poses(lonely)), image)


def test_hands_and_face_colours_and_thresholds():
    hand = np.zeros((1, 21, 3), np.float32)
    hand[0, 0] = (400, 300, 0.5)  # Wrist (100, 100, 100)
    hand[0, 1] = (440, 300, 0.5)  # Thumb1CMC (100, 0, 0); limb 0-1 has its colour
    hand[0, 2] = (440, 340, 0.15)  # below the hand threshold 0.2
    face = np.zeros((1, 70, 3), np.float32)
    face[0, 0] = (100, 300, 0.5)
    face[0, 1] = (140, 300, 0.5)
    face[0, 2] = (140, 340, 0.3)  # below the face threshold 0.4
    no_body = np.zeros((1, 25, 3), np.float32)
    image = _image()
    out = render_pose(image, _poses(no_body, hand_left=hand, hand_right=np.zeros_like(hand),
                                    face=face))
    np.testing.assert_array_equal(out[300, 400], _blend(BG, (100, 100, 100)))
    np.testing.assert_array_equal(out[300, 420], _blend(BG, (100, 0, 0)))
    np.testing.assert_array_equal(out[340, 440], image[340, 440])
    np.testing.assert_array_equal(out[300, 120], _blend(BG, (255, 255, 255)))
    np.testing.assert_array_equal(out[340, 140], image[340, 140])
    off = render_pose(image, _poses(no_body, hand_left=hand, face=face), render_hands=False,
                      render_face=False)
    np.testing.assert_array_equal(off, image)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(InputError, match="uint8"):
        render_pose(np.zeros((H, W, 3), np.float32), _poses())
    with pytest.raises(InputError, match="alpha"):
        render_pose(_image(), _poses(), alpha_pose=1.5)
    with pytest.raises(InputError, match=r"\(people, 25, 3\)"):
        render_pose(_image(), _poses(np.zeros((1, 18, 3), np.float32)))


def test_output_canvas_scales_and_pads():
    image = _image(seed=2)
    canvas, scale = output_canvas(image, (2 * W - 1, 3 * H))
    assert scale == pytest.approx(2.0) and canvas.shape == (3 * H, 2 * W - 1, 3)
    assert not canvas[2 * H + 2:].any()  # black padding at the bottom
    np.testing.assert_array_equal(canvas[0, 0], image[0, 0])
    same, one = output_canvas(image, None)
    assert one == 1.0 and np.array_equal(same, image)


def test_plot_draws_one_line_per_visible_limb_and_the_visible_points():
    from matplotlib.collections import PathCollection

    from jaxpose.render.plot import plot

    ax = plot(_image(), _poses())
    assert len(ax.lines) == 2  # Neck-MidHip and Neck-RShoulder; RElbow's limbs are hidden
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in points) == 3
    colours = {tuple(np.round(np.asarray(line.get_color()) * 255).astype(int)[:3])
               for line in ax.lines}
    assert colours == {RED, ORANGE}
    import matplotlib.pyplot as plt
    plt.close(ax.figure)


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch):
    import sys

    import jaxpose
    from jaxpose.errors import JaxposeError

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # import fails like a missing one
    with pytest.raises(JaxposeError, match=r"jaxpose\[plot\]"):
        jaxpose.plot(_image(), _poses())
