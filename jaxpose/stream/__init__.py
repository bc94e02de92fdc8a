"""The streaming engine shared by the `jaxpose` command, `PoseEstimator.stream` and the batch job."""

from jaxpose.stream.engine import Result, Stage, run_stream

__all__ = ["Result", "Stage", "run_stream"]
