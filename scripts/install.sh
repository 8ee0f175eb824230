#!/usr/bin/env bash
# Installs everything the stack needs into ./.venv (idempotent; re-running is fast).
#   bash scripts/install.sh            runtime + model + hardware APIs
#   bash scripts/install.sh --test     ... plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

# System libraries: libusb for pyrealsense2, hidapi for pyspacemouse, Mesa EGL for MuJoCo's offscreen rendering.
if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  missing=()
  for p in libusb-1.0-0 libhidapi-hidraw0 libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "[install] apt: ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "[install] warning: apt-get failed; RealSense and/or rendering may not work"
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "[install] creating .venv"
  "$PY" -m venv .venv
  # A distribution's python (Debian's 3.11: pip 23.0) falls back to the legacy `setup.py
  # develop` for editable installs, which today's setuptools refuses for our ament setup.cfg.
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip wheel 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
fi
reqs=(requirements/ros.txt requirements/core.txt requirements/model.txt requirements/hardware.txt)
((want_test)) && reqs+=(requirements/test.txt)
stamp=.venv/.fdvla-installed
sig=$(cat "${reqs[@]}" src/*/setup.py | sha256sum | cut -c1-16)
if [[ -f $stamp ]] && grep -qx "$sig" "$stamp"; then
  echo "[install] .venv up to date"
  exit 0
fi
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
echo "[install] pip: ${reqs[*]} (a few minutes the first time)"
.venv/bin/python -m pip install -q --disable-pip-version-check "${args[@]}" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
.venv/bin/python -m pip install -q --disable-pip-version-check "${args[@]}" >/dev/null  # fail loudly
# Our packages, editable, without dependencies (pins above are the single source of truth).
editable=(-e src/fdvla_msgs -e src/fdvla_drivers -e src/fdvla_model -e src/fdvla_policy_node -e src/fdvla_teleop -e src/fdvla)
if ! .venv/bin/python -m pip install -q --no-deps --no-build-isolation \
    --config-settings editable_mode=compat "${editable[@]}" > .venv/.fdvla-editable.log 2>&1; then
  grep -v "is ignored: it is neither a file nor a directory" .venv/.fdvla-editable.log >&2
  echo "[install] failed: this repository's packages did not install (above)" >&2
  exit 1
fi
echo "$sig" > "$stamp"
echo "[install] done: $ROOT/.venv"
