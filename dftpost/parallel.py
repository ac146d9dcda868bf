"""The former name of :mod:`dftpost.backends`: importing ``dftpost.parallel`` gives that module
itself (the same object, so what is set on one is seen by the other)."""

import sys

from . import backends

sys.modules[__name__] = backends
