"""Camera files: OpenPose XML (checked with OpenCV's FileStorage), anipose / Pose2Sim TOML (checked with tomllib)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import MODELS_DIR, need_shared
from jaxpose.cameras import Camera, CameraGroup
from jaxpose.cameras.toml_format import tomllib  # tomllib, or tomli before Python 3.11
from jaxpose.errors import InputError

EXAMPLE_XML = MODELS_DIR / "cameraParameters" / "flir" / "17012332.xml.example"


def _group(counts=(0, 4, 5, 8, 12, 14), units="m", prefix="cam") -> CameraGroup:
    rng = np.random.default_rng(len(counts))
    cams = []
    for i, n in enumerate(counts):
        K = np.array([[900.0 + 10 * i, 0, 640.5], [0, 905.25, 360.125], [0, 0, 1]])
        R = cv2.Rodrigues(rng.normal(0, 0.5, 3))[0]
        cams.append(Camera(f"{prefix}{i}", K, rng.normal(0, 0.01, n), R, rng.normal(0, 2.0, 3), (1280, 720), units))
    return CameraGroup(tuple(cams))


def _filestorage(path: Path) -> dict[str, np.ndarray]:
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    out = {key: fs.getNode(key).mat() for key in ("CameraMatrix", "Intrinsics", "Distortion")}
    fs.release()
    return out


# ---------------------------------------------------------------- OpenPose XML

def test_xml_written_by_us_reads_identically_in_opencv_and_in_ours(tmp_path):
    group = _group()
    paths = group.to_openpose_xml(tmp_path)
    assert [p.name for p in paths] == [f"cam{i}.xml" for i in range(6)]
    for cam, path in zip(group, paths):
        ref = _filestorage(path)  # OpenCV's own reader, the one OpenPose uses
        assert np.array_equal(ref["CameraMatrix"], np.hstack([cam.R, cam.t[:, None]]))
        assert np.array_equal(ref["Intrinsics"], cam.K)
        expected = cam.dist if cam.dist.size else np.zeros(5)
        assert np.array_equal(ref["Distortion"].ravel(), expected)
    back = CameraGroup.from_openpose_xml(tmp_path)
    assert back.names == group.names and back.units == "m"
    for cam, ref_cam, path in zip(back, group, paths):
        ref = _filestorage(path)
        assert np.array_equal(np.hstack([cam.R, cam.t[:, None]]), ref["CameraMatrix"])
        assert np.array_equal(cam.K, ref["Intrinsics"]) and np.array_equal(cam.dist, ref["Distortion"].ravel())
        assert cam.image_size == ref_cam.image_size == (1280, 720)
    assert back[1:] == group[1:]  # bit-exact round trip (camera 0 gained 5 zero coefficients)


def test_xml_translations_are_written_in_metres(tmp_path):
    group = _group((5, 5), units="mm")
    group.to_openpose_xml(tmp_path)
    ref = _filestorage(tmp_path / "cam1.xml")
    np.testing.assert_allclose(ref["CameraMatrix"][:, 3], group[1].t / 1000, rtol=1e-15)
    back = CameraGroup.from_openpose_xml(tmp_path)
    assert back.units == "m"
    np.testing.assert_allclose(back.project(np.zeros((1, 3))), group.project(np.zeros((1, 3))), atol=1e-9)
    # units=None keeps the group's own units, recorded in the file
    group.to_openpose_xml(tmp_path / "mm", units=None)
    assert CameraGroup.from_openpose_xml(tmp_path / "mm").units == "mm"


def test_openpose_example_camera_file_reads():
    path = need_shared(EXAMPLE_XML)
    group = CameraGroup.from_openpose_xml(path)
    ref = _filestorage(path)
    cam = group[0]
    assert group.names == ("17012332",) and cam.units == "m" and cam.image_size is None
    assert np.array_equal(cam.K, ref["Intrinsics"]) and np.array_equal(cam.dist, ref["Distortion"].ravel())
    assert cam.dist.size == 8 and np.array_equal(cam.R, np.eye(3)) and np.array_equal(cam.t, np.zeros(3))
    assert cam.K[0, 0] == pytest.approx(817.93481631740565)


def test_folder_is_read_in_natural_order(tmp_path):
    group = _group((4, 5, 8))
    for cam, stem in zip(group, ["cam1", "cam2", "cam10"]):
        CameraGroup((cam.replace(name=stem),)).to_openpose_xml(tmp_path / stem)
        (tmp_path / stem / f"{stem}.xml").rename(tmp_path / f"{stem}.xml")
    (tmp_path / "notes.txt").write_text("not a camera")
    back = CameraGroup.from_openpose_xml(tmp_path)
    assert back.names == ("cam1", "cam2", "cam10")
    assert [c.dist.size for c in back] == [4, 5, 8]


def test_hand_written_opencv_style_variants(tmp_path):
    """Float matrices, a row-vector distortion, no ImageWidth/Units: as other tools write them."""
    text = """<?xml version="1.0"?>
