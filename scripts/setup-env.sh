#!/bin/sh
# The one way to install Fawkes Analytics into a virtual environment (used by `make setup`
# and by deploy/Dockerfile, so dependencies live only in pyproject.toml).
#
#   scripts/setup-env.sh <venv-dir> [extras]        e.g. scripts/setup-env.sh .venv dev
#
# - creates the venv with $PYTHON (default python3) if it does not exist yet;
# - installs the project from the repository root: editable by default, a regular install
#   when FAWKES_INSTALL_MODE=wheel (the container image: no source checkout needed at run time);
# - registers the Jupyter kernel "fawkes-analytics" inside the venv (--sys-prefix), which the
#   report and dashboard notebooks name in their metadata.
#
# Extra pip options (an index mirror, --no-cache-dir in images) go in FAWKES_PIP_ARGS.
set -eu

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    echo "usage: $0 <venv-dir> [extras, e.g. dev or spark,dev]" >&2
    exit 64
fi

venv=$1
extras=${2:-}
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
python=${PYTHON:-python3}
mode=${FAWKES_INSTALL_MODE:-editable}
pip_args=${FAWKES_PIP_ARGS:-}

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-env: creating virtual environment $venv with $python"
    "$python" -m venv "$venv"
fi

target="$root"
if [ -n "$extras" ]; then
    target="${root}[${extras}]"
fi

# shellcheck disable=SC2086  # pip_args is a list of options on purpose
case "$mode" in
    editable) "$venv/bin/python" -m pip install $pip_args -e "$target" ;;
    wheel) "$venv/bin/python" -m pip install $pip_args "$target" ;;
    *)
        echo "setup-env: FAWKES_INSTALL_MODE must be 'editable' or 'wheel', not '$mode'" >&2
        exit 64
        ;;
esac

"$venv/bin/python" -m ipykernel install --sys-prefix --name fawkes-analytics --display-name "Fawkes Analytics"
echo "setup-env: installed fawkes-analytics ($mode${extras:+, extras: $extras}) into $venv"
