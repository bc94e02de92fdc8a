"""Human3.6M cameras.pkl: conventions against the sample's ground truth, exact distortion, safe unpickling."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from conftest import SHARED, need_shared
from jaxpose.cameras import CameraGroup
from jaxpose.cameras.h36m import h36m_to_opencv_distortion, load_arrays_pickle
from jaxpose.errors import InputError

H36M = SHARED / "eval" / "h36m"
# The sample's 4 frames: subject and source camera (basis doc §2.1; also in each image's path).
FRAMES = [("S1", "54138969"), ("S5", "54138969"), ("S7", "55011271"), ("S8", "55011271")]


def h36m_project(X_cam: np.ndarray, f, c, k, p) -> np.ndarray:
    """Human3.6M's own projection (`project_point_radial` of its released code), written from its formula."""
    x = X_cam[:, :2] / X_cam[:, 2:]
    r2 = (x ** 2).sum(1)
    radial = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
    tan = p[0] * x[:, 1] + p[1] * x[:, 0]
    xd = x * (radial + tan)[:, None] + np.outer(r2, [p[1], p[0]])
    return f * xd + c


@pytest.fixture(scope="module")
def pkl():
    return need_shared(H36M / "cameras.pkl")


@pytest.fixture(scope="module")
def body3d():
    return np.load(need_shared(H36M / "test_h36m_body3d.npz"))


def test_ground_truth_reprojects_into_its_source_camera(pkl, body3d):
    """S (source-camera frame, metres) -> world with the source camera -> project: = the 2D ground truth."""
    for i, (subject, cam_id) in enumerate(FRAMES):
        assert cam_id in str(body3d["imgname"][i]) and subject in str(body3d["imgname"][i])
        group = CameraGroup.from_h36m(pkl, subject)
        assert group.names == ("54138969", "55011271", "58860488", "60457274") and group.units == "m"
        src = group[group.names.index(cam_id)]
        S = body3d["S"][i, :, :3].astype(np.float64)
        X_world = (S - src.t) @ src.R  # x_cam = R X + t  =>  X = R^T (x_cam - t)
        pixels = group.project(X_world)
        err = np.abs(pixels[group.names.index(cam_id)] - body3d["part"][i, :, :2]).max()
        assert err <= 1e-3, (subject, err)
        # the world is H36M's capture volume: feet near the floor (z = 0), people within a few metres
        assert X_world[:, 2].min() < 0.15 and np.abs(X_world[:, :2]).max() < 3
        # every camera of the subject sees the person (basis doc §2.3)
        for view, cam in enumerate(group):
            w, h = cam.image_size
            assert np.all((pixels[view] > 8) & (pixels[view] < [w - 8, h - 8]))


def test_opencv_form_equals_h36m_model_everywhere(pkl):
    """The 12-coefficient OpenCV form equals H36M's formula, across the whole image (not just joints)."""
    raw = load_arrays_pickle(pkl)
    rng = np.random.default_rng(0)
    for (subject, cam_id), entry in raw.items():
        f, c = entry["f"].ravel(), entry["c"].ravel()
        k, p = entry["k"].ravel(), entry["p"].ravel()
        # normalized points covering the image and beyond its corners
        X = np.c_[rng.uniform(-0.6, 0.6, (500, 2)), np.ones(500)] * rng.uniform(1, 8, (500, 1))
        ref = h36m_project(X, f, c, k, p)
        K = np.array([[f[0], 0, c[0]], [0, f[1], c[1]], [0, 0, 1]])
        ours = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K, h36m_to_opencv_distortion(k, p))[0][:, 0]
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
        cam = CameraGroup.from_h36m(pkl, subject)[cam_id]  # from the reader: the same numbers
        np.testing.assert_allclose(cam.K, K)
        np.testing.assert_allclose(cam.R, entry["R"].T)
        np.testing.assert_allclose(cam.center, entry["T"].ravel(), atol=1e-12)


