"""The defaults of dftpost's analyses, in one module that imports nothing: the analyses and the
command line (whose ``--help`` must not load numpy) read them from here. Units in the names.

Most are choices of dftpost, the paper's own numbers having been lost from its text; each is
stored with every result it produced.
"""

#: Oxygen charge of the fixed-charge dipole, e (q_H = −q_O/2): the value the paper's authors use
#: for revPBE-D3 water (ml-peg).
Q_O_E = -0.5562
#: O–H bond cut-off, Å (O–H bonds are ~1.0 Å, hydrogen bonds ~1.8 Å).
R_OH_A = 1.2
#: |μ_DFT| at or above which a frame is left out of the charge fit, e/Å: 80 % of the 0.025 e/Å
#: that closes a 4.5 eV gap (ΔV = μ/ε0).
MAX_DIPOLE_E_PER_A = 0.02
#: Width of the Gaussian charges of the potential proxy, Å (the paper gives none).
SIGMA_A = 1.0
#: Largest error wanted on the potential of an atom, V.
TOLERANCE_V = 1e-6
#: Gaussian width (standard deviation) broadening discrete eigenvalues, eV: wider than the grid
#: spacing, so the broadened DoS is smooth on the grid.
DOS_SIGMA_EV = 0.1
#: Grid spacing of a broadened DoS, eV: finer than the paper's 1001 points over 25 eV.
DOS_SPACING_EV = 0.02
#: The band-edge search (:class:`dftpost.analysis.bandedges.BandEdgeParameters`): water closer
#: than D_CUT_A to the substrate is left out, Å; threshold T per water atom, states/eV; first
#: scan offset s and second-scan separation δ, eV.
D_CUT_A = 3.5
THRESHOLD = 0.01
THRESHOLD_MODE = "per_atom"
START_OFFSET_EV = 1.0
SEPARATION_EV = 0.5
