#!/bin/bash
# Draws the figures committed in docs/figures/ (shown in the README) from the CP2K fixtures, with
# the README's commands, in a scratch folder: bash docs/make_figures.sh (from the repository).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
dftpost gap "$repo/fixtures/cp2k" --out results.h5
dftpost field-profile "$repo/fixtures/cp2k/water4_slab/nofield" "$repo/fixtures/cp2k/water4_slab/field" --out results.h5
dftpost plot results.h5 pdos-map band-edges field-response --out "$repo/docs/figures"