def test_undistort_round_trip(pkl):
    group = CameraGroup.from_h36m(pkl, "S9")
    X = np.random.default_rng(1).uniform([-1.5, -1.5, 0.0], [1.5, 1.5, 2.0], (300, 3))  # the capture volume
    distorted = group.project(X)
    ideal = np.einsum("vij,nj->vni", group.projection_matrices(), np.c_[X, np.ones(len(X))])
    ideal = ideal[..., :2] / ideal[..., 2:]
    inside = np.all((ideal > 0) & (ideal < 1000), axis=-1)
    assert inside.mean() > 0.9
    back = group.undistort(distorted, iterations=50, eps=1e-12)
    np.testing.assert_allclose(back[inside], ideal[inside], rtol=0, atol=1e-6)


def test_unknown_subject_and_missing_file(pkl, tmp_path):
    with pytest.raises(InputError, match="no cameras for subject 'S99'.*S1"):
        CameraGroup.from_h36m(pkl, "S99")
    with pytest.raises(InputError, match="no such file"):
        CameraGroup.from_h36m(tmp_path / "cameras.pkl", "S1")


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_refuses_pickles_that_call_anything_but_numpy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "cameras.pkl"
    evil.write_bytes(pickle.dumps({("S1", "1"): _Boom()}))
    with pytest.raises(InputError, match="refused to unpickle.*(posix|os|nt).system"):
        CameraGroup.from_h36m(evil, "S1")
    assert not (tmp_path / "PWNED").exists()
    evil.write_bytes(pickle.dumps({("S1", "1"): {"R": np.eye(3), "f": np.float64(3.0)}}))  # a numpy scalar global
    with pytest.raises(InputError, match="refused to unpickle"):
        CameraGroup.from_h36m(evil, "S1")


def test_wrong_contents_are_clear_errors(tmp_path):
    path = tmp_path / "cameras.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match="not a Human3.6M cameras.pkl"):
        CameraGroup.from_h36m(path, "S1")
    entry = {"R": np.eye(3), "T": np.zeros((3, 1)), "f": np.ones((2, 1)), "c": np.zeros((2, 1)), "k": np.zeros((3, 1))}
    path.write_bytes(pickle.dumps({("S1", "1"): entry}))
    with pytest.raises(InputError, match="missing 'p'"):
        CameraGroup.from_h36m(path, "S1")
    entry["p"] = np.zeros((2, 1))
    entry["R"] = np.ones((3, 3))
    path.write_bytes(pickle.dumps({("S1", "1"): entry}))
    with pytest.raises(InputError, match="not a rotation"):
        CameraGroup.from_h36m(path, "S1")
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(InputError, match="not a readable cameras.pkl"):
        CameraGroup.from_h36m(path, "S1")


def _entry() -> dict:
    return {"R": np.eye(3), "T": np.zeros((3, 1)), "f": np.full((2, 1), 1000.0), "c": np.full((2, 1), 500.0),
            "k": np.zeros((3, 1)), "p": np.zeros((2, 1)), "w": 1000, "h": 1002, "name": "camera1", "id": "1"}


def test_one_flipped_bit_cannot_exhaust_memory_or_corrupt_numpy(tmp_path):
    """Found by fuzzing: BINPUT -> LONG_BINPUT makes C pickle allocate a memo of ~2^32 slots, and a
    dtype whose copy flag flips to False would have NumPy's BUILD mutate the global float64 dtype."""
    seed = pickle.dumps({("S1", "1"): _entry()}, protocol=3)
    path = tmp_path / "cameras.pkl"
    at = seed.index(b"Rq") + 1  # a BINPUT right after a REDUCE
    bomb = seed[:at] + b"r" + seed[at + 1:]
    path.write_bytes(bomb)
    with pytest.raises(InputError):
        CameraGroup.from_h36m(path, "S1")
    at = seed.index(b"\x89\x88\x87")  # dtype('f8', align=False, copy=True)
    path.write_bytes(seed[:at] + b"\x89\x89\x87" + seed[at + 3:])  # copy=False
    group = CameraGroup.from_h36m(path, "S1")
    assert group[0].K[0, 0] == 1000.0
    assert np.dtype("f8").byteorder == "=" and np.zeros(3).sum() == 0.0  # NumPy unharmed
