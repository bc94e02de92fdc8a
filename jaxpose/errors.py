"""The errors jaxpose raises for bad input. Each message names the problem and the fix."""


class JaxposeError(Exception):
    """Base class: a problem with the user's input, files or settings (not a bug)."""


class ModelFileError(JaxposeError):
    """A model or weights file is missing, truncated, corrupt or of the wrong model."""


class ConversionError(ModelFileError):
    """Original weights do not fit the network (missing/extra layers, shape mismatches)."""


class FetchError(JaxposeError):
    """A default model could not be downloaded or verified."""


class InputError(JaxposeError):
    """An image, video, camera or argument cannot be used."""


class UsageError(JaxposeError):
    """Bad options: unknown flag, missing or malformed value, inconsistent flags (CLI exit code 2)."""


class BackendError(JaxposeError):
    """JAX could not start the device backend it was asked for (e.g. `JAX_PLATFORMS` names a
    platform that is not installed)."""
