"""Where chunks run: in this process (local) or on Ray actors. Both take chunks with `submit` and
hand back `(task, report)` or `(task, error)` with `next()`, in the order they finish.

Ray: one actor per accelerator (per CPU slot on a cluster without one), each holding the models
and their compiled functions (`build_pipeline`, once per actor). Chunks go to the actors through a
small pool over `ray.wait` (two in flight per actor, so an actor never waits for the driver).
An actor process that dies is restarted and its chunk retried by Ray (`max_restarts`,
`max_task_retries`); a chunk that fails with an error is reported and not retried (the error
would repeat). Why not Ray Data's `map_batches`: a chunk is a coarse unit whose output is files,
not rows; decoding stays next to the model (frames never travel through the object store); and the
driver needs each chunk's completion to write its marker — a plain actor pool gives exactly that.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

from jaxpose.batch.jobdir import JobDir
from jaxpose.batch.plan import Chunk, InputPlan
from jaxpose.batch.work import TEST_EXIT_ENV, run_chunk
from jaxpose.errors import JaxposeError, UsageError
from jaxpose.options.table import Options

MAX_RESTARTS = 3          # an actor process that dies is started again up to this many times
IN_FLIGHT_PER_ACTOR = 2
CONNECT_TIMEOUT_S = 5.0   # a --ray address that does not answer within this is an error


@dataclasses.dataclass(frozen=True)
class Task:
    plan: InputPlan
    chunk: Chunk
    seek: bool = True


class LocalBackend:
    """Chunks one after the other in this process, with the models loaded once."""

    name = "local"

    def __init__(self, options: Options, job: JobDir, progress: Any) -> None:
        from jaxpose.options.build import build_pipeline

        self.options, self.job, self.progress = options, job, progress
        self.pipeline = build_pipeline(vars(options))
        self.queue: collections.deque[Task] = collections.deque()
        self.workers = 1

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def pending(self) -> int:
        return len(self.queue)

    def next(self) -> tuple[Task, dict | BaseException]:
        task = self.queue.popleft()
        try:
            return task, run_chunk(task.plan, task.chunk, self.pipeline, self.options, self.job,
                                   seek=task.seek, progress=self.progress)
        except (JaxposeError, OSError) as error:
            return task, error
        except Exception as error:  # noqa: BLE001 - a bug in one chunk is reported, the job goes on
            return task, JaxposeError(f"internal error ({type(error).__name__}: {error}); please report it.")

    def shutdown(self) -> None:
        self.queue.clear()


class ChunkWorker:
    """The Ray actor: models built once, then `run` chunk after chunk."""

    def __init__(self, options: dict[str, Any], out: str) -> None:
        from jaxpose.options.build import build_pipeline

        self.options = Options(**options)
        self.job = JobDir(out)
        self.pipeline = build_pipeline(options)

    def run(self, task: Task) -> dict[str, Any]:
        return run_chunk(task.plan, task.chunk, self.pipeline, self.options, self.job, seek=task.seek)


def _probe_address(address: str) -> None:
    """Fail fast (UsageError naming the address) when nothing listens at host:port."""
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray {address}: not an address; use HOST:PORT (e.g. 10.0.0.5:6379), "
                         "ray://HOST:10001, auto, or --ray alone for a local cluster.")
    try:
        speaks_grpc = _answers_http2(host.strip("[]"), int(port), CONNECT_TIMEOUT_S)
    except OSError as error:
        reason = "timed out" if isinstance(error, socket.timeout) else (error.strerror or str(error))
        raise UsageError(f"--ray {address}: no Ray cluster answers there ({reason}); start one with "
                         "`ray start --head` or check the address.") from None
    if not speaks_grpc and not _ray_uses_tls():  # a TLS server answers a plaintext greeting otherwise
        raise UsageError(f"--ray {address}: something answers there, but not a Ray cluster (no "
                         "gRPC); check the port (the head's GCS port, 6379 by default).")


def _ray_uses_tls() -> bool:
    """Ray's own switch for TLS between its processes (then only a TCP connection is checked)."""
    return os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true", "yes")


