"""Chunks on local worker processes, each pinned to its own share of this machine's CPU cores.

XLA:CPU runs one network on every core of its process, and on few cores it scales poorly
(benchmarks/RESULTS.md, "cpu_processes": one pinned process per core gives ~1.2x the frames/s of
one process on both cores of the 2-core machine). `jaxpose batch --cpu_workers N` therefore starts
N processes (`spawn`: JAX is not fork-safe), pins each to 1/N of the cores this process may use
(`os.sched_setaffinity`, before its first JAX computation, so XLA sizes its thread pool to them),
builds the models once per process, then runs the chunks the driver puts in its own inbox (at
most two at a time, so a worker never waits and the driver always knows what a worker holds).

Same contract as the other backends (`submit`, `pending`, `next`, `shutdown`): `next` hands back
`(task, report)` or `(task, error)` in the order chunks finish. A worker process that dies (killed,
out of memory) is replaced on the same cores and its chunks retried, up to `MAX_RESTARTS` times in
all, as Ray does for its actors; a chunk that fails with an error is reported, not retried. The
workers ignore Ctrl-C: the driver decides, and `shutdown` stops them (files are written atomically,
so a stopped worker leaves no half-written file); a driver that dies takes its workers with it
(Linux's parent-death signal), so none races a resumed run. Linux only (`sched_setaffinity`).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import dataclasses
import itertools
import multiprocessing
import os
import queue
import signal
from typing import Any

from jaxpose.batch.jobdir import JobDir
from jaxpose.errors import JaxposeError, UsageError
from jaxpose.jax_backend import usable_cores
from jaxpose.options.table import Options

MAX_RESTARTS = 3      # worker processes started again after dying, in all
IN_FLIGHT_PER_WORKER = 2  # chunks queued in a worker's inbox: it never waits for the driver
POLL_S = 0.5          # how often `next` looks for dead workers while it waits
STOP_WAIT_S = 5.0     # `shutdown`: how long a worker may take to stop before it is killed
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def pinnable_cores() -> list[int]:
    """The CPU cores this process may run on (`jax_backend.usable_cores`), to pin workers to
    (UsageError off Linux, which has no affinity to set)."""
    if not hasattr(os, "sched_setaffinity"):
        raise UsageError("--cpu_workers pins processes to cores with os.sched_setaffinity, which this "
                         "system lacks (Linux only); leave --cpu_workers out.")
    return usable_cores()


def core_sets(workers: int, cores: list[int]) -> list[list[int]]:
    """`cores` split into `workers` contiguous sets as equal as possible (the first ones get one
    more when it does not divide). UsageError when there are fewer cores than workers."""
    if workers > len(cores):
        raise UsageError(f"--cpu_workers {workers}: this process may use {len(cores)} CPU core(s); give "
                         f"at most {len(cores)} (one worker per core).")
    size, extra = divmod(len(cores), workers)
    sets, start = [], 0
    for index in range(workers):
        end = start + size + (index < extra)
        sets.append(cores[start:end])
        start = end
    return sets


@dataclasses.dataclass
class _Worker:
    cores: list[int]
    process: Any
    inbox: Any                     # its own task queue: the driver always knows what it runs
    task_ids: list[int] = dataclasses.field(default_factory=list)  # given, not reported yet


def _die_with_parent(parent: int) -> None:
    """Have Linux kill this process when the driver dies (even by SIGKILL), so that no worker
    outlives it and races a resumed run; exit at once if the driver is already gone."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _worker_main(index: int, cores: list[int], options: dict[str, Any], out: str,
                 inbox: Any, results: Any, parent: int) -> None:
    """A worker process: pin, build the models, then run tasks until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    os.sched_setaffinity(0, cores)
    from jaxpose.batch.backends import ChunkWorker

    try:
        worker, broken = ChunkWorker(options, out), None
    except (JaxposeError, OSError) as error:
        worker, broken = None, str(error)
    except Exception as error:  # noqa: BLE001 - reported per chunk, the driver goes on
        worker, broken = None, f"internal error ({type(error).__name__}: {error}); please report it."
    while True:
        item = inbox.get()
        if item is None:
            return
        task_id, task = item
        if broken is not None:
            results.put(("error", index, task_id, f"the worker could not start: {broken}"))
            continue
        try:
            report = worker.run(task)
        except (JaxposeError, OSError) as error:
            results.put(("error", index, task_id, str(error)))
        except Exception as error:  # noqa: BLE001 - a bug in one chunk is reported, the job goes on
            results.put(("error", index, task_id,
                         f"internal error ({type(error).__name__}: {error}); please report it."))
        else:
            results.put(("done", index, task_id, {**report, "cores": sorted(os.sched_getaffinity(0))}))


class ProcessBackend:
    """Chunks on `workers` local processes pinned to their own cores (see the module docstring)."""

    progress_per_chunk = True

    def __init__(self, options: Options, job: JobDir, workers: int) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.options, self.out = dict(vars(options)), str(job.out)
        self.results = self.context.Queue()
        self.workers = workers
        self.name = f"local, {workers} pinned processes"
        self.restarts = 0
        self.ids = itertools.count()
        self.queue: collections.deque[tuple[int, Any]] = collections.deque()
        self.waiting: dict[int, Any] = {}  # task id -> Task, submitted and not reported yet
        self.pool = [self._start(index, cores)
                     for index, cores in enumerate(core_sets(workers, pinnable_cores()))]

    def _start(self, index: int, cores: list[int]) -> _Worker:
        inbox = self.context.Queue()
        process = self.context.Process(target=_worker_main, name=f"jaxpose-batch-{index}", daemon=True,
                                       args=(index, cores, self.options, self.out, inbox, self.results,
                                             os.getpid()))
        process.start()
        return _Worker(cores, process, inbox)

    def submit(self, task: Any) -> None:
        task_id = next(self.ids)
        self.waiting[task_id] = task
        self.queue.append((task_id, task))

    def pending(self) -> int:
        return len(self.waiting)

    def _fill(self) -> None:
        for worker in self.pool:
            while self.queue and len(worker.task_ids) < IN_FLIGHT_PER_WORKER and worker.process.is_alive():
                task_id, task = self.queue.popleft()
                worker.task_ids.append(task_id)
                worker.inbox.put((task_id, task))

    def next(self) -> tuple[Any, dict | BaseException]:
        while True:
            self._fill()
            try:
                kind, index, task_id, payload = self.results.get(timeout=POLL_S)
            except queue.Empty:
                lost = self._replace_dead_workers()
                if lost is not None:
                    return lost
                continue
            if task_id in self.pool[index].task_ids:
                self.pool[index].task_ids.remove(task_id)
            if task_id not in self.waiting:  # a chunk retried after its first report (a worker died)
                continue
            task = self.waiting.pop(task_id)
            return task, payload if kind == "done" else JaxposeError(payload)

    def _replace_dead_workers(self) -> tuple[Any, BaseException] | None:
        """Start a dead worker again on its cores and give its chunk back to the queue; past
        MAX_RESTARTS, hand its chunk back with an error instead (None: nothing to report)."""
        for index, worker in enumerate(self.pool):
            if worker.process.is_alive():
                continue
            code, held = worker.process.exitcode, worker.task_ids
            worker.task_ids = []
            if self.restarts < MAX_RESTARTS:
                self.restarts += 1
                self.pool[index] = self._start(index, worker.cores)
                self.queue.extendleft((task_id, self.waiting[task_id]) for task_id in reversed(held))
            elif held:
                self.queue.extendleft((task_id, self.waiting[task_id]) for task_id in reversed(held[1:]))
                return self.waiting.pop(held[0]), JaxposeError(
                    f"a worker process died more than {MAX_RESTARTS} times (exit code {code}); "
                    "rerun the same command to resume.")
        if self.queue and not any(w.process.is_alive() for w in self.pool):
            task_id, task = self.queue.popleft()
            del self.waiting[task_id]
            return task, JaxposeError("every worker process died; rerun the same command to resume.")
        return None

    def shutdown(self) -> None:
        """Stop the workers: idle ones are told to finish, busy ones (an interrupted job) are
        terminated at once."""
        for worker in self.pool:
            if worker.task_ids and worker.process.is_alive():
                worker.process.terminate()
            else:
                worker.inbox.put(None)
        for worker in self.pool:
            worker.process.join(STOP_WAIT_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.inbox.cancel_join_thread()
        self.results.cancel_join_thread()
        self.pool, self.queue, self.waiting = [], collections.deque(), {}
