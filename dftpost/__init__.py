"""dftpost: water band edges, false metallization and field response from FHI-aims and CP2K.

The API in a notebook::

    from dftpost.io.rundir import read_run
    run = read_run("frame_0042/")          # a Run: code, structure, Fermi level, PDoS, cubes ...
    water = run.pdos.on_grid(sigma_eV=0.1)  # CP2K eigenvalues broadened onto an energy grid

Units everywhere: eV, Å, e, e·Å, V, V/Å, e/Å³ (see :mod:`dftpost.units`).
"""

__version__ = "0.1.0"
