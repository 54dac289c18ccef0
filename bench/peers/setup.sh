#!/usr/bin/env bash
# Create (idempotently) a separate virtualenv holding the peer systems
# (PyFlink = apache-flink 2.x, Bytewax) so that their pins (old numpy/pyarrow)
# never touch the project's own environment.
#
#   bash bench/peers/setup.sh          # creates/updates the venv, prints its path
#   RAYFLINK_PEERS_VENV=/some/dir bash bench/peers/setup.sh
set -euo pipefail

VENV="${RAYFLINK_PEERS_VENV:-$HOME/.cache/rayflink-peers}"
PY="${PYTHON:-python3}"
FLINK_SPEC="${RAYFLINK_PEERS_FLINK_SPEC:-apache-flink>=2.0,<3}"
BYTEWAX_SPEC="${RAYFLINK_PEERS_BYTEWAX_SPEC:-bytewax}"

if ! command -v java >/dev/null 2>&1; then
    echo "setup.sh: WARNING: no 'java' on PATH; PyFlink needs Java 11/17 (apt-get install openjdk-17-jre-headless)" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
fi

# Only (re)install when something is missing: keeps repeated runs fast.
if ! "$VENV/bin/python" - <<'PYEOF' >/dev/null 2>&1
import importlib.metadata as md, sys
v = md.version("apache-flink")
assert int(v.split(".")[0]) >= 2, v
md.version("bytewax")
md.version("psutil")
import pyflink.datastream, bytewax.dataflow, psutil
PYEOF
then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "$FLINK_SPEC" "$BYTEWAX_SPEC" psutil
fi

"$VENV/bin/python" - <<'PYEOF' >&2
import importlib.metadata as md
for p in ("apache-flink", "bytewax", "psutil", "numpy", "pyarrow"):
    try:
        print(f"  {p}=={md.version(p)}")
    except md.PackageNotFoundError:
        print(f"  {p}: not installed")
PYEOF
echo "peers venv: $VENV"
