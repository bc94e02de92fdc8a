"""Shared test fixtures: where ../shared is, and skips when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JAXPOSE_SHARED", REPO.parent / "shared"))
MODELS_DIR = SHARED / "openpose_models"
MEDIA_DIR = SHARED / "media"

PROTOTXTS = {
    "BODY_25": MODELS_DIR / "pose/body_25/pose_deploy.prototxt",
    "COCO": MODELS_DIR / "pose/coco/pose_deploy_linevec.prototxt",
    "MPI": MODELS_DIR / "pose/mpi/pose_deploy_linevec.prototxt",
    "MPI_4_layers": MODELS_DIR / "pose/mpi/pose_deploy_linevec_faster_4_stages.prototxt",
    "HAND": MODELS_DIR / "hand/pose_deploy.prototxt",
    "FACE": MODELS_DIR / "face/pose_deploy.prototxt",
}


def need_shared(path: Path) -> Path:
    """Return `path`, or skip the test with a clear reason when ../shared (or the file) is absent."""
    if not path.exists():
        pytest.skip(f"reference file {path} is absent (../shared not checked out beside the repo)")
    return path


@pytest.fixture
def media_dir() -> Path:
    return need_shared(MEDIA_DIR)


@pytest.fixture(scope="session")
def default_model():
    """The default model (MobileNet-thin), fetched and cached on first use; skips when unavailable."""
    import jaxpose

    try:
        return jaxpose.load_model("mobilenet_thin")
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
