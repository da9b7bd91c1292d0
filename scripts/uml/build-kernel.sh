#!/usr/bin/env bash
# Builds (once per machine) the user-mode Linux kernel the tests and the demo boot where the host
# kernel lacks multicast routing. Prints the kernel's path on stdout; progress goes to stderr.
# The result is cached outside the repo, keyed by the config fragment and the source package's
# version, so only the first run on a machine pays the 12–25 min build. Concurrent callers (parallel
# guests, a demo beside a test run) wait for one build under a lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fragment="$here/kernel.config"
cache_root="${MFCD_UML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mfcd-uml}"
src_pkg=linux-source-6.1

log() { echo "uml-kernel: $*" >&2; }

need=()
dpkg -s "$src_pkg" >/dev/null 2>&1 || need+=("$src_pkg")
for tool in gcc:gcc make:make bc:bc flex:flex bison:bison xz:xz-utils; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One apt at a time: the test runner fetches this while the other script may be installing.
  { flock -w 1200 /run/lock/mfcd-apt.lock sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' apt "${need[@]}"; } >&2 \
    || { log "apt-get install ${need[*]} failed"; exit 1; }
fi

version="$(dpkg-query -W -f='${Version}' "$src_pkg")"
key="$( { cat "$fragment"; echo "$version"; } | sha256sum | cut -c1-16)"
out="$cache_root/$key"
if [ -x "$out/linux" ]; then echo "$out/linux"; exit 0; fi
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if [ -x "$out/linux" ]; then echo "$out/linux"; exit 0; fi

tarball="$(ls /usr/src/linux-source-6.1.tar.* | head -n1)"
work="$cache_root/build-$key"
rm -rf "$work" && mkdir -p "$work"
log "building a user-mode kernel from $tarball (first run on this machine: 12–25 min on 2 cores)"
tar -xaf "$tarball" -C "$work" --strip-components=1
cd "$work"
make ARCH=um defconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make ARCH=um olddefconfig >/dev/null
# Fail loudly when an option of the fragment did not survive (a dependency missing in Kconfig).
missing=0
while IFS= read -r line; do
  case "$line" in CONFIG_*=*) ;; *) continue ;; esac
  name="${line%%=*}"; want="${line#*=}"
  if [ "$want" = n ]; then
    grep -qx "$name=[ym]" .config && { log "$name is set, the fragment wants it off"; missing=1; }
  else
    grep -qx "$line" .config || { log "$name=$want did not survive olddefconfig"; missing=1; }
  fi
done < "$fragment"
[ "$missing" = 0 ] || exit 1
make ARCH=um -j"$(nproc)" linux >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
strip linux
mkdir -p "$out.tmp" && cp linux .config "$out.tmp/" && rm -rf "$out" && mv "$out.tmp" "$out"
cd / && rm -rf "$work"
log "built $out/linux"
echo "$out/linux"
