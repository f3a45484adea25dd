#!/usr/bin/env bash
# Set up Minewatch on a fresh Debian/Ubuntu machine: system tools, a venv in
# .venv and the package. `./install.sh --test` also installs what the test
# suite needs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

# System tools: tshark (pyshark drives it; the tests use it as an oracle),
# tcpdump (captures, live fallback; brings libpcap, which compiles `live --bpf`),
# capinfos (tests' packet counts), tcpreplay and iproute2 (live tests and
# benchmark: replay into a veth pair in a private network namespace).
packages=(tshark tcpdump tcpreplay iproute2 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "install.sh: apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$want_tests" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi
