"""Every local device: a frame batch split over a 1-D device mesh, parameters replicated.

    devices = jaxpose.select_devices(num_gpu=-1, num_gpu_start=0)   # OpenPose's --num_gpu flags
    pose_fn = jaxpose.make_pose_fn(model, devices=devices)          # or devices="all"
    poses = pose_fn.batch(model.params, frames)                     # frames split over devices

The device function runs under `jax.shard_map` on a mesh with one axis, "frames": each device
gets T / D consecutive frames and computes them exactly as one device computes a batch (the
network, then the post-processing, per frame), so the results equal the single-device ones. The
batch is padded to a multiple of the device count; one compile per shape, as without devices.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxpose.errors import InputError
from jaxpose.jax_backend import default_backend

AXIS = "frames"


def select_devices(num_gpu: int = -1, num_gpu_start: int = 0,
                   available: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """OpenPose's `--num_gpu` / `--num_gpu_start` -> the local JAX devices to use.

    num_gpu: how many devices (-1 or any negative value: all from `num_gpu_start` on);
    num_gpu_start: index of the first one among `available` (default: `jax.local_devices()`,
    the default backend's devices of this process: GPUs on a GPU machine, else CPU devices).
    """
    if available is None:
        default_backend()  # a BackendError line when JAX cannot start (e.g. JAX_PLATFORMS=cuda, no plugin)
    devices = tuple(jax.local_devices() if available is None else available)
    for name, value in (("num_gpu", num_gpu), ("num_gpu_start", num_gpu_start)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"{name}={value!r}: must be an integer.")
    kind = f"{len(devices)} {devices[0].platform.upper()} device(s)" if devices else "no devices"
    if not 0 <= num_gpu_start < len(devices):
        raise InputError(f"num_gpu_start={num_gpu_start}: this machine has {kind} (indices "
                         f"0..{len(devices) - 1}); choose a start in that range.")
    if num_gpu == 0:
        raise InputError("num_gpu=0: use at least one device (-1 = all of them).")
    if num_gpu < 0:
        return devices[num_gpu_start:]
    if num_gpu_start + num_gpu > len(devices):
        raise InputError(f"num_gpu={num_gpu} from num_gpu_start={num_gpu_start} needs devices up to "
                         f"index {num_gpu_start + num_gpu - 1}, but this machine has {kind}; use "
                         f"num_gpu <= {len(devices) - num_gpu_start} or -1 for all.")
    return devices[num_gpu_start:num_gpu_start + num_gpu]


def devices_for_flags(num_gpu: int = -1, num_gpu_start: int = 0) -> tuple[Any, ...] | None:
    """`select_devices` for the command line's flags: None (no mesh, JAX's default device, the
    plain single-device path) when the selection is just that device, else the devices."""
    devices = select_devices(num_gpu, num_gpu_start)
    return None if devices == (jax.devices()[0],) else devices


def resolve_devices(devices: Any) -> tuple[Any, ...] | None:
    """`make_pose_fn`'s `devices=`: None (JAX's default device, no mesh), "all" (every local
    device) or a sequence of distinct local devices of one platform -> tuple or None."""
    if devices is None:
        return None
    if isinstance(devices, str):
        if devices != "all":
            raise InputError(f"devices={devices!r}: pass 'all', a list of JAX devices "
                             "(e.g. jaxpose.select_devices(num_gpu=2)) or None.")
        return tuple(jax.local_devices())
    try:
        chosen = tuple(devices)
    except TypeError:
        raise InputError(f"devices={devices!r}: pass 'all', a list of JAX devices or None.") from None
    local = {d.id: d for d in jax.local_devices(backend=chosen[0].platform)} if chosen and \
        isinstance(chosen[0], jax.Device) else {}
    if not chosen or not all(isinstance(d, jax.Device) and local.get(d.id) is d for d in chosen):
        raise InputError(f"devices={devices!r}: every entry must be a local JAX device of this "
                         "process (see jax.local_devices() or jaxpose.select_devices).")
    if len({d.id for d in chosen}) != len(chosen):
        raise InputError(f"devices={devices!r}: a device is listed twice.")
    if len({d.platform for d in chosen}) != 1:
        raise InputError(f"devices={devices!r}: mixes platforms; use devices of one kind.")
    return chosen


def frame_mesh(devices: Sequence[Any]) -> Mesh:
    """The 1-D mesh with axis "frames" over `devices`."""
    return Mesh(np.array(devices, dtype=object), (AXIS,))


def shard_frames(fn: Callable, devices: Sequence[Any], num_args: int, frames_arg: int = 1,
                 **jit_kwargs: Any) -> Callable:
    """jit(shard_map(fn)): argument `frames_arg` and every output split on their first axis over
    `devices`, the other arguments (pytrees) replicated."""
    mesh = frame_mesh(devices)
    split, whole = PartitionSpec(AXIS), PartitionSpec()
    in_specs = tuple(split if i == frames_arg else whole for i in range(num_args))
    mapped = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=split, check_vma=False)
    to = lambda spec: NamedSharding(mesh, spec)
    return jax.jit(mapped, in_shardings=tuple(to(s) for s in in_specs), out_shardings=to(split),
                   **jit_kwargs)


def replicate(tree: Any, devices: Sequence[Any]) -> Any:
    """A pytree of arrays copied to every device of the mesh (the parameters)."""
    return jax.device_put(tree, NamedSharding(frame_mesh(devices), PartitionSpec()))
