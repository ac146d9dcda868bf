"""Job scripts of a campaign: one task per frame, run by a SLURM array or one after the other.

Files written at the top of the campaign folder:

``tasks.txt``     one line per frame (task i is line i + 1): its run directories, relative
``run_task.sh``   one task: each run of the frame is skipped when its log says the program
                  ended normally (CP2K: ``PROGRAM ENDED AT``; FHI-aims: ``Have a nice day``),
                  else the program runs in it (a previous log is kept as ``<log>.previous``);
                  then ``dftpost gap`` stores the frame's runs in the campaign's HDF5 file with
                  ``--wait`` (tasks ending together take turns at the file) and the gap
                  parameters of the generation; a field pair is also given to ``dftpost
                  field-profile`` (into the frame's own ``field_profile.h5`` and ``.json``, once)
``run_all.sh``    every task in turn on this machine (re-running skips what is finished)
``submit.slurm``  the SLURM array over the tasks (``sbatch submit.slurm``)

``run_task.sh`` reads ``DFT_CMD`` (how to start the program, e.g. ``srun cp2k.psmp`` or
``mpirun -np 8 aims.x``), ``DFTPOST`` (the dftpost command) and ``RESULTS`` (the HDF5 file)
from the environment, with the defaults given at generation. Exit status 0 when every run ended
normally and was stored without error, else 1.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import DftpostError

#: What each program's log says when the run ended normally, and its log and input names.
FINISHED = {"cp2k": "PROGRAM ENDED AT", "aims": "Have a nice day"}


@dataclass(frozen=True)
class JobSettings:
    """Settings of the job scripts. ``dft_command`` None: ``cp2k.psmp`` / ``aims.x`` in
    ``run_all.sh`` and ``srun cp2k.psmp`` / ``srun aims.x`` in the SLURM array; ``ntasks``
    MPI ranks per array task, ``time`` its wall-time limit; ``wait_s`` is ``dftpost gap
    --wait``."""

    dft_command: str | None = None
    ntasks: int = 32
    cpus_per_task: int = 1
    time: str = "12:00:00"
    partition: str | None = None
    account: str | None = None
    wait_s: float = 600.0
    dftpost_command: str = "dftpost"

    def as_dict(self) -> dict:
        return asdict(self)


def _program(code: str) -> str:
    return {"cp2k": "cp2k.psmp", "aims": "aims.x"}[code]


def shell_word_list(command: str, what: str) -> str:
    """A command for ``${VAR:-command}`` in a bash script: words without quotes or expansions
    (checked; raises :class:`DftpostError`)."""
    if not command.strip() or any(c in command for c in "\"'`$\\{}\n;&|<>"):
        raise DftpostError(None, f"{what} {command!r} must be plain words (no quotes, $, ;, |, &, <, >, braces)")
    return " ".join(command.split())


def gap_options(d_cut_A: float, q_o_e: float, wait_s: float) -> list[str]:
    """The options of ``dftpost gap`` in every task: the generation's d_cut and q_O, one
    worker, ``--wait``."""
    return ["--d-cut", repr(float(d_cut_A)), "--q-o", repr(float(q_o_e)), "--workers", "1", "--wait", f"{wait_s:g}"]


def run_task_script(code: str, input_name: str, log_name: str, settings: JobSettings, gap_opts: list[str], name: str,
                    program_note: str = "") -> str:
    """The text of ``run_task.sh`` (bash); ``program_note`` (one line, e.g. the CP2K release the
    inputs are for) is stated in its header."""
    program = shell_word_list(settings.dft_command or _program(code), "the DFT command")
    dftpost = shell_word_list(settings.dftpost_command, "the dftpost command")
    finished = FINISHED[code]
    if code == "cp2k":
        start = f'$DFT_CMD -i {shlex.quote(input_name)} -o {shlex.quote(log_name)} > dft.console 2>&1'
    else:
        start = f"$DFT_CMD > {shlex.quote(log_name)} 2> dft.console"
    gap = " ".join(shlex.quote(o) for o in gap_opts)
    note = f"# The {program_note}.\n" if program_note else ""
    return f"""#!/usr/bin/env bash
# One task of the dftpost campaign {name} (written by dftpost generate): the DFT runs of one
# frame (line TASK+1 of tasks.txt), each skipped when its log says the program ended normally,
# then dftpost gap on them into the campaign's HDF5 file.
{note}#   bash run_task.sh TASK        TASK counts from 0 (default: $SLURM_ARRAY_TASK_ID)
# Environment: DFT_CMD starts the program in a run directory (default: {program}),
# DFTPOST the dftpost command, RESULTS the HDF5 file (default: results.h5 of the campaign).
set -uo pipefail
CAMPAIGN="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
TASK="${{1:-${{SLURM_ARRAY_TASK_ID:-}}}}"
if [ -z "$TASK" ]; then echo "usage: run_task.sh TASK (0-based line of tasks.txt)" >&2; exit 2; fi
DFT_CMD="${{DFT_CMD:-{program}}}"
DFTPOST="${{DFTPOST:-{dftpost}}}"
RESULTS="${{RESULTS:-$CAMPAIGN/results.h5}}"
LINE="$(sed -n "$((TASK + 1))p" "$CAMPAIGN/tasks.txt")"
if [ -z "$LINE" ]; then echo "run_task.sh: no task $TASK in $CAMPAIGN/tasks.txt" >&2; exit 2; fi
read -r -a RUNS <<< "$LINE"
status=0
for RUN in "${{RUNS[@]}}"; do
  cd "$CAMPAIGN/$RUN" || {{ status=1; continue; }}
  if grep -qs {shlex.quote(finished)} {shlex.quote(log_name)}; then
    echo "$RUN: ended normally before, not run again"
    continue
  fi
  if [ -e {shlex.quote(log_name)} ]; then mv -f {shlex.quote(log_name)} {shlex.quote(log_name + ".previous")}; fi
  echo "$RUN: $DFT_CMD ($(date))"
  {start}
  if ! grep -qs {shlex.quote(finished)} {shlex.quote(log_name)}; then
    echo "$RUN: the program did not end normally (see {log_name} and dft.console)" >&2
    status=1
  fi
