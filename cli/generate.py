"""``dftpost generate``: DFT run directories and job scripts for chosen frames of an MLIP trajectory."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from dftpost.errors import DftpostError

from .options import D_CUT, FRAMES, JSON, Q_O, R_OH_A, Code, number, reflow
from .render import fail, input_file, print_json, show, stdout, table, usage

_SELECT_HELP = (
    "Frames to run, among those --index picks (frame numbers count from 0 in the file): "
    "'all'; 'indices:0,5,9' (negative from the end); 'stride:N' (every N-th from the first); "
    "'dipole-extremes:N' (the N most negative and the N most positive μ_z); "
    "'dipole-quantiles:K' (the frames at the quantiles (k+½)/K of μ_z); "
    "'dipole-bins:K[:M]' (K equal-width μ_z bins, the M frames nearest each bin centre). "
    "μ_z is the fixed-charge total dipole per area (e/Å, --q-o)."
)


@reflow
def generate(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="MLIP trajectory, any format ASE reads (extxyz, ...)."),
    outdir: Path = typer.Argument(..., metavar="OUTDIR", help="Campaign folder to write: new, empty, or holding this same campaign."),
    code: Code = typer.Option(..., "--code", help="DFT program."),
    select: str = typer.Option("all", "--select", metavar="SELECTION", help=_SELECT_HELP),
    index: str = FRAMES,
    field: float = number(None, "--field", unit="V/Å", lo=-1, hi=1,
                          help="Also a run with a homogeneous field of this strength along +z: every frame a nofield/field pair."),
    d_cut: float = D_CUT,
    q_o: float = Q_O,
    min_vacuum: float = number(10.0, "--min-vacuum", unit="Å", lo=0, hi=200, help="Narrowest vacuum gap along z accepted."),
    layer_width: float = number(3.0, "--layer-width", unit="Å", lo=0.5, hi=20, help="Height of the water layer lists (z-resolved PDoS)."),
    xc: str = typer.Option("PBE", "--xc", metavar="NAME", help="Exchange-correlation functional (CP2K XC_FUNCTIONAL / FHI-aims xc)."),
    cutoff: float = number(400.0, "--cutoff", unit="Ry", lo=50, hi=5000, help="CP2K: plane-wave cutoff."),
    rel_cutoff: float = number(50.0, "--rel-cutoff", unit="Ry", lo=10, hi=1000, help="CP2K: REL_CUTOFF."),
    eps_scf: float = number(1e-6, "--eps-scf", lo=1e-12, hi=1e-3, metavar="NUMBER", help="CP2K: EPS_SCF."),
    mixing: str = typer.Option("auto", "--mixing", metavar="METHOD", help="CP2K: SCF mixing method; auto: DIRECT_P_MIXING without metal (BROYDEN_MIXING aborted on some water frames with the dipole correction), BROYDEN_MIXING (α 0.1, β 1.5) with metal."),
    cube_stride: int = number(2, "--cube-stride", lo=1, hi=10, metavar="N", help="CP2K: STRIDE of the V_HARTREE and density cubes."),
    project: str = typer.Option("frame", "--project", metavar="NAME", help="CP2K: project name (file names PROJECT.inp, PROJECT.out, ...)."),
    cp2k_version: str = typer.Option(None, "--cp2k-version", metavar="VERSION", help="CP2K: the release the inputs are for, e.g. 2023.1 or 2026.2 (2026.2 moved PDoS/LDOS under &PRINT%DOS); default: what cp2k.psmp --version reports, else the newest layout dftpost knows."),
    kind: list[str] = typer.Option([], "--kind", metavar="EL=BASIS,POTENTIAL", help="CP2K: EL=BASIS,POTENTIAL for one element (repeatable), e.g. Cu=DZVP-MOLOPT-SR-GTH,GTH-PBE-q11."),
    species_dir: Path = typer.Option(None, "--species-dir", metavar="DIR", help="FHI-aims: species defaults folder (…/defaults_2020 or …/defaults_2020/intermediate); default $AIMS_SPECIES_DIR."),
    basis: str = typer.Option("intermediate", "--basis", metavar="LEVEL", help="FHI-aims: species-default level (light, intermediate, tight, ...)."),
    k_grid: str = typer.Option(None, "--k-grid", metavar="N1,N2,N3", help="FHI-aims: k-grid N1,N2,N3 (default: 25 Å / cell length along x and y, 1 along z)."),
    smearing: float = number(0.01, "--smearing", unit="eV", lo=0, hi=1, lo_open=True, help="FHI-aims: Gaussian occupation smearing."),
    dft_command: str = typer.Option(None, "--dft-command", metavar="COMMAND", help="How the job scripts start the program (default: cp2k.psmp / aims.x, in SLURM srun ...)."),
    ntasks: int = number(32, "--ntasks", lo=1, hi=1_000_000, metavar="N", help="SLURM: MPI ranks per array task (one task per frame)."),
    time_limit: str = typer.Option("12:00:00", "--time", metavar="HH:MM:SS", help="SLURM: wall-time limit per task."),
    partition: str = typer.Option(None, "--partition", metavar="NAME", help="SLURM: partition."),
    account: str = typer.Option(None, "--account", metavar="NAME", help="SLURM: account."),
    wait: float = number(600.0, "--wait", unit="s", lo=0, hi=86400, help="dftpost gap --wait in each task."),
    as_json: bool = JSON,
) -> None:
    """DFT run directories, job scripts and a manifest for chosen frames of an MLIP trajectory.

    Each frame becomes a run directory (or a nofield/field pair with --field) with the inputs
    for CP2K or FHI-aims: PBE, dipole correction along z, projected DoS of the water (CP2K:
    LDOS lists of the water atoms beyond --d-cut and of water layers), Hartree potential and
    density cubes. The job scripts (run_all.sh, submit.slurm: a SLURM array, one task per
    frame) run the program where it has not ended normally, then dftpost gap into
    OUTDIR/results.h5. Nothing is written unless everything checks out (exit 1, one line naming
    the file or folder); 2 for usage errors.
    """
    from dftpost.inputs import AimsSettings, Cp2kSettings, JobSettings, generate_campaign, parse_selection
    from dftpost.inputs import cp2k as cp2k_inputs
    from dftpost.inputs.jobs import shell_word_list

    program = code.value
    input_file(trajectory, "a trajectory file")
    try:
        selection = parse_selection(select)
    except DftpostError as exc:
        usage(str(exc))
    kinds = []
    for item in kind:
        element, _, names = item.partition("=")
        parts = [p.strip() for p in names.split(",")]
        if not element.strip() or len(parts) != 2 or not all(parts):
            usage(f"--kind takes EL=BASIS,POTENTIAL, not {item}")
        kinds.append((element.strip(), parts[0], parts[1]))
    grid: tuple[int, int, int] | None = None
    if k_grid is not None:
        try:
            numbers = tuple(int(k) for k in k_grid.split(","))
        except ValueError:
            numbers = ()
        if len(numbers) != 3 or min(numbers) < 1:
            usage(f"--k-grid takes three positive integers N1,N2,N3, not {k_grid}")
        grid = (numbers[0], numbers[1], numbers[2])
    try:
        if program == "cp2k" and cp2k_version is None:
            cp2k_version = cp2k_inputs.installed_cp2k_version() or cp2k_inputs.NEWEST_CP2K_VERSION
        cp2k_settings = Cp2kSettings(project=project, xc=xc, kinds=tuple(kinds), cutoff_Ry=cutoff, rel_cutoff_Ry=rel_cutoff,
                                     eps_scf=eps_scf, mixing=mixing, cube_stride=cube_stride,
                                     cp2k_version=cp2k_version or cp2k_inputs.NEWEST_CP2K_VERSION)
        aims_settings = AimsSettings(xc=xc.lower(), basis=basis, k_grid=grid, occupation=("gaussian", smearing))
        if dft_command is not None:
            shell_word_list(dft_command, "--dft-command")
    except DftpostError as exc:
        usage(str(exc))
    try:
        campaign = generate_campaign(
            trajectory,
            outdir,
            program,
            selection,
            index,
            field,
            d_cut,
            q_o,
            R_OH_A,
            min_vacuum,
            layer_width,
            cp2k=cp2k_settings,
            aims=aims_settings,
            species_dir=species_dir,
            jobs=JobSettings(dft_command=dft_command, ntasks=ntasks, time=time_limit, partition=partition, account=account,
                             wait_s=wait),
            command=["dftpost", *sys.argv[1:]],
        )
    except DftpostError as exc:
        fail(exc)
    except OSError as exc:
        fail(DftpostError(exc.filename or outdir, exc.strerror or str(exc)))
    frames = campaign.manifest["frames"]
    if as_json:
        data = {
            "outdir": str(campaign.directory),
            "code": program,
            "existing": campaign.existing,
            "n_frames": len(frames),
            "n_runs": sum(len(f["runs"]) for f in frames),
            "frames": [{"index": f["index"], "dipole_e_per_A": f["dipole_e_per_A"], "reason": f["reason"],
                        "runs": [r["dir"] for r in f["runs"]]} for f in frames],
        }
        if program == "cp2k":
            data["cp2k_version"] = cp2k_settings.cp2k_version
        print_json(data)
        return
    if campaign.existing:
        stdout.print(f"{campaign.directory} already holds this campaign: nothing written", soft_wrap=True)
        return
    frames_table = table("run directories", "frame", "μ_z (e/Å)", "why")
    for f in frames:
        frames_table.add_row(" ".join(r["dir"] for r in f["runs"]), str(f["index"]), f"{f['dipole_e_per_A']:+.5f}", f["reason"])
    frames_table.columns[3].justify = "left"
    show(f"{len(frames)} frame(s) → {campaign.directory}", frames_table)
    if program == "cp2k":
        stdout.print(cp2k_inputs.layout_note(cp2k_settings), soft_wrap=True)
    stdout.print(f"run: bash {campaign.directory / 'run_all.sh'}  or  sbatch {campaign.directory / 'submit.slurm'}", soft_wrap=True)
