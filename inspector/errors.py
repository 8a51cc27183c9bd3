"""The one exception family of inspector.

Every error a user can cause (a bad file, a bad config, a misbehaving peer) is an
`InspectorError`: the CLI prints its message on one line and exits non-zero.
"""

__all__ = [
    "ConfigError",
    "DataError",
    "InspectorError",
    "ModelError",
    "ModelOutputError",
    "OutputExistsError",
]


class InspectorError(Exception):
    """Base of every error inspector raises on purpose."""

    exit_code = 1


class ConfigError(InspectorError):
    """A configuration or command-line value is invalid; `problems` lists every one."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class DataError(InspectorError):
    """A dataset, image, mask, video or label file is missing or malformed."""


class ModelError(InspectorError):
    """A model file is missing, unreadable, or of an unknown layout."""


class ModelOutputError(ModelError):
    """A model gave output it never should: NaN or infinite scores or boxes, or a class
    id outside its classes. The part is rejected and the MODEL fault raised."""


class OutputExistsError(InspectorError):
    """An output already exists and --force was not given."""