done
cd "$CAMPAIGN"
# every run of the frame, ended or not: a failed run is stored as an error row
$DFTPOST gap "${{RUNS[@]/#/$CAMPAIGN/}}" --out "$RESULTS" {gap} || status=1
if [ "${{#RUNS[@]}}" -eq 2 ] && [ ! -e "$CAMPAIGN/$(dirname "${{RUNS[0]}}")/field_profile.json" ]; then
  FRAME="$CAMPAIGN/$(dirname "${{RUNS[0]}}")"
  if $DFTPOST field-profile "$CAMPAIGN/${{RUNS[0]}}" "$CAMPAIGN/${{RUNS[1]}}" --out "$FRAME/field_profile.h5" --json > "$FRAME/field_profile.json.part"; then
    mv -f "$FRAME/field_profile.json.part" "$FRAME/field_profile.json"
  else
    rm -f "$FRAME/field_profile.json.part"
    status=1
  fi
fi
exit $status
"""


def run_all_script(name: str) -> str:
    """The text of ``run_all.sh``: every task in turn."""
    return f"""#!/usr/bin/env bash
# Every task of the dftpost campaign {name}, one after the other, on this machine (what
# submit.slurm does as a SLURM array). Re-running skips the runs that ended normally.
# The environment of run_task.sh applies (DFT_CMD, DFTPOST, RESULTS).
set -uo pipefail
CAMPAIGN="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
N="$(grep -c . "$CAMPAIGN/tasks.txt")"
status=0
for ((i = 0; i < N; i++)); do
  bash "$CAMPAIGN/run_task.sh" "$i" || status=1
done
exit $status
"""


def slurm_script(code: str, campaign: Path, n_tasks: int, settings: JobSettings, name: str) -> str:
    """The text of ``submit.slurm``: a SLURM array of ``n_tasks`` tasks (one per frame)."""
    where = shlex.quote(str(campaign))
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --array=0-{n_tasks - 1}",
        f"#SBATCH --ntasks={settings.ntasks}",
        f"#SBATCH --cpus-per-task={settings.cpus_per_task}",
        f"#SBATCH --time={settings.time}",
        f"#SBATCH --output={campaign}/logs/%x_%A_%a.joblog",
    ]
    if settings.partition:
        lines.append(f"#SBATCH --partition={settings.partition}")
    if settings.account:
        lines.append(f"#SBATCH --account={settings.account}")
    program = shell_word_list(settings.dft_command or f"srun {_program(code)}", "the DFT command")
    lines += [
        f"# dftpost campaign {name}: one array task per frame (tasks.txt), see run_task.sh.",
        f"# Submit with: sbatch {where}/submit.slurm   (re-submitting skips the runs that ended)",
        "# Edit the #SBATCH lines for your machine (modules, partition, account, ranks).",
        "export OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
        f"export DFT_CMD=\"${{DFT_CMD:-{program}}}\"",
        f"exec bash {where}/run_task.sh \"$SLURM_ARRAY_TASK_ID\"",
    ]
    return "\n".join(lines) + "\n"


def write_job_scripts(
    directory: Path,
    final_directory: Path,
    code: str,
    tasks: list[list[str]],
    input_name: str,
    log_name: str,
    settings: JobSettings,
    gap_opts: list[str],
    name: str,
    program_note: str = "",
) -> list[str]:
    """Write ``tasks.txt``, ``run_task.sh``, ``run_all.sh``, ``submit.slurm`` and ``logs/``
    into ``directory`` (the campaign being written, to be renamed to ``final_directory``, whose
    absolute path the SLURM script holds). Returns the names written."""
    (directory / "logs").mkdir()
    (directory / "tasks.txt").write_text("".join(" ".join(runs) + "\n" for runs in tasks))
    scripts = {
        "run_task.sh": run_task_script(code, input_name, log_name, settings, gap_opts, name, program_note),
        "run_all.sh": run_all_script(name),
        "submit.slurm": slurm_script(code, final_directory, len(tasks), settings, name),
    }
    for file_name, text in scripts.items():
        path = directory / file_name
        path.write_text(text)
        path.chmod(0o755)
    return ["tasks.txt", *scripts, "logs/"]
