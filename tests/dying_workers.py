"""Functions that worker processes run in the tests of worker death (tests/test_parallel.py).

They live in a module of their own, imported by its plain name (tests/ is on pytest's
``pythonpath``): worker processes import a function by the name of its module, and a test module
imported by pytest (importlib mode) has a name they cannot import.
"""

from __future__ import annotations

import os

from dftpost.analyses.gap import GapAnalysis, GapTask

#: the analysis of one run as imported (a test replaces GapAnalysis.work by analyse_or_die)
_analyse = GapAnalysis.work


def double_or_die(item):
    """2 × item; "die" ends the worker process as a crash would, "raise" raises."""
    if item == "die":
        os._exit(3)
    if item == "raise":
        raise ValueError("bad item")
    return 2 * item


def analyse_or_die(task: GapTask) -> dict:
    """The gap analysis of a run, except for a run named "die": its worker dies."""
    if task.run.name == "die":
        os._exit(3)
    return _analyse(task)
