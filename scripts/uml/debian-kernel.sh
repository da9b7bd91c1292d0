#!/usr/bin/env bash
# Prints the path of Debian's packaged user-mode Linux kernel (installing user-mode-linux and
# kmod when missing), or of a self-built one lacking the same options where Debian's cannot boot. Tests use it as a kernel that LACKS options: it has IPv4 multicast routing
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
# Debian's kernel dies at boot on hosts whose XSAVE area it cannot handle (Intel AMX: see
# build-kernel.sh). Then the kernel built from kernel.config with kernel-partial.config's options
# off stands in: it lacks the same options. A boot takes a few seconds; the answer is cached per boot id.
here="$(cd "$(dirname "$0")" && pwd)"
cache="/run/mfcd-uml-debian-boots.$(cat /proc/sys/kernel/random/boot_id)"
if [ ! -e "$cache" ]; then
  if MFCD_UML_KERNEL=/usr/bin/linux.uml MFCD_UML_APPEND="mfcd_modprobe=veth" timeout 120 "$here/run-in-guest.sh" true >/dev/null 2>&1; then
    echo yes >"$cache"
  else
    echo no >"$cache"
  fi
fi
if [ "$(cat "$cache")" = yes ]; then
  echo /usr/bin/linux.uml
else
  echo "debian-kernel: Debian's user-mode kernel does not boot on this host; using the self-built kernel that lacks the same options" >&2
  "$here/build-kernel.sh" partial
fi
