"""Exit codes of the `tft-ser` command (docs/APPLICATIONS.md)."""

EXIT_OK = 0  # every input was processed
EXIT_FAILED_INPUTS = 1  # some inputs failed (listed on stderr); the others were processed
EXIT_USAGE = 2  # bad options or a model that cannot be loaded: nothing was processed
