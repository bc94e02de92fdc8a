"""Whole-body keypoints: 2 x 21 hand and 70 face keypoints per person (OpenPose `--hand`, `--face`).

    fn = make_wholebody_fn(body_model.spec, hand_model, face_model)
    out = fn(hand_model.params, face_model.params, image_rgb, poses.keypoints)
    out["hand_left"], out["hand_right"]   # (P, 21, 3) x, y, score in image pixels
    out["hand_rects"]                     # (P, 2, 4) [left, right] x, y, w, h
    out["face"], out["face_rects"]        # (P, 70, 3), (P, 4)

Host: boxes from body keypoints (`regions`), OpenCV's crop maps (`crops.crop_affines`). Device: one
jitted call per network for all crops of the image (`crops.make_crop_peaks_fn`; on CPU in calls of
power-of-two sizes adding up to the crop count, so that no padding crop is computed). Host: peaks back to
image pixels, best hand scale, scatter per person. Boxes OpenPose would skip (too small) stay zero.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from jaxpose.errors import InputError
from jaxpose.lru import DEFAULT_MAX_COMPILED, LRUCache, check_capacity
from jaxpose.nets.params import check_params, param_shapes
from jaxpose.specs import ModelSpec
from jaxpose.wholebody import crops, regions
from jaxpose.wholebody import tables as T

__all__ = ["make_wholebody_fn", "crops", "regions"]

FACE_DETECTORS = ("body", "opencv")
IMAGE_MULTIPLE = 64  # images are zero-padded to a multiple of this: one compile per size bucket


def _check_resolution(name: str, side: int) -> int:
    if not isinstance(side, (int, np.integer)) or side <= 0 or side % T.NET_RESOLUTION_MULTIPLE:
        raise InputError(
            f"{name} is {side!r}; it must be a positive multiple of {T.NET_RESOLUTION_MULTIPLE} "
            f"(OpenPose's default is {T.NET_RESOLUTION}, 320 is faster for faces)."
        )
    return int(side)


def _check_model(model: Any, expected: str) -> None:
    if model is not None and getattr(getattr(model, "spec", None), "name", None) != expected:
        raise InputError(
            f"the {expected.lower()} model must be a jaxpose.Model of {expected} (got "
            f"{getattr(getattr(model, 'spec', None), 'name', type(model).__name__)}); convert "
            f"OpenPose's {expected.lower()}/pose_deploy.prototxt weights with `jaxpose convert`."
        )


def _check_image(image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(
            f"image has shape {image.shape} and dtype {image.dtype}; the whole-body stage needs "
            "(H, W, 3) uint8 RGB."
        )
    return image


def _pad_image(image: np.ndarray) -> np.ndarray:
    """Zero-pad bottom/right to a multiple of IMAGE_MULTIPLE: zeros are the crop's black border."""
    h, w = image.shape[:2]
    ph, pw = -h % IMAGE_MULTIPLE, -w % IMAGE_MULTIPLE
    return np.pad(image, ((0, ph), (0, pw), (0, 0))) if ph or pw else image


def _buckets(count: int, capacity: int, exact: bool = False) -> list[tuple[int, int]]:
    """Split `count` crops into calls of power-of-two sizes <= capacity: [(start, call size)].

    Each call of up to `capacity` crops is padded up to a power of two, or with `exact` split into
    the powers of two of its binary writing (6 = 4 + 2): no padding, the same compiles.
    """
    calls = []
    for start in range(0, count, capacity):
        n = min(capacity, count - start)
        if not exact:
            calls.append((start, min(capacity, 1 << (n - 1).bit_length())))
            continue
        for bit in reversed(range(n.bit_length())):
            if n >> bit & 1:
                calls.append((start, 1 << bit))
                start += 1 << bit
    return calls


