"""jaxpose: OpenPose in pure, functional JAX.

    model = jaxpose.load_model("mobilenet_thin")          # or jaxpose.from_caffe(prototxt, caffemodel)
    pose_fn = jaxpose.make_pose_fn(model)
    poses = pose_fn(model.params, image)                 # image: (H, W, 3) uint8 RGB
    poses.keypoints                                      # (P, K, 3) x, y, score in image pixels
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it. Imported on first use, so `import jaxpose` stays cheap.
_EXPORTS = {
    "Model": "jaxpose.model",
    "save_model": "jaxpose.model",
    "load_model": "jaxpose.hub",
    "from_caffe": "jaxpose.convert.caffe",
    "from_tf_graph": "jaxpose.convert.tf_graph",
    "make_pose_fn": "jaxpose.pipeline",
    "Poses": "jaxpose.poses",
    "PoseEstimator": "jaxpose.estimator",
    "plot": "jaxpose.render.plot",
    "OpenPose": "jaxpose.compat",
    "specs": "jaxpose.specs",
    "JaxposeError": "jaxpose.errors",
    "to_layout": "jaxpose.io.layout",
    "Tracker": "jaxpose.track.tracker",
    "Camera": "jaxpose.cameras",
    "CameraGroup": "jaxpose.cameras",
    "calibrate": "jaxpose.calibration",
    "triangulate": "jaxpose.triangulation",
    "Poses3D": "jaxpose.poses3d",
    "make_multiview_pose_fn": "jaxpose.triangulation.multiview",
    "select_devices": "jaxpose.sharding",
    "use_cpu_devices": "jaxpose.jax_backend",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jaxpose' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    return module if name == "specs" else getattr(module, name)
