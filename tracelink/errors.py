"""The configuration error every part reports the same way (stdlib only: services import it).

The CLI prints ``str(err)`` as one line and exits 2; ``logging_ext`` raises it as a
``ValueError``. Secret values never appear in it.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """Invalid configuration; ``str(err)`` is one line that names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem
