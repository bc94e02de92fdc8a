"""`jaxpose.plot` in a script: its docs say to save or show, and saving gives the drawn picture."""

from __future__ import annotations

import re

import cv2
import matplotlib
import numpy as np

import jaxpose
from conftest import REPO
from jaxpose.poses import Poses

matplotlib.use("Agg")


def test_docstring_says_to_save_or_show():
    for text in (jaxpose.plot.__doc__, jaxpose.render.plot.__doc__):
        assert "savefig" in text and "plt.show()" in text


def test_readme_example_saves_and_shows():
    section = (REPO / "README.md").read_text()
    examples = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "jaxpose.plot" in b]
    assert examples and all("savefig(" in b and "plt.show()" in b for b in examples)


def test_saved_figure_holds_the_skeleton(tmp_path):
    import matplotlib.pyplot as plt

    keypoints = np.zeros((1, 25, 3), np.float32)
    keypoints[0, 1] = (100, 40, 0.9)   # Neck
    keypoints[0, 8] = (100, 160, 0.9)  # MidHip: the Neck-MidHip limb is drawn red (255, 0, 0)
    poses = Poses(keypoints, np.ones(1, np.float32), "BODY_25", (200, 200), (208, 208), 1.0)
    ax = jaxpose.plot(np.full((200, 200, 3), 255, np.uint8), poses, linewidth=6)
    ax.figure.savefig(tmp_path / "poses.png", dpi=100)
    plt.close(ax.figure)
    saved = cv2.imread(str(tmp_path / "poses.png"))[..., ::-1]
    red = (saved[..., 0] > 200) & (saved[..., 1] < 60) & (saved[..., 2] < 60)
    assert red.sum() > 50
