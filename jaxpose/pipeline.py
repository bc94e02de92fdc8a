"""`make_pose_fn`: image -> people, with OpenPose's exact semantics (openpose-core §3-§8).

    pose_fn = jaxpose.make_pose_fn(model)
    poses = pose_fn(model.params, image)            # (H, W, 3) uint8 RGB -> jaxpose.Poses
    many = pose_fn.batch(model.params, frames)      # (T, H, W, 3) -> list[Poses], one device call

Device (one jitted call per batch): fit the image into the net input, run the network, upsample
and merge, NMS, score every candidate limb. Host (NumPy): the greedy matcher, filtering, scaling
to image pixels, number_people_max. `pose_fn.device_fn(params, images)` is the pure device part.

Compiles: one per (padded image bucket, net input sizes, peak buffer, batch bucket). Images are
zero-padded up to a multiple of `BUCKET` pixels and their true size travels as a traced value, so
images of different sizes that share a net input size share one compiled function. At most
`max_compiled` compiled functions are kept (least recently used dropped, its memory freed), so a
stream of ever new image sizes runs in bounded memory.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import weakref
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.assemble import assemble_people
from jaxpose.device.paf import ScoreThresholds
from jaxpose.device.peaks import MAX_PEAKS
from jaxpose.device.postprocess import postprocess
from jaxpose.device.preprocess import (
    WarpGeometry, net_input_size, normalize, scale_net_to_output, scale_sizes, warp_geometry,
    warp_image,
)
from jaxpose.errors import InputError
from jaxpose.limits import MAX_IMAGE_SIDE, image_size_problem  # noqa: F401 (MAX_IMAGE_SIDE re-exported)
from jaxpose.lru import DEFAULT_MAX_COMPILED, LRUCache, check_capacity
from jaxpose.nets.params import check_params, param_shapes
from jaxpose.poses import Poses
from jaxpose.sharding import replicate, resolve_devices, shard_frames
from jaxpose.specs import ModelSpec, Thresholds

SEMANTICS = ("cuda", "cpu")
BUCKET = 128  # padded image sides are multiples of this (pixels)
FIRST_PEAK_BUFFER = 16  # peaks per part tried first; grows to max_peaks when a part has more
# (limb scoring costs grow with its square: 16 instead of 32 saves ~6 ms a frame on CPU)
MAX_COMPILED_ENV = "JAXPOSE_MAX_COMPILED"  # default of make_pose_fn's max_compiled when set
PLAN_CACHE_SIZE = 256  # image sizes whose plans (small host/device arrays) are kept
THRESHOLD_NAMES = tuple(f.name for f in dataclasses.fields(Thresholds))
COMPUTE_DTYPES = {"float32": jnp.float32, "fp32": jnp.float32, "bfloat16": jnp.bfloat16, "bf16": jnp.bfloat16}


# ------------------------------------------------------------------ configuration


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything that depends on the image size (host values; `geoms` are small int32 arrays)."""

    image_wh: tuple[int, int]
    net_sizes: tuple[tuple[int, int], ...]  # (Wi, Hi) per scale
    ratios: np.ndarray  # (n,) float32 r_i / r_0
    scale: float  # scaleNetToOutput
    nms_offset: float
    geoms: tuple[WarpGeometry, ...]

    @property
    def heat_hw(self) -> tuple[int, int]:
        return self.net_sizes[0][1], self.net_sizes[0][0]


def make_plan(image_wh: tuple[int, int], net_resolution: tuple[int, int], dynamic: float,
              scale_number: int, scale_gap: float) -> Plan:
    """Net sizes, scale factors, scaleNetToOutput and warp geometry for one image size (§3, §5)."""
    if min(image_wh) < 2:
        raise InputError(f"image of {image_wh[0]}x{image_wh[1]} pixels: needs at least 2x2 pixels.")
    net0 = net_input_size(image_wh, net_resolution, dynamic)
    sizes, factors = scale_sizes(image_wh, net0, scale_number, scale_gap)
    scale, offset = scale_net_to_output(image_wh, sizes[0])
    ratios = np.array([f / factors[0] for f in factors], np.float32)
    geoms = tuple(warp_geometry(image_wh, size, r) for size, r in zip(sizes, factors))
    return Plan(image_wh, sizes, ratios, scale, offset, geoms)


