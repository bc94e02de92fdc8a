"""TEST-ONLY: the `jaxpose` command in a child process, with a fake body model (no weights needed).

    python tests/cli_harness.py [jaxpose flags ...]

Runs `jaxpose.cli.run.main(argv)` with `jaxpose.compat.build_pipeline` replaced by one planted
person per frame (as tests/test_cli.py's fake), so that signals (SIGINT, SIGTERM) and what the
process writes to its real stderr file descriptor (FFmpeg's own messages) can be checked.
$HARNESS_DELAY seconds of sleep per frame make a run last long enough to be interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import jaxpose.compat  # noqa: E402
from jaxpose.cli import run  # noqa: E402
from jaxpose.poses import Poses  # noqa: E402
from jaxpose.specs import get_spec  # noqa: E402

DELAY = float(os.environ.get("HARNESS_DELAY", "0"))


def planted(image: np.ndarray) -> Poses:
    height, width = image.shape[:2]
    k = get_spec("MOBILENET_THIN").num_parts
    keypoints = np.zeros((1, k, 3), np.float32)
    keypoints[0, :, 0] = (np.arange(k) + 1) * width / (k + 2)
    keypoints[0, :, 1] = height / 2
    keypoints[0, :, 2] = 0.5
    return Poses(keypoints=keypoints, scores=np.array([0.75], np.float32), model="MOBILENET_THIN",
                 image_size=(width, height), net_input_size=(width, height), scale_net_to_output=1.0)


class SlowPoseFn:
    def __call__(self, params, image):
        time.sleep(DELAY)
        return planted(image)

    def batch(self, params, frames):
        return [self(params, frame) for frame in frames]


def main() -> int:
    pipeline = jaxpose.compat.Pipeline(pose_fn=SlowPoseFn(), params=None, model_pose="MOBILENET_THIN")
    jaxpose.compat.build_pipeline = lambda options: pipeline
    return run.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
