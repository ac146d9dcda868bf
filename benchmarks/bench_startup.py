"""Start-up of the command line: ``dftpost --help`` and ``dftpost inspect`` on one CP2K .pdos file.

Each command runs as a fresh process (``python -c "from dftpost.cli.main import run; run()"``,
what the ``dftpost`` script does), in turns with the bare interpreter and ``import numpy`` (the
floor: every reader needs numpy) and ``import numpy, typer, rich.table`` (the libraries
``inspect`` prints its table with: what is left above it is dftpost's own). Goal: both commands under 0.25 s (median).

``--compare DIR`` adds the same commands run from another source tree (e.g. an older commit:
``git archive COMMIT dftpost cli | tar -x -C DIR && ln -s ../cli DIR/dftpost/cli``, then
``python -m compileall -q DIR`` as an install does: a tree without bytecode compiles on every start).
``--python PYTHON`` adds them run by another interpreter (e.g. a virtual environment with
another typer), labelled with that environment's typer version.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from _common import HERE, interleaved, machine, print_table, write_json

PDOS = HERE.parent / "fixtures/cp2k/water4_slab/field/water4-k1-1.pdos"
# what the dftpost script runs (``run``; ``app`` in a tree from before it)
CLI = ("import sys; from dftpost.cli import main; sys.argv[0] = 'dftpost'; "
       "(main.run if hasattr(main, 'run') else main.app)()")
GOAL_S = 0.25


def command(args: list[str], pythonpath: str | None = None, python: str = sys.executable):
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    # cwd outside the source tree: Python puts the working directory first on sys.path.
    return lambda: subprocess.run([python, *args], env=env, cwd="/", check=True, stdout=subprocess.DEVNULL)


def typer_version(python: str) -> str:
    return subprocess.run([python, "-c", "import typer; print(typer.__version__)"], capture_output=True, text=True,
                          check=True, cwd="/").stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--compare", type=Path, help="another source tree of dftpost, timed in the same turns")
    parser.add_argument("--python", help="another interpreter (with dftpost installed), timed in the same turns")
    args = parser.parse_args()
    contenders = {
        "python -c pass": command(["-c", "pass"]),
        "python -c 'import numpy'": command(["-c", "import numpy"]),
        "python -c 'import numpy, typer, rich.table'": command(["-c", "import numpy, typer, rich.console, rich.table"]),
        "dftpost --help": command(["-c", CLI, "--help"]),
        "dftpost inspect FILE.pdos": command(["-c", CLI, "inspect", str(PDOS)]),
    }
    if args.compare is not None:
        tree = str(args.compare.resolve())
        contenders["dftpost --help (compared tree)"] = command(["-c", CLI, "--help"], tree)
        contenders["dftpost inspect FILE.pdos (compared tree)"] = command(["-c", CLI, "inspect", str(PDOS)], tree)
    if args.python is not None:
        label = f"typer {typer_version(args.python)}"
        contenders[f"dftpost --help ({label})"] = command(["-c", CLI, "--help"], python=args.python)
        contenders[f"dftpost inspect FILE.pdos ({label})"] = command(["-c", CLI, "inspect", str(PDOS)], python=args.python)
    result = interleaved(contenders, args.repeats, reference="python -c 'import numpy'")
    print_table("start-up, one process per call (ratios to `import numpy`)", result)
    for name in ("dftpost --help", "dftpost inspect FILE.pdos"):
        median = result["contenders"][name]["median_s"]
        print(f"  {name}: median {median:.3f} s, goal < {GOAL_S} s: {'met' if median < GOAL_S else 'NOT met'}")
    result["goal_s"] = GOAL_S
    result["machine"] = machine(["numpy", "ase", "typer", "rich"])
    if args.python is not None:
        result["compared_python"] = {"python": args.python, "typer": typer_version(args.python)}
    print("written", write_json("startup.json", result))


if __name__ == "__main__":
    main()
