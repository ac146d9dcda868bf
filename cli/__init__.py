"""The ``dftpost`` command line (installed as :mod:`dftpost.cli`)."""
