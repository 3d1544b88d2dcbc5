"""Exit codes of the `tft-ser` command, and the errors that end it with one (docs/APPLICATIONS.md)."""

EXIT_OK = 0  # every input was processed
EXIT_FAILED_INPUTS = 1  # some inputs failed (each listed on stderr with its reason); the others were processed
EXIT_USAGE = 2  # bad options, a missing model or nothing to process: nothing was processed
EXIT_BAD_MODEL = 3  # the model's files are broken (unreadable weights, NaN/Inf weights or scores)


class UsageError(ValueError):
    """Bad options or a model that is not there: nothing was processed (`EXIT_USAGE`)."""


class ModelError(RuntimeError):
    """The model's files are broken: unreadable, or NaN/Inf in its weights or scores (`EXIT_BAD_MODEL`)."""


def first_line(error: BaseException) -> str:
    """An error's message cut to its first line, for the one-line reports of the command."""
    return (str(error).strip().splitlines() or [""])[0]