<opencv_storage>
<CameraMatrix type_id="opencv-matrix"><rows>3</rows><cols>4</cols><dt>f</dt>
<data>1. 0. 0. 0.5 0. 1. 0. -0.25 0. 0. 1. 3.</data></CameraMatrix>
<Intrinsics type_id="opencv-matrix"><rows>3</rows><cols>3</cols><dt>d</dt>
<data>500. 0. 320. 0. 500. 240. 0. 0. 1.</data></Intrinsics>
<Distortion type_id="opencv-matrix"><rows>1</rows><cols>5</cols><dt>d</dt>
<data>-1.0e-01 1.e-2 0. 0. 0.</data></Distortion>
<CameraMatrixInitial type_id="opencv-matrix"><rows>3</rows><cols>4</cols><dt>d</dt>
<data>1. 0. 0. 0. 0. 1. 0. 0. 0. 0. 1. 0.</data></CameraMatrixInitial>
</opencv_storage>
"""
    path = tmp_path / "side.xml"
    path.write_text(text)
    cam = CameraGroup.from_openpose_xml(path)[0]
    ref = _filestorage(path)
    assert np.array_equal(cam.t, ref["CameraMatrix"][:, 3].astype(np.float64))
    assert np.array_equal(cam.dist, ref["Distortion"].ravel()) and cam.name == "side"


XML_TEMPLATE = """<?xml version="1.0"?>
<opencv_storage>
<CameraMatrix type_id="opencv-matrix"><rows>3</rows><cols>4</cols><dt>d</dt><data>{M}</data></CameraMatrix>
<Intrinsics type_id="opencv-matrix"><rows>3</rows><cols>3</cols><dt>d</dt><data>{K}</data></Intrinsics>
<Distortion type_id="opencv-matrix"><rows>{n}</rows><cols>1</cols><dt>d</dt><data>{D}</data></Distortion>
</opencv_storage>
"""
GOOD = dict(M="1 0 0 0 0 1 0 0 0 0 1 0", K="500 0 320 0 500 240 0 0 1", n=4, D="0 0 0 0")


@pytest.mark.parametrize("change,message", [
    (dict(K="0 0 320 0 500 240 0 0 1"), "singular"),
    (dict(M="1 0 0 0 0 1 0 0 0 0 -1 0"), "not a rotation"),
    (dict(M="2 0 0 0 0 1 0 0 0 0 1 0"), "not a rotation"),
    (dict(M="1 0 0 0 0 1 0 0 0 0 1"), "3x4 matrix with 11 values"),
    (dict(K="500 0 320 0 500 240 0 0 .Nan"), "non-finite"),
    (dict(D="0 0 0 zero"), "'zero' is not a number"),
    (dict(n=6, D="0 0 0 0 0 0"), "6 coefficients"),
    (dict(n=0, D=""), "non-empty"),
])
def test_bad_xml_values(tmp_path, change, message):
    path = tmp_path / "c.xml"
    path.write_text(XML_TEMPLATE.format(**{**GOOD, **change}))
    with pytest.raises(InputError, match=message):
        CameraGroup.from_openpose_xml(path)


def test_bad_xml_files(tmp_path):
    with pytest.raises(InputError, match="no such camera parameter file or folder"):
        CameraGroup.from_openpose_xml(tmp_path / "missing")
    with pytest.raises(InputError, match="has no .xml camera files"):
        CameraGroup.from_openpose_xml(tmp_path)
    path = tmp_path / "c.xml"
    path.write_text(XML_TEMPLATE.format(**GOOD).replace("Intrinsics", "Intrinsic"))
    with pytest.raises(InputError, match="missing <Intrinsics>"):
        CameraGroup.from_openpose_xml(path)
    path.write_text(XML_TEMPLATE.format(**GOOD)[:200])
    with pytest.raises(InputError, match="not a valid OpenCV XML"):
        CameraGroup.from_openpose_xml(path)
    path.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><opencv_storage/>')
    with pytest.raises(InputError, match="DTDs or entities"):
        CameraGroup.from_openpose_xml(path)
    path.write_text("<root/>")
    with pytest.raises(InputError, match="not an OpenCV FileStorage"):
        CameraGroup.from_openpose_xml(path)


def test_writer_refuses_what_openpose_would_misread(tmp_path):
    group = _group((4, 4))
    with pytest.raises(InputError, match="natural order"):
        CameraGroup((group[1], group[0])).to_openpose_xml(tmp_path / "a")
    with pytest.raises(InputError, match="cannot be a file name"):
        CameraGroup((group[0].replace(name="../evil"),)).to_openpose_xml(tmp_path / "b")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "old.xml").write_text("x")
    with pytest.raises(InputError, match="already holds other camera files"):
        group.to_openpose_xml(tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["old.xml"]  # nothing written
    with pytest.raises(InputError, match="not a known length"):
        CameraGroup((group[0].replace(units="squares"),)).to_openpose_xml(tmp_path / "d")
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------- TOML

def test_anipose_toml_layout(tmp_path):
    group = _group((5, 4, 0), units="mm")
    path = group.to_toml(tmp_path / "calibration.toml", style="anipose")
    doc = tomllib.loads(path.read_text())
    # aniposelib's CameraGroup.dump: [cam_0], [cam_1], ... then [metadata]; load() sorts the keys
    assert list(doc) == ["cam_0", "cam_1", "cam_2", "metadata"]
    for i, cam in enumerate(group):
        table = doc[f"cam_{i}"]
        assert set(table) == {"name", "size", "matrix", "distortions", "rotation", "translation"}
        assert table["name"] == cam.name and table["size"] == [1280, 720]
        assert np.array_equal(table["matrix"], cam.K)
        assert len(table["distortions"]) == 5
        np.testing.assert_array_equal(table["distortions"][: cam.dist.size], cam.dist)
        np.testing.assert_allclose(cv2.Rodrigues(np.array(table["rotation"]))[0], cam.R, atol=1e-14)
        assert np.array_equal(table["translation"], cam.t)  # board units (here mm), unchanged
    assert doc["metadata"]["units"] == "mm"
    back = CameraGroup.from_toml(path)
    assert back.units == "mm" and back.names == group.names
    X = np.random.default_rng(0).normal(0, 1000, (20, 3))
    np.testing.assert_allclose(back.project(X), group.project(X), atol=1e-8)


def test_reads_an_anipose_style_file_like_aniposelib(tmp_path):
    """aniposelib's layout (toml.dump style, trailing commas), no units recorded: mm assumed."""
    text = """[cam_0]
name = "A"
size = [ 1440, 1080,]
matrix = [ [ 1850.5, 0.0, 719.5,], [ 0.0, 1850.5, 539.5,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.189, 0.0, 0.0, 0.0, 0.0,]
rotation = [ -0.0016, -0.0024, -0.0075,]
translation = [ 1.62, -0.60, 20.75,]

[cam_1]
name = "B"
size = [ 1440, 1080,]
matrix = [ [ 1807.3, 0.0, 719.5,], [ 0.0, 1807.3, 539.5,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.213, 0.0, 0.0, 0.0, 0.0,]
rotation = [ -0.216, -2.976, 0.395,]
translation = [ 116.07, 257.24, 1396.73,]

[metadata]
adjusted = false
error = 0.16
"""
    path = tmp_path / "calibration.toml"
    path.write_text(text)
    group = CameraGroup.from_toml(path)
    assert group.names == ("A", "B") and group.units == "mm" and group[1].image_size == (1440, 1080)
    X = np.random.default_rng(1).normal(0, 200, (30, 3)) + [0, 0, 1500]
    ref = cv2.projectPoints(X, np.array([-0.216, -2.976, 0.395]), np.array([116.07, 257.24, 1396.73]),
                            np.array([[1807.3, 0, 719.5], [0, 1807.3, 539.5], [0, 0, 1]]),
                            np.array([-0.213, 0.0, 0.0, 0.0, 0.0]))[0][:, 0]
    np.testing.assert_allclose(group.project(X)[1], ref, atol=1e-8)
    assert CameraGroup.from_toml(path, units="cm").units == "cm"


