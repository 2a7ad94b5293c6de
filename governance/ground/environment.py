"""The installed environment: interpreter, platform and every distribution's version.

One reader for the two records that name it: a training run's environment
(tasks/model/tracking.py, MLflow) and an evidence pack's ``environment.json``
(governance/evidence/pack.py). Read once per process (parsing every distribution's
metadata costs about 0.35 s); the code a process runs was imported from these versions.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import sys


@functools.cache
def _distributions() -> tuple[tuple[str, str], ...]:
    found = {}
    for d in importlib.metadata.distributions():
        name = d.metadata["Name"]
        if name:
            found[name] = d.version
    return tuple(sorted(found.items(), key=lambda kv: kv[0].lower()))


def distributions() -> dict[str, str]:
    """``{name as published: version}`` of every installed distribution, a fresh copy."""
    return dict(_distributions())


def interpreter() -> dict[str, str]:
    """The interpreter's full version string, implementation and platform."""
    return {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
