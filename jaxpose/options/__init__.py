"""Options -> models -> pose function, in one room: the table of OpenPose-style options
(`table`), their consistency rules (`check`) and `build_pipeline` (`build`). The `jaxpose`
command, the `OpenPose` class, `PoseEstimator` and the batch job all go through here."""

from jaxpose.options.build import Pipeline, build_pipeline, canonical_model_pose, options_from_params
from jaxpose.options.check import check_options
from jaxpose.options.table import FLAGS, Options, defaults

__all__ = ["FLAGS", "Options", "Pipeline", "build_pipeline", "canonical_model_pose",
           "check_options", "defaults", "options_from_params"]