class _CropRunner:
    """Run one network over a list of boxes: (M, 4) boxes + mirror flags -> (M, J, 3) image pixels.

    One jitted function per (padded image size, call size), at most `max_compiled` of them kept
    (least recently used dropped with its executable).
    """

    def __init__(self, model: Any, net_side: int, capacity: int, face: bool, semantics: str,
                 max_compiled: int = DEFAULT_MAX_COMPILED, per_crop: bool = False):
        self.net_side, self.capacity, self.face = net_side, capacity, face
        self.model = model
        self.num_parts = model.spec.num_parts
        self.semantics = semantics
        self.per_crop = bool(per_crop)
        self.exact = jax.default_backend() == "cpu"  # padding costs as much as a crop on CPU
        self.compiled = LRUCache(max_compiled)

    def device_fn(self, params: Any, image: Any, xq: np.ndarray, yq: np.ndarray) -> Any:
        net = self.model.net

        def make() -> Any:
            return crops.make_crop_peaks_fn(lambda p, x: net.apply({"params": p}, x),
                                            self.num_parts, self.semantics, self.per_crop)

        return self.compiled.get((tuple(image.shape), xq.shape), make)(params, image, xq, yq)

    def check(self, params: Any, what: str) -> None:
        check_params(params, param_shapes(self.model.net), what, self.model.spec.name)

    def __call__(self, params: Any, image: np.ndarray, rects: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
        count = rects.shape[0]
        out = np.zeros((count, self.num_parts, 3), np.float32)
        if count == 0:
            return out
        affines = crops.crop_affines(rects, mirrored, self.net_side, face=self.face)
        xq, yq = crops.sample_grid(affines, self.net_side)
        for start, size in _buckets(count, self.capacity, exact=self.exact):
            stop = min(start + size, count)
            pad = size - (stop - start)
            # Padding crops sample far outside the image: black, and discarded below.
            far = np.full((pad, self.net_side), -(1 << 20), np.int32)
            peaks = self.device_fn(
                params, image, np.concatenate([xq[start:stop], far]), np.concatenate([yq[start:stop], far])
            )
            out[start:stop] = np.asarray(peaks)[: stop - start]
        return crops.peaks_to_image(out, affines)


def make_wholebody_fn(
    body_spec: ModelSpec,
    hand: Any = None,
    face: Any = None,
    *,
    hand_net_resolution: int = T.NET_RESOLUTION,
    face_net_resolution: int = T.NET_RESOLUTION,
    hand_scale_number: int = T.HAND_SCALE_NUMBER,
    hand_scale_range: float = T.HAND_SCALE_RANGE,
    face_detector: str = "body",
    semantics: str = "cuda",
    max_people: int = 8,
    max_compiled: int = DEFAULT_MAX_COMPILED,
    per_crop: bool = False,
) -> Callable[[Any, Any, np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """Build `fn(hand_params, face_params, image_rgb, body_keypoints) -> dict` of numpy arrays.

    body_spec: the body model's table (parts are looked up by name). hand / face: `jaxpose.Model`
    of HAND / FACE, or None to skip. image_rgb (H, W, 3) uint8; body_keypoints (P, K, 3) float32
    image pixels. Keys: "hand_left", "hand_right" (P, 21, 3), "hand_rects" (P, 2, 4) [left, right]
    when `hand`; "face" (P, 70, 3), "face_rects" (P, 4) when `face`. With face_detector="opencv"
    the face arrays have one row per face OpenCV found (F may differ from P). Boxes are
    x, y, w, h; keypoints x, y, score; skipped boxes leave zeros. semantics: heat-map up-sampling
    of OpenPose's GPU build ("cuda", default, as `make_pose_fn`) or CPU build ("cpu": OpenCV cubic).

    The networks see at most `2 * max_people` hand crops (all scales) or `max_people` face crops
    per call: one compile per (image size / 64, call size). On CPU the calls are the powers of two
    that add up to the crop count (no padding); on accelerators one call padded to a power of two.
    per_crop: the networks run one crop after the other inside a call (`lax.map`) instead of all
    at once (measured slower on CPU at 368; kept for memory-bound devices).
    At most `max_compiled` compiled functions per network are kept (least recently used dropped).
    """
    if hand is None and face is None:
        raise InputError("make_wholebody_fn needs a hand model, a face model or both.")
    _check_model(hand, "HAND")
    _check_model(face, "FACE")
    if face_detector not in FACE_DETECTORS:
        raise InputError(f"face_detector is {face_detector!r}; use one of {', '.join(FACE_DETECTORS)}.")
    if semantics not in ("cuda", "cpu"):
        raise InputError(f"semantics is {semantics!r}; use 'cuda' or 'cpu'.")
    if not isinstance(hand_scale_number, (int, np.integer)) or hand_scale_number < 1:
        raise InputError(f"hand_scale_number is {hand_scale_number!r}; it must be an integer >= 1.")
    if not 0.0 <= float(hand_scale_range) < 2.0:
        raise InputError(f"hand_scale_range is {hand_scale_range!r}; it must be in [0, 2).")
    if max_people < 1:
        raise InputError(f"max_people is {max_people!r}; it must be at least 1.")
    max_compiled = check_capacity("max_compiled", max_compiled)
    hand_side = _check_resolution("hand_net_resolution", hand_net_resolution)
    face_side = _check_resolution("face_net_resolution", face_net_resolution)
    hand_runner = None if hand is None else _CropRunner(hand, hand_side, 2 * max_people, False,
                                                        semantics, max_compiled, per_crop)
    face_runner = None if face is None else _CropRunner(face, face_side, max_people, True,
                                                        semantics, max_compiled, per_crop)
    if hand is not None:
        regions.hand_rects(body_spec, np.zeros((0, body_spec.num_parts, 3), np.float32))
    if face is not None and face_detector == "body":
        regions.face_rects(body_spec, np.zeros((0, body_spec.num_parts, 3), np.float32))

    def fn(hand_params: Any, face_params: Any, image_rgb: np.ndarray, body_keypoints: np.ndarray) -> dict[str, np.ndarray]:
        image = _check_image(image_rgb)
        if hand_runner is not None:
            hand_runner.check(hand_params, 'params["hand"]')
        if face_runner is not None:
            face_runner.check(face_params, 'params["face"]')
        keypoints = np.asarray(body_keypoints, np.float32)
        padded = jax.device_put(_pad_image(image))
        result: dict[str, np.ndarray] = {}
        if hand_runner is not None:
            result.update(_hands(hand_runner, hand_params, padded, body_spec, keypoints,
                                 hand_scale_number, hand_scale_range))
        if face_runner is not None:
            if face_detector == "opencv":
                rects = regions.opencv_face_rects(image)
            else:
                rects = regions.face_rects(body_spec, keypoints)
            result.update(_faces(face_runner, face_params, padded, rects))
        return result

    return fn


def _hands(runner: _CropRunner, params: Any, image: np.ndarray, spec: ModelSpec, keypoints: np.ndarray,
           scale_number: int, scale_range: float) -> dict[str, np.ndarray]:
    rects = regions.hand_rects(spec, keypoints)  # (P, 2, 4)
    scaled = regions.hand_scale_rects(rects, scale_number, scale_range)  # (S, P, 2, 4)
    run = np.broadcast_to(regions.hand_processable(rects), scaled.shape[:-1])  # base box decides
    mirrored = np.broadcast_to(np.asarray(T.HAND_MIRRORED), scaled.shape[:-1])
    found = np.zeros(scaled.shape[:-1] + (runner.num_parts, 3), np.float32)
    found[run] = runner(params, image, scaled[run], mirrored[run])
    # Keep the first scale; a later scale replaces it only with a strictly higher mean score,
    # i.e. the first scale reaching the maximum mean (float32 mean as OpenPose's getAverageScore).
    mean = np.cumsum(found[..., 2], axis=-1, dtype=np.float32)[..., -1] / np.float32(runner.num_parts)
    best = np.argmax(mean, axis=0)  # (P, 2)
    chosen = np.take_along_axis(found, best[None, ..., None, None], axis=0)[0]  # (P, 2, J, 3)
    chosen = np.where(run[0][..., None, None], chosen, np.float32(0))
    return {
        "hand_left": np.ascontiguousarray(chosen[:, 0]),
        "hand_right": np.ascontiguousarray(chosen[:, 1]),
        "hand_rects": rects,
    }


def _faces(runner: _CropRunner, params: Any, image: np.ndarray, rects: np.ndarray) -> dict[str, np.ndarray]:
    rects = np.asarray(rects, np.float32).reshape(-1, 4)
    run = regions.face_processable(rects)
    found = np.zeros((rects.shape[0], runner.num_parts, 3), np.float32)
    found[run] = runner(params, image, rects[run], np.zeros(int(run.sum()), bool))
    return {"face": found, "face_rects": rects}