def resolve_thresholds(spec: ModelSpec, maximize_positives: bool, overrides: dict) -> Thresholds:
    """The model's default thresholds (§2.5) with `overrides` (snake-cased OpenPose names) applied."""
    unknown = sorted(set(overrides) - set(THRESHOLD_NAMES))
    if unknown:
        raise InputError(
            f"unknown option(s) {', '.join(unknown)}; the thresholds that can be overridden are "
            f"{', '.join(THRESHOLD_NAMES)}."
        )
    for name, value in overrides.items():
        if name == "min_subset_cnt":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InputError(f"min_subset_cnt={value!r}: must be an integer >= 0.")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(value):
            raise InputError(f"{name}={value!r}: must be a finite number.")
        if name in ("nms_threshold", "inter_min_above_threshold") and not 0 <= value <= 1:
            raise InputError(f"{name}={value!r}: must lie in [0, 1].")
        if name == "min_subset_score" and value < 0:
            raise InputError(f"min_subset_score={value!r}: must be >= 0.")
    return dataclasses.replace(spec.thresholds_for(maximize_positives), **overrides)


def _score_thresholds(t: Thresholds) -> ScoreThresholds:
    return ScoreThresholds(jnp.float32(t.nms_threshold), jnp.float32(t.inter_threshold),
                           jnp.float32(t.inter_min_above_threshold))


def _parse_net_resolution(net_resolution) -> tuple[int, int]:
    if isinstance(net_resolution, str):
        try:
            w, h = (int(v) for v in net_resolution.lower().split("x"))
        except ValueError:
            raise InputError(f"net_resolution {net_resolution!r}: expected 'WxH', e.g. '-1x368'.") from None
        return w, h
    try:
        w, h = net_resolution
        return int(w), int(h)
    except (TypeError, ValueError):
        raise InputError(f"net_resolution {net_resolution!r}: expected (width, height), e.g. (-1, 368).") from None


def compute_dtype(dtype: Any) -> Any:
    """"float32" / "fp32" / "bfloat16" / "bf16" (or the jnp dtypes) -> the network's compute dtype."""
    if isinstance(dtype, str):
        if dtype.lower() in COMPUTE_DTYPES:
            return COMPUTE_DTYPES[dtype.lower()]
    else:
        try:
            kind = jnp.dtype(dtype)
        except TypeError:
            kind = None
        for value in COMPUTE_DTYPES.values():
            if kind == value:
                return value
    raise InputError(f"dtype={dtype!r}: choose 'float32' (default, OpenPose's precision) or "
                     "'bfloat16' (networks in bf16 on accelerators; post-processing stays float32).")


def with_compute_dtype(model: Any, dtype: Any) -> Any:
    """`model` whose network's convolutions and matrix products take `dtype` operands with float32
    accumulation (`jaxpose.nets.layers.operands`; activations, net output and everything after it
    stay float32); the same object for float32."""
    dtype = compute_dtype(dtype)
    if dtype is jnp.float32:
        return model
    if not hasattr(model.net, "operand_dtype"):
        raise InputError(f"the {model.spec.name} network has no bfloat16 option.")
    if getattr(model.net, "conv3x3_impl", "xla") != "xla":
        raise InputError("dtype='bfloat16' needs the 'xla' 3x3 convolutions (Winograd is a CPU "
                         "float32 option); use model.with_conv3x3_impl('xla').")
    net = model.net.clone(operand_dtype=dtype)
    if dataclasses.is_dataclass(model):
        return dataclasses.replace(model, net=net)
    return type(model)(**{**vars(model), "net": net})


def _donation() -> dict:
    """Donate the frame buffer on accelerators (XLA reuses it); XLA:CPU ignores donation."""
    return {} if jax.default_backend() == "cpu" else {"donate_argnums": (1,)}


# ------------------------------------------------------------------ device