def test_pose2sim_toml_layout(tmp_path):
    group = _group((4, 5), units="mm", prefix="cam_0")
    group = CameraGroup((group[0], group[1].replace(dist=np.r_[group[1].dist[:4], 0.0])))
    path = group.to_toml(tmp_path / "Calib.toml", style="pose2sim")
    doc = tomllib.loads(path.read_text())
    # Pose2Sim's toml_write: one table per camera named after it, fisheye = false, then [metadata]
    assert list(doc) == ["cam_00", "cam_01", "metadata"]
    for cam in group:
        table = doc[cam.name]
        assert set(table) == {"name", "size", "matrix", "distortions", "rotation", "translation", "fisheye"}
        assert table["fisheye"] is False and len(table["distortions"]) == 4
        np.testing.assert_allclose(table["translation"], cam.t / 1000, rtol=1e-15)  # metres
    assert doc["metadata"]["adjusted"] is False
    back = CameraGroup.from_toml(path)
    assert back.units == "m"
    X = np.random.default_rng(2).normal(0, 1, (10, 3))
    np.testing.assert_allclose(back.project(X), group.project(X * 1000), atol=1e-8)


def test_reads_pose2sim_files_with_extra_tables(tmp_path):
    text = """[int_cam1_img]
name = "int_cam1_img"
size = [ 1088.0, 1920.0]
matrix = [ [ 1677.7, 0.0, 543.5], [ 0.0, 1677.7, 959.5], [ 0.0, 0.0, 1.0]]
distortions = [ 0.0, 0.0, 0.0, 0.0]
rotation = [ 1.64, -0.74, 0.51]
translation = [ 0.89, 0.51, 3.85]
fisheye = false

[capture_volume]
origin = [0.0, 0.0, 0.0]

[metadata]
adjusted = false
error = 0.0
"""
    path = tmp_path / "Calib.toml"
    path.write_text(text)
    group = CameraGroup.from_toml(path)
    assert group.names == ("int_cam1_img",) and group.units == "m" and group[0].image_size == (1088, 1920)


