"""The batch job: many inputs (a manifest), cut into chunks of frames, run locally or on Ray,
resumable and exactly once (`jaxpose batch MANIFEST --out DIR`). Depends on the stream, options
and io rooms; nothing imports it."""

from jaxpose.batch.job import run_job
from jaxpose.batch.manifest import Input, read_manifest
from jaxpose.batch.plan import Chunk, InputPlan, chunk_ranges

__all__ = ["Chunk", "Input", "InputPlan", "chunk_ranges", "read_manifest", "run_job"]
