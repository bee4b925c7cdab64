#!/usr/bin/env bash
# Idempotent local setup: .venv/ (Python 3.11) with torch (CPU), the ROS 2 Jazzy wheels and this package
# (editable, with its training and dev extras). A second run only checks a stamp and returns.
# Real robots use their apt ROS 2 install instead (see README "Install on a machine with ROS 2").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/env.sh
venv="$root/.venv"
stamp="$venv/.geodistill-setup"
want="$(cat setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null || { echo "setup: $py not found (Python 3.11 is required)" >&2; exit 1; }
start=$(date +%s)
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip() { "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
# torch first, pinned: the CPU wheel lies on local disk; any other spec downloads a multi-GB CUDA build.
pip 'torch==2.13.0'
# ROS 2 Jazzy from PyPI wheels, for this venv only (never a dependency of the package itself).
pip 'ros-jazzy-rclpy[fastrtps]==7.1.6' ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs \
  ros-jazzy-nav-msgs ros-jazzy-std-msgs ros-jazzy-diagnostic-msgs
pip -e ".[training,dev]" 'torch==2.13.0'
echo "$want" > "$stamp"
echo "setup: .venv ready in $(( $(date +%s) - start )) s ($(du -sh "$venv" | cut -f1))"
