#!/usr/bin/env bash
# Builds (once per machine) the user-mode Linux kernel the tests and the demo boot where the host
# kernel lacks multicast routing. Prints the kernel's path on stdout; progress goes to stderr.
# With the argument "partial": the kernel that lacks options on purpose (kernel-partial.config),
# built from the same tree right after the full one (an incremental build of what they change).
# The result is cached outside the repo, keyed by the config fragment and the source package's
# version, so only the first run on a machine pays the 12–25 min build. Concurrent callers (parallel
# guests, a demo beside a test run) wait for one build under a lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fragment="$here/kernel.config"
partial_fragment="$here/kernel-partial.config"
want="${1:-full}"
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
# The source patch below is part of what is built: change XSTATE_PATCH when it changes.
XSTATE_PATCH="host-fp-size-12288"
key="$( { cat "$fragment" "$partial_fragment"; echo "$version"; echo "$XSTATE_PATCH"; } | sha256sum | cut -c1-16)"
out="$cache_root/$key"
result="$out/linux"; [ "$want" = partial ] && result="$out/linux-partial"
if [ -x "$result" ]; then echo "$result"; exit 0; fi
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if [ -x "$result" ]; then echo "$result"; exit 0; fi

tarball="$(ls /usr/src/linux-source-6.1.tar.* | head -n1)"
work="$cache_root/build-$key"
rm -rf "$work" && mkdir -p "$work"
log "building a user-mode kernel from $tarball (first run on this machine: 12–25 min on 2 cores)"
tar -xaf "$tarball" -C "$work" --strip-components=1
cd "$work"
# UML 6.1 moves a guest process's FPU state with PTRACE_GETREGSET/SETREGSET(NT_X86_XSTATE) through
# a fixed 2696-byte buffer. The host wants the whole XSAVE area on SETREGSET and says EFAULT
# otherwise; with Intel AMX it is 11008 bytes, so init dies at once ("userspace - ptrace set fp
# regs failed, errno = 14", "Attempted to kill init"). A larger buffer works on every host: the
# host clamps the transfer to its own XSAVE size. 12 KiB: above every x86 XSAVE size (AMX's is
# the largest); the buffer also sits on signal stacks, so no bigger than needed. (Later kernels size the buffer at run time.)
sed -i 's/DEFINE_LONGS(HOST_FP_SIZE, 2696);/DEFINE_LONGS(HOST_FP_SIZE, 12288);/' arch/x86/um/user-offsets.c
grep -q 'DEFINE_LONGS(HOST_FP_SIZE, 12288);' arch/x86/um/user-offsets.c || { log "the XSAVE buffer patch did not apply"; exit 1; }
make ARCH=um defconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make ARCH=um olddefconfig >/dev/null
# Fail loudly when an option of a fragment did not survive (a dependency missing in Kconfig).
check_config() {
  local missing=0 line name value
  while IFS= read -r line; do
    case "$line" in CONFIG_*=*) ;; *) continue ;; esac
    name="${line%%=*}"; value="${line#*=}"
    if [ "$value" = n ]; then
      grep -qx "$name=[ym]" .config && { log "$name is set, the fragment wants it off"; missing=1; }
    else
      grep -qx "$line" .config || { log "$name=$value did not survive olddefconfig"; missing=1; }
    fi
  done < "$1"
  [ "$missing" = 0 ]
}
check_config "$fragment" || exit 1
make ARCH=um -j"$(nproc)" linux >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
mkdir -p "$out.tmp" && cp linux .config "$out.tmp/" && strip "$out.tmp/linux"
# The partial kernel: same tree, options switched off, only what they touch rebuilt.
log "building the kernel that lacks options (kernel-partial.config)"
scripts/kconfig/merge_config.sh -m .config "$partial_fragment" >/dev/null
make ARCH=um olddefconfig >/dev/null
check_config "$partial_fragment" || exit 1
make ARCH=um -j"$(nproc)" linux >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
cp linux "$out.tmp/linux-partial" && cp .config "$out.tmp/config-partial" && strip "$out.tmp/linux-partial"
rm -rf "$out" && mv "$out.tmp" "$out"
cd / && rm -rf "$work"
log "built $out/linux and $out/linux-partial"
echo "$result"