# An HTTP/2 client preface and an empty SETTINGS frame (RFC 9113 §3.4, §6.5).
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _answers_http2(host: str, port: int, timeout: float) -> bool:
    """Whether host:port answers an HTTP/2 preface with the server's SETTINGS frame, as Ray's GCS
    and client servers (gRPC) do. Another service (a web server, Redis, SSH) answers otherwise or
    not at all; without this, `ray.init` keeps retrying such an address for minutes. OSError when
    nothing listens or nothing answers within `timeout` seconds."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.settimeout(timeout)
        conn.sendall(_HTTP2_PREFACE)
        head = b""
        while len(head) < 9:
            chunk = conn.recv(9 - len(head))
            if not chunk:
                break
            head += chunk
    return len(head) == 9 and head[3] == 4 and head[5:9] == bytes(4)  # type SETTINGS, stream 0


def _worker_env() -> dict[str, str]:
    """The driver's JAX settings (and the test hook), for the workers."""
    return {k: v for k, v in os.environ.items()
            if k == TEST_EXIT_ENV or k.startswith("JAX_") or k == "XLA_FLAGS"}


def _package_dir() -> str:
    import jaxpose

    return str(Path(jaxpose.__file__).parent)


def connect_ray(address: str | None) -> tuple[Any, bool, bool]:
    """Ray, connected to `address` (None or "local": a new local cluster; "auto": the running
    one); reuses a connection this process already has. Returns (ray, whether we started the
    cluster, whether we connected). When we connect, the workers get this jaxpose package
    (`py_modules`, so every node runs the driver's code) and the driver's JAX settings."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'jaxpose[ray]'.") from None
    if ray.is_initialized():
        return ray, False, False
    settings = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                    configure_logging=True,
                    runtime_env={"py_modules": [_package_dir()], "env_vars": _worker_env()})
    if address in (None, "", "local"):
        ray.init(**settings)
        return ray, True, True
    if address != "auto":
        _probe_address(address)
    try:
        ray.init(address=address, **settings)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UsageError(f"--ray {address}: cannot connect to a Ray cluster there ({first}).") from None
    return ray, False, True


class RayBackend:
    """Chunks on a pool of Ray actors (see the module docstring)."""

    progress_per_chunk = True

    def __init__(self, options: Options, job: JobDir, connection: tuple[Any, bool, bool],
                 address: str | None, workers: int) -> None:
        self.ray, self.started, connected = connection
        self.name = f"ray {address or 'local'}"
        ray = self.ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = workers or gpus or max(1, int(resources.get("CPU", 1)))
        extra = {}
        if not connected:  # a connection made by the caller: this package first on the workers' path
            path = os.pathsep.join(filter(None, [str(Path(_package_dir()).parent), os.environ.get("PYTHONPATH")]))
            extra["runtime_env"] = {"env_vars": {**_worker_env(), "PYTHONPATH": path}}
        actor_class = ray.remote(ChunkWorker).options(
            num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_restarts=MAX_RESTARTS,
            max_task_retries=MAX_RESTARTS, **extra)
        self.actors = [actor_class.remote(dict(vars(options)), str(job.out)) for _ in range(count)]
        self.workers = count
        self.queue: collections.deque[Task] = collections.deque()
        self.running: dict[Any, tuple[Any, Task]] = {}

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def pending(self) -> int:
        return len(self.queue) + len(self.running)

    def _fill(self) -> None:
        busy = collections.Counter(id(actor) for actor, _ in self.running.values())
        for _ in range(IN_FLIGHT_PER_ACTOR):
            for actor in self.actors:
                if self.queue and busy[id(actor)] < IN_FLIGHT_PER_ACTOR:
                    task = self.queue.popleft()
                    self.running[actor.run.remote(task)] = (actor, task)
                    busy[id(actor)] += 1

    def next(self) -> tuple[Task, dict | BaseException]:
        ray = self.ray
        if not self.actors:
            raise JaxposeError("every Ray worker died (see the errors above); rerun to resume.")
        self._fill()
        ready, _ = ray.wait(list(self.running), num_returns=1)
        actor, task = self.running.pop(ready[0])
        try:
            return task, ray.get(ready[0])
        except ray.exceptions.RayTaskError as error:
            cause = error.cause if isinstance(error.cause, BaseException) else error
            return task, cause if isinstance(cause, (JaxposeError, OSError)) else JaxposeError(
                f"internal error in a Ray worker ({type(cause).__name__}: {cause}); please report it.")
        except ray.exceptions.RayActorError as error:
            if actor in self.actors:
                self.actors.remove(actor)
            first = (str(error).strip().splitlines() or ["died"])[0]
            return task, JaxposeError(f"a Ray worker died more than {MAX_RESTARTS} times ({first}).")

    def shutdown(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - an actor already gone is fine
                pass
        self.actors = []