def _device_core(params: Any, images: jnp.ndarray, geoms: Sequence[WarpGeometry],
                 ratios: jnp.ndarray, nms_offset: jnp.ndarray, thresholds: ScoreThresholds, *,
                 net: Any, spec: ModelSpec, heat_hw: tuple[int, int], semantics: str,
                 max_peaks: int, return_heatmaps: bool) -> dict[str, jnp.ndarray]:
    """(N, Hb, Wb, 3) uint8 RGB (image in the top-left corner) -> fixed-shape post-processing.

    On CPU a batch runs frame after frame inside the one compiled call (`lax.map`): the network
    and the full-resolution maps of one frame stay in the caches, which measured faster than
    the whole batch at once; on accelerators the batch runs at once.
    """
    def frames(batch: jnp.ndarray) -> dict[str, jnp.ndarray]:
        outputs = []
        for geom in geoms:
            x = normalize(warp_image(batch, geom), spec.normalization)
            outputs.append(net.apply({"params": params}, x).astype(jnp.float32))
        return postprocess(outputs, ratios, nms_offset, thresholds, spec=spec, heat_hw=heat_hw,
                           semantics=semantics, max_peaks=max_peaks,
                           return_heatmaps=return_heatmaps)

    if jax.default_backend() != "cpu" or images.shape[0] == 1:
        return frames(images)
    per_frame = jax.lax.map(lambda image: frames(image[None]), images)
    return jax.tree.map(lambda a: a[:, 0], per_frame)


def make_device_fn(
    model: Any,
    net_resolution: tuple[int, int] | str = (-1, 368),
    scale_number: int = 1,
    scale_gap: float = 0.25,
    semantics: str = "cuda",
    maximize_positives: bool = False,
    net_resolution_dynamic: float = 1.0,
    max_peaks: int = MAX_PEAKS,
    return_heatmaps: bool = False,
    dtype: Any = "float32",
    **overrides: float,
) -> Callable[[Any, jnp.ndarray], dict[str, jnp.ndarray]]:
    """The pure device part: `fn(params, images (N, H, W, 3) uint8 RGB) -> dict` of fixed shapes.

    Returns peaks (N, P, M, 3) (heatmap pixels, nmsOffset included), counts (N, P), totals (N, P)
    (peaks found before the cap M), scores (N, K, M, M) limb scores (-1 / 0 = no connection) and,
    with `return_heatmaps`, heatmaps (N, C, Ht, Wt). Jit, vmap or shard it like any JAX function;
    the geometry is derived from the static image shape. dtype: the network's compute dtype
    ("float32" or "bfloat16").
    """
    spec: ModelSpec = model.spec
    config = _check_options(spec, net_resolution, scale_number, scale_gap, semantics,
                            max_peaks, overrides)
    net_res = config["net_resolution"]
    thresholds = resolve_thresholds(spec, maximize_positives, overrides)
    net = with_compute_dtype(model, dtype).net

    def device_fn(params: Any, images: jnp.ndarray) -> dict[str, jnp.ndarray]:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(f"images of shape {images.shape}: expected (N, H, W, 3) uint8 RGB.")
        check_params(params, param_shapes(net), "params", spec.name)
        h, w = images.shape[1:3]
        plan = make_plan((w, h), net_res, net_resolution_dynamic, scale_number, scale_gap)
        return _device_core(params, images, plan.geoms, jnp.asarray(plan.ratios),
                            jnp.float32(plan.nms_offset), _score_thresholds(thresholds),
                            net=net, spec=spec, heat_hw=plan.heat_hw, semantics=semantics,
                            max_peaks=max_peaks, return_heatmaps=return_heatmaps)

    return device_fn


