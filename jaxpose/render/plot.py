"""`plot`: draw poses on a matplotlib axis (notebooks). matplotlib is the optional `plot` extra.

Public function:
    plot(image, poses, ax=None, *, render_threshold=None, hand_render_threshold=None,
         face_render_threshold=None, render_hands=True, render_face=True, linewidth=2.0,
         markersize=4.0, color_by_id=False) -> matplotlib Axes

Same selection and colours as `render_pose` (body, face, hands; limbs coloured as their second
part; a part drawn when its score > threshold, a limb when both are): one `Line2D` per limb and one
scatter collection per person and keypoint set, on top of `ax.imshow(image)` when an image is given.

`plot` only draws: in a script, show or save the figure yourself (a notebook shows it by itself):

    import matplotlib.pyplot as plt
    ax = jaxpose.plot(image, poses)
    ax.figure.savefig("poses.png", bbox_inches="tight")   # or plt.show() for a window

`color_by_id=True` draws each tracked person's body in its id's colour (`jaxpose.render.ids`) and
writes the id above the person.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxpose.errors import JaxposeError
from jaxpose.poses import Poses
from jaxpose.render.ids import person_colors
from jaxpose.render.skeleton import render_sets


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise JaxposeError("jaxpose.plot needs matplotlib: pip install 'jaxpose[plot]' "
                           "(or pip install matplotlib)") from e
    return plt


def plot(image: np.ndarray | None, poses: Poses, ax: Any = None, *,
         render_threshold: float | None = None, hand_render_threshold: float | None = None,
         face_render_threshold: float | None = None, render_hands: bool = True,
         render_face: bool = True, linewidth: float = 2.0, markersize: float = 4.0,
         color_by_id: bool = False) -> Any:
    """Draw `poses` over `image` ((H, W, 3) uint8 RGB, or None) on `ax` (a new figure if None).

    Keypoints are taken in the image's pixels. Returns the axis. Nothing appears on screen by
    itself outside a notebook: call `plt.show()`, or save with `ax.figure.savefig("out.png")`.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    if image is not None:
        ax.imshow(np.asarray(image))
    sets = render_sets(poses, render_threshold=render_threshold,
                       hand_render_threshold=hand_render_threshold,
                       face_render_threshold=face_render_threshold, render_hands=render_hands,
                       render_face=render_face)
    own = person_colors(poses.ids) if color_by_id else [None] * poses.num_people
    for render_set in sets:
        table = np.asarray(render_set.spec.part_colors, dtype=float) / 255.0
        for index, person in enumerate(render_set.keypoints):
            mine = own[index] if render_set.kind == "body" else None
            colors = table if mine is None else np.asarray([mine], dtype=float) / 255.0
            visible = person[:, 2] > np.float32(render_set.threshold)
            for a, b in render_set.spec.render_pairs:
                if visible[a] and visible[b]:
                    ax.plot(person[[a, b], 0], person[[a, b], 1], color=colors[b % len(colors)],
                            linewidth=linewidth, solid_capstyle="round")
            if visible.any():
                parts = np.flatnonzero(visible)
                ax.scatter(person[parts, 0], person[parts, 1], c=colors[parts % len(colors)],
                           s=markersize ** 2, zorder=3)
    if color_by_id:
        for (x, y, _, _), pid, mine in zip(poses.boxes.tolist(), poses.ids.tolist(), own):
            if mine is not None:
                ax.text(x, y, str(pid), color=np.asarray(mine) / 255.0, fontsize=9,
                        va="bottom", ha="left", fontweight="bold")
    width, height = poses.image_size
    if image is not None:
        height, width = np.asarray(image).shape[:2]
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    return ax
