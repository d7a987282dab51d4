#!/bin/sh
# Installs the image's environment into the Python given. The Dockerfile runs it, and so does
# tests/test_deploy.py, into a fresh venv.
#   deploy/install-image.sh deps PYTHON SRC     the pinned requirements (a layer of their own)
#   deploy/install-image.sh project PYTHON SRC  aerdask itself, the dask-scheduler/dask-worker
#                                               commands, Dask's settings and the constraints
set -eu
step=$1
python=$2
src=$3
case "$step" in
deps)
  "$python" -m pip install --quiet -r "$src/deploy/requirements.txt"
  ;;
project)
  "$python" -m pip install --quiet --no-deps "$src"
  prefix=$("$python" -c 'import sys; print(sys.prefix)')
  bin=$(dirname "$("$python" -c 'import sys; print(sys.executable)')")
  # The dask Helm chart and dask-gateway run dask-scheduler and dask-worker, which distributed
  # (2024.x and later) no longer installs: both start `dask scheduler` / `dask worker`.
  for role in scheduler worker; do
    printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$bin/dask" "$role" >"$bin/dask-$role"
    chmod 755 "$bin/dask-$role"
  done
  mkdir -p "$prefix/etc/dask" "$prefix/share/aerdask"
  cp "$src/deploy/dask.yaml" "$prefix/etc/dask/aerdask.yaml"
  cp "$src/deploy/requirements.txt" "$prefix/share/aerdask/constraints.txt"
  ;;
*)
  echo "usage: $0 deps|project PYTHON SRC" >&2
  exit 2
  ;;
esac