@pytest.mark.parametrize("text,message", [
    ("[cam_0]\nname='a'\nfisheye=true\n", "fisheye cameras are not supported"),
    ("[cam_0]\nname='a'\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\n", "missing 'distortions'"),
    ("[cam_0]\nmatrix=[[1,0,0],[0,1,0]]\ndistortions=[]\nrotation=[0,0,0]\ntranslation=[0,0,0]\n", "matrix must be an array of 3x3"),
    ("[cam_0]\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\ndistortions=[0,0,0]\nrotation=[0,0,0]\ntranslation=[0,0,0]\n", "3 coefficients"),
    ("[cam_0]\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\ndistortions=[]\nrotation=[0,0]\ntranslation=[0,0,0]\n", "rotation"),
    ("[cam_0]\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\ndistortions=[]\nrotation=[0,0,0]\ntranslation=[0,'a',0]\n", "translation"),
    ("[cam_0]\nmatrix=[[1,0,0],[0,1,0],[0,0,1]]\ndistortions=[]\nrotation=[0,0,0]\ntranslation=[0,nan,0]\n", "non-finite"),
    ("[metadata]\nerror = 1.0\n", "no camera tables"),
    ("[cam_0\nname=1", "not a valid TOML"),
])
def test_bad_toml(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        CameraGroup.from_toml(path)


def test_toml_writer_refusals(tmp_path):
    group = _group((4,), units="squares")
    with pytest.raises(InputError, match="Pose2Sim stores translations in metres"):
        group.to_toml(tmp_path / "a.toml", style="pose2sim")
    with pytest.raises(InputError, match="image size"):
        CameraGroup((group[0].replace(image_size=None),)).to_toml(tmp_path / "b.toml")
    with pytest.raises(InputError, match="unknown TOML style"):
        group.to_toml(tmp_path / "c.toml", style="yaml")
    with pytest.raises(InputError, match="cannot read"):
        CameraGroup.from_toml(tmp_path / "missing.toml")
    assert not any(tmp_path.iterdir())
