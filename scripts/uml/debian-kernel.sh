#!/usr/bin/env bash
# Prints the path of Debian's packaged user-mode Linux kernel (installing user-mode-linux and
# kmod when missing). Tests use it as a kernel that LACKS options: it has IPv4 multicast routing
# but not multiple tables, IPv6 multicast routing or nf_tables' ip family, and veth is a module
# (boot it with MFCD_UML_APPEND="mfcd_modprobe=veth").
set -euo pipefail
need=()
[ -x /usr/bin/linux.uml ] || need+=(user-mode-linux)
command -v modprobe >/dev/null || need+=(kmod)
if [ ${#need[@]} -gt 0 ]; then
  echo "debian-kernel: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # One apt at a time: the test runner fetches this while the other script may be installing.
  { flock -w 1200 /run/lock/mfcd-apt.lock sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' apt "${need[@]}"; } >&2 \
    || { echo "debian-kernel: apt-get install ${need[*]} failed" >&2; exit 1; }
fi
echo /usr/bin/linux.uml