def _check_options(spec, net_resolution, scale_number, scale_gap, semantics, max_peaks,
                   overrides) -> dict:
    if semantics not in SEMANTICS:
        raise InputError(f"semantics={semantics!r}: choose 'cuda' (OpenPose GPU build, default) "
                         "or 'cpu' (OpenPose CPU-only build).")
    if isinstance(scale_number, bool) or not isinstance(scale_number, (int, np.integer)) \
            or not 1 <= scale_number <= 8:
        raise InputError(f"scale_number={scale_number!r}: must be an integer in 1..8.")
    if semantics == "cpu" and scale_number > 1:
        raise InputError("scale_number > 1 with semantics='cpu': OpenPose's CPU-only build refuses "
                         "multi-scale; use semantics='cuda' or scale_number=1.")
    if not isinstance(max_peaks, (int, np.integer)) or not 1 <= max_peaks <= 1024:
        raise InputError(f"max_peaks={max_peaks!r}: must be an integer in 1..1024 (OpenPose: 127).")
    net_res = _parse_net_resolution(net_resolution)
    net_input_size((656, 368), net_res, 1.0)  # validates the multiples-of-16 rule early
    scale_sizes((656, 368), (656, 368), scale_number, scale_gap)
    if spec.num_pairs == 0:
        raise InputError(f"model {spec.name} has no PAFs; make_pose_fn needs a body model.")
    return {"net_resolution": net_res}


# Compiled functions: one jitted function per full input shape (so that dropping it frees its one
# executable), in a bounded LRU. pose_fns with the same static configuration share one cache
# (thresholds are traced arguments, so pose_fns that differ only in thresholds reuse a compile);
# the cache lives as long as a pose_fn uses it.


class _CompiledCache(LRUCache):
    """An LRU of jitted functions of one network; holds the network, whose id is in its key."""

    def __init__(self, capacity: int, net: Any) -> None:
        super().__init__(capacity)
        self.net = net


_SHARED_CACHES: "weakref.WeakValueDictionary[tuple, _CompiledCache]" = weakref.WeakValueDictionary()


def _compiled_cache(net: Any, spec: ModelSpec, semantics: str, return_heatmaps: bool,
                    capacity: int) -> _CompiledCache:
    key = (id(net), spec, semantics, return_heatmaps, capacity)
    cache = _SHARED_CACHES.get(key)
    if cache is None or cache.net is not net:
        cache = _CompiledCache(capacity, net)
        _SHARED_CACHES[key] = cache
    return cache


def resolve_max_compiled(max_compiled: int | None) -> int:
    """`max_compiled`, or `$JAXPOSE_MAX_COMPILED` when None, or DEFAULT_MAX_COMPILED (8)."""
    if max_compiled is not None:
        return check_capacity("max_compiled", max_compiled)
    text = os.environ.get(MAX_COMPILED_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_COMPILED
    try:
        return check_capacity(MAX_COMPILED_ENV, int(text))
    except ValueError:
        raise InputError(f"{MAX_COMPILED_ENV}={text!r}: must be an integer >= 1 "
                         f"(default {DEFAULT_MAX_COMPILED}).") from None


# ------------------------------------------------------------------ host shell


def as_rgb_uint8(image: Any) -> np.ndarray:
    """Validate one image: (H, W, 3) uint8 RGB, or (H, W) grayscale (converted)."""
    if hasattr(image, "__array__") and not isinstance(image, np.ndarray):
        image = np.asarray(image)
    if not isinstance(image, np.ndarray):
        raise InputError(f"image of type {type(image).__name__}: expected a NumPy array (H, W, 3) uint8 RGB.")
    if image.dtype != np.uint8:
        raise InputError(
            f"image dtype {image.dtype}: expected uint8 RGB 0..255 (for floats in [0, 1] pass "
            "(image * 255).round().astype(np.uint8)).")
    if image.ndim not in (2, 3):
        raise InputError(f"image of shape {image.shape}: expected (H, W, 3) RGB or (H, W) gray.")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4) and image.shape[0] in (1, 3, 4):
        raise InputError(
            f"image of shape {image.shape} is channels-first (C, H, W); jaxpose takes (H, W, 3) "
            f"RGB: pass np.moveaxis(image, 0, -1) (shape {image.shape[1:] + image.shape[:1]}).")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise InputError(f"empty image of shape {image.shape}.")
    if h < 2 or w < 2:
        raise InputError(f"image of {w}x{h} pixels: needs at least 2x2 pixels.")
    problem = image_size_problem(w, h)
    if problem:
        raise InputError(problem)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        raise InputError(f"image of shape {image.shape} has an alpha channel: pass image[..., :3].")
    if image.shape[2] != 3:
        raise InputError(f"image of shape {image.shape}: expected 3 channels (RGB).")
    return image


def _bucket(n: int) -> int:
    return -(-n // BUCKET) * BUCKET


def _batch_bucket(n: int, multiple: int = 1) -> int:
    """Frames per call: the next power of two, then up to a multiple of the device count."""
    return -(-(1 << max(0, (n - 1).bit_length())) // multiple) * multiple


def _check_frames(frames: Any) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of one size (T >= 1), else InputError."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise InputError(f"frames of shape {frames.shape}: expected (T, H, W, 3) uint8 RGB, T >= 1.")
    as_rgb_uint8(frames[0])
    return frames


@dataclasses.dataclass(frozen=True)
class Pending:
    """Device work started by `PoseFn.submit`, to finish with `PoseFn.collect`."""

    out: dict  # device arrays, possibly still being computed
    plan: Plan
    frames: np.ndarray  # (T, H, W, 3) the frames themselves (hands/face crops, a re-run)
    params: Any
    buffer: int  # peak buffer the device work used
    pad_to: int


_UNCHECKED = object()


class PoseFn:
    """Callable returned by `make_pose_fn`; see the module docstring."""

    def __init__(self, model: Any, *, net_resolution, scale_number, scale_gap, semantics,
                 number_people_max, maximize_positives, net_resolution_dynamic, return_heatmaps,
                 max_peaks, thresholds: Thresholds, wholebody: Callable | None,
                 extra_models: dict | None = None, max_compiled: int = DEFAULT_MAX_COMPILED,
                 devices: tuple | None = None):
        self.model = model
        self.devices = devices
        self._replicated: tuple[Any, Any] | None = None
        self.spec: ModelSpec = model.spec
        self.net_resolution = net_resolution
        self.scale_number = scale_number
        self.scale_gap = scale_gap
        self.semantics = semantics
        self.number_people_max = int(number_people_max)
        self.maximize_positives = maximize_positives
        self.net_resolution_dynamic = net_resolution_dynamic
        self.return_heatmaps = return_heatmaps
        self.max_peaks = max_peaks
        self.thresholds = thresholds
        self._score_thresholds = _score_thresholds(thresholds)
        self._wholebody = wholebody
        self._extra_models = extra_models or {}
        self._checked_params: Any = _UNCHECKED  # the last params tree found to fit the network
        self.max_compiled = check_capacity("max_compiled", max_compiled)
        self._plans = LRUCache(PLAN_CACHE_SIZE)
        self._compiled_fns = _compiled_cache(model.net, self.spec, semantics, return_heatmaps,
                                             self.max_compiled)
        self.device_fn = make_device_fn(
            model, net_resolution, scale_number, scale_gap, semantics, maximize_positives,
            net_resolution_dynamic, max_peaks, return_heatmaps, **dataclasses.asdict(thresholds))

    @property
    def params(self) -> Any:
        """The weights of the model(s) this function was made with, in the layout `__call__` takes
        (the body's params; {"body", "hand", "face"} with hand/face models)."""
        if self._wholebody is None:
            return self.model.params
        params = {"body": self.model.params}
        params.update({name: model.params for name, model in self._extra_models.items()})
        return params

    # -- plans and compiled functions

    def plan(self, image_wh: tuple[int, int]) -> Plan:
        return self._plan_with_device_arrays(image_wh)[0]

    def _plan_with_device_arrays(self, image_wh: tuple[int, int]) -> tuple[Plan, tuple]:
        def make() -> tuple[Plan, tuple]:
            plan = make_plan(image_wh, self.net_resolution, self.net_resolution_dynamic,
                             self.scale_number, self.scale_gap)
            args = (tuple(WarpGeometry(*(jnp.asarray(a) for a in g)) for g in plan.geoms),
                    jnp.asarray(plan.ratios), jnp.float32(plan.nms_offset))
            return plan, args

        return self._plans.get(tuple(image_wh), make)

    def _compiled(self, plan: Plan, buffer: int, frames_shape: tuple[int, ...]) -> Callable:
        """The jitted device core for one padded frames shape (T, Hb, Wb, 3), from the LRU; with
        `devices`, the frames split over them (`jaxpose.sharding`). Frame buffers are donated off CPU."""
        core, net, devices = _device_core, self.model.net, self.devices
        key = ("device", core, plan.net_sizes, tuple(frames_shape), buffer, devices)

        def make() -> Callable:
            fn = functools.partial(core, net=net, spec=self.spec, heat_hw=plan.heat_hw,
                                   semantics=self.semantics, max_peaks=buffer,
                                   return_heatmaps=self.return_heatmaps)
            if devices is None:
                return jax.jit(fn, **_donation())
            return shard_frames(fn, devices, num_args=6, **_donation())

        return self._compiled_fns.get(key, make)

    def _compiled_postprocess(self, plan: Plan) -> Callable:
        key = ("postprocess", plan.net_sizes, self.max_peaks)
        return self._compiled_fns.get(key, lambda: jax.jit(functools.partial(
            postprocess, spec=self.spec, heat_hw=plan.heat_hw, semantics=self.semantics,
            max_peaks=self.max_peaks, return_heatmaps=self.return_heatmaps)))

    def _placed(self, params: Any) -> Any:
        """The body parameters, replicated on every device of the mesh (kept while unchanged)."""
        if self.devices is None:
            return params
        if self._replicated is None or self._replicated[0] is not params:
            self._replicated = (params, replicate(params, self.devices))
        return self._replicated[1]

    def _dispatch(self, params: Any, frames: np.ndarray, plan: Plan, args: tuple, buffer: int,
                  pad_to: int) -> dict:
        """Start the device work for frames (T, H, W, 3) uint8 (padded to buckets, the batch to a
        multiple of the device count); returns the device arrays without waiting (JAX dispatches
        asynchronously)."""
        t, h, w = frames.shape[:3]
        tb, hb, wb = _batch_bucket(max(t, pad_to), len(self.devices or (0,))), _bucket(h), _bucket(w)
        if (tb, hb, wb) != (t, h, w):
            padded = np.zeros((tb, hb, wb, 3), np.uint8)
            padded[:t, :h, :w] = frames
            frames = padded
        return self._compiled(plan, buffer, frames.shape)(self._placed(params), frames, *args,
                                                          self._score_thresholds)

    def submit(self, params: Any, frames: Any, pad_to: int = 1) -> "Pending":
        """Start the device part for frames (T, H, W, 3) uint8 RGB of one size; returns at once.

        `collect(pending)` waits for the device and assembles the people. Between the two, the
        host is free (decode the next frames, write the previous ones): this is what the
        streaming engine (`jaxpose.stream`) overlaps. `pad_to` pads the batch (to a power of two
        at least this large) so that a short last batch reuses the full batch's compile.
        """
        frames = _check_frames(frames)
        t, h, w = frames.shape[:3]
        plan, args = self._plan_with_device_arrays((w, h))
        body = self._body_params(params)
        buffer = min(FIRST_PEAK_BUFFER, self.max_peaks)
        out = self._dispatch(body, frames, plan, args, buffer, pad_to)
        return Pending(out=out, plan=plan, frames=frames, params=params, buffer=buffer, pad_to=pad_to)

    def _device_results(self, pending: "Pending") -> dict:
        """Host copies of `submit`'s device arrays for the real frames; redone once with the full
        peak buffer when a part had more peaks than the first buffer holds."""
        t = pending.frames.shape[0]
        out = jax.device_get(pending.out)
        if pending.buffer < self.max_peaks and (out["totals"][:t] > pending.buffer).any():
            plan, args = self._plan_with_device_arrays(pending.plan.image_wh)
            out = jax.device_get(self._dispatch(self._body_params(pending.params), pending.frames,
                                                plan, args, self.max_peaks, pending.pad_to))
        return {k: v[:t] for k, v in out.items()}

    def _run_device(self, params: Any, frames: np.ndarray, image_wh: tuple[int, int]):
        """frames (T, H, W, 3) uint8 -> host dict of device results for the T frames, and the plan."""
        pending = self.submit(params, frames)
        return self._device_results(pending), pending.plan

    def collect(self, pending: "Pending") -> list[Poses]:
        """Wait for `submit`'s device work; the people of each frame (host assembly, hands/face)."""
        out = self._device_results(pending)
        return [self._add_wholebody(pending.params, pending.frames[n], self._poses(out, n, pending.plan))
                for n in range(pending.frames.shape[0])]

    # -- host assembly

    def _poses(self, out: dict, n: int, plan: Plan) -> Poses:
        keypoints, scores = assemble_people(
            self.spec, out["peaks"][n], out["counts"][n], out["scores"][n], self.thresholds,
            plan.scale, self.semantics, self.maximize_positives, self.number_people_max)
        return Poses(
            keypoints=keypoints, scores=scores, model=self.spec.name, image_size=plan.image_wh,
            net_input_size=plan.net_sizes[0], scale_net_to_output=plan.scale,
            heatmaps=np.moveaxis(out["heatmaps"][n], 0, -1) if "heatmaps" in out else None)

    def _add_wholebody(self, params: Any, image: np.ndarray, poses: Poses) -> Poses:
        if self._wholebody is None:
            return poses
        extra = self._wholebody(params.get("hand"), params.get("face"), image, poses.keypoints)
        return poses.replace(**extra)

    def _body_params(self, params: Any) -> Any:
        """The body network's params, checked to fit it (InputError naming the problem)."""
        what = "params"
        if self._wholebody is not None:
            if not isinstance(params, dict) or "body" not in params:
                raise InputError('with hand/face models, pass params as {"body": ..., "hand": ..., '
                                 '"face": ...} (e.g. model.params for "body").')
            params, what = params["body"], 'params["body"]'
        if params is not self._checked_params:
            check_params(params, param_shapes(self.model.net), what, self.spec.name)
            self._checked_params = params
        return params

    # -- public

    def __call__(self, params: Any, image: Any) -> Poses:
        """One (H, W, 3) uint8 RGB image -> Poses."""
        image = as_rgb_uint8(image)
        return self.collect(self.submit(params, image[None]))[0]

    def batch(self, params: Any, frames: Any) -> list[Poses]:
        """(T, H, W, 3) uint8 RGB frames of one size -> list of T Poses; one device call."""
        frames = np.asarray(frames)
        if frames.ndim == 4 and frames.shape[0] == 0:
            return []
        return self.collect(self.submit(params, frames))

    def from_net_output(self, net_outputs: Any, image_size: tuple[int, int]) -> Poses:
        """Post-process given network output(s) of one image of `image_size` (W, H) pixels.

        net_outputs: (h, w, C) for one scale, or a sequence with one array per scale, each at
        stride 8 of that scale's net input (as OpenPose's `--body 2`). Skips the network.
        """
        outputs = [net_outputs] if not isinstance(net_outputs, (list, tuple)) else list(net_outputs)
        plan = self.plan(tuple(int(v) for v in image_size))
        if len(outputs) != len(plan.net_sizes):
            raise InputError(f"{len(outputs)} net outputs for {len(plan.net_sizes)} scales.")
        outputs = [jnp.asarray(o, jnp.float32)[None] for o in outputs]
        for o, (wi, hi) in zip(outputs, plan.net_sizes):
            expected = (-(-hi // self.spec.stride), -(-wi // self.spec.stride), self.spec.num_channels)
            if o.shape[1:] != expected:
                raise InputError(f"net output of shape {o.shape[1:]}: expected {expected} for "
                                 f"net input {wi}x{hi}.")
        post = self._compiled_postprocess(plan)
        out = jax.device_get(post(outputs, jnp.asarray(plan.ratios), jnp.float32(plan.nms_offset),
                                  self._score_thresholds))
        return self._poses(out, 0, plan)


def make_pose_fn(
    model: Any,
    net_resolution: tuple[int, int] | str = (-1, 368),
    scale_number: int = 1,
    scale_gap: float = 0.25,
    semantics: str = "cuda",
    number_people_max: int = -1,
    maximize_positives: bool = False,
    net_resolution_dynamic: float = 1.0,
    return_heatmaps: bool = False,
    hand: Any = None,
    face: Any = None,
    hand_net_resolution: int = 368,
    face_net_resolution: int = 368,
    hand_scale_number: int = 1,
    hand_scale_range: float = 0.4,
    face_detector: str = "body",
    max_peaks: int = MAX_PEAKS,
    dtype: Any = "float32",
    devices: Any = None,
    max_compiled: int | None = None,
    **overrides: float,
) -> PoseFn:
    """A function `pose_fn(params, image) -> Poses` for body `model`, as OpenPose's flags.

    net_resolution: (width, height), one side -1 = from the aspect ratio (multiples of 16).
    net_resolution_dynamic: 1.0 for still images (caps width at 16:9), -1 for video/camera.
    semantics: "cuda" (OpenPose GPU build) or "cpu" (OpenPose CPU-only build; single scale).
    overrides: nms_threshold, inter_threshold, inter_min_above_threshold, min_subset_cnt,
    min_subset_score (defaults per model and `maximize_positives`, openpose-core §2.5).
    max_peaks: peaks kept per part (OpenPose: 127).
    dtype: the networks' compute dtype, "float32" (default) or "bfloat16" / "bf16" (bf16 operands,
    float32 sums; the post-processing stays float32; see docs: keypoints move by up to a grid step).
    devices: None (JAX's default device), "all" or a list of local devices
    (`jaxpose.select_devices(num_gpu, num_gpu_start)`): `pose_fn.batch` splits its frames over
    them (`jaxpose.sharding`), with results equal to one device's.
    max_compiled: compiled functions kept (one per net input size, padded image size and batch
    size; least recently used dropped and its memory freed); None = `$JAXPOSE_MAX_COMPILED`,
    else 8. Each costs about 25 MB for MobileNet-thin and one compile when it comes back.
    With `hand` / `face` models, params becomes {"body": ..., "hand": ..., "face": ...}.
    `model` may also be a built-in name ("mobilenet_thin") or a model file path; the loaded
    weights are then at `pose_fn.params`.
    On CPU this also lets XLA reuse freed host memory between calls (`jaxpose.host_memory`: the
    network ~0.85 of the time; off with JAXPOSE_KEEP_HOST_MEMORY=0).
    """
    from jaxpose import host_memory
    from jaxpose.jax_backend import default_backend

    default_backend()  # one BackendError line, not a traceback, when JAX cannot start its backend
    host_memory.keep_freed_memory()
    if isinstance(model, (str, os.PathLike)):
        from jaxpose.hub import load_model

        model = load_model(model)
    spec: ModelSpec = model.spec
    model = with_compute_dtype(model, dtype)
    hand = None if hand is None else with_compute_dtype(hand, dtype)
    face = None if face is None else with_compute_dtype(face, dtype)
    devices = resolve_devices(devices)
    config = _check_options(spec, net_resolution, scale_number, scale_gap, semantics,
                            max_peaks, overrides)
    if isinstance(number_people_max, bool) or not isinstance(number_people_max, (int, np.integer)):
        raise InputError(f"number_people_max={number_people_max!r}: must be an integer (-1 = all).")
    thresholds = resolve_thresholds(spec, maximize_positives, overrides)
    max_compiled = resolve_max_compiled(max_compiled)
    wholebody = None
    if hand is not None or face is not None:
        from jaxpose.wholebody import make_wholebody_fn

        wholebody = make_wholebody_fn(
            spec, hand, face, hand_net_resolution=hand_net_resolution,
            face_net_resolution=face_net_resolution, hand_scale_number=hand_scale_number,
            hand_scale_range=hand_scale_range, face_detector=face_detector, semantics=semantics,
            max_compiled=max_compiled)
    return PoseFn(model, net_resolution=config["net_resolution"], scale_number=scale_number,
                  scale_gap=scale_gap, semantics=semantics, number_people_max=number_people_max,
                  maximize_positives=maximize_positives,
                  net_resolution_dynamic=net_resolution_dynamic, return_heatmaps=return_heatmaps,
                  max_peaks=max_peaks, thresholds=thresholds, wholebody=wholebody,
                  extra_models={k: m for k, m in (("hand", hand), ("face", face)) if m is not None},
                  max_compiled=max_compiled, devices=devices)
