#!/usr/bin/env bash
# Runs one command as root inside a user-mode Linux guest that sees the host's files (hostfs),
# in the current directory and environment, and exits with the command's exit code. The guest
# kernel has everything mfcd needs (scripts/uml/kernel.config); it is built on first use.
#   MFCD_UML_KERNEL  a kernel to boot instead of the built one (e.g. Debian's /usr/bin/linux.uml)
#   MFCD_UML_MEM     guest memory (default 2G)
#   MFCD_UML_APPEND  extra kernel command line (e.g. a modules path for init)
#   MFCD_UML_TIME_TRAVEL=1  boot in the kernel's `time-travel` mode: when every guest process
#                    waits on a timer, the clock jumps to it instead of the CPU idling (~20 %
#                    less wall time on two e2e files). Off by default: one full run stalled with
#                    the guest kernel spinning and deaf to its management console.
# Ctrl-C / SIGTERM here are passed to the command inside; the guest then powers off.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -gt 0 ] || { echo "usage: run-in-guest.sh COMMAND [ARG...]" >&2; exit 2; }
kernel="${MFCD_UML_KERNEL:-}"
if [ -z "$kernel" ]; then
  kernel="$("$here/build-kernel.sh")" || { echo "run-in-guest: no user-mode kernel" >&2; exit 1; }
fi

job_dir="$(mktemp -d /var/tmp/mfcd-uml-job.XXXXXX)"
job="$job_dir/job.sh"
umid="mfcd-$$-$RANDOM"
time_travel=""
if [ "${MFCD_UML_TIME_TRAVEL:-0}" = 1 ] && grep -q time-travel-clock "$kernel" 2>/dev/null; then
  time_travel=time-travel
fi
{
  # Everything but variables that describe this shell or the host's session.
  export -p | grep -vE '^declare -x (PWD|OLDPWD|SHLVL|_|HOSTNAME|TMPDIR|XDG_RUNTIME_DIR|INVOCATION_ID|JOURNAL_STREAM|NOTIFY_SOCKET|LISTEN_[A-Z]+)='
  echo "export MFCD_IN_UML_GUEST=1"
  if [ -t 1 ]; then echo "export MFCD_GUEST_TTY=1"; else echo "export MFCD_GUEST_TTY=0"; fi
  printf '# cwd: %s\n' "$PWD"
  # cd inside run(): this file is sourced by the guest's PID 1, which must never exit.
  printf 'run() { cd %q || return 1; exec' "$PWD"; printf ' %q' "$@"; printf '; }\n'
} > "$job"

stopping=0
request_stop() { stopping=1; : > "$job.stop"; }
trap request_stop INT TERM

# UML's own stdout chatter and the kernel log stay out of the way: con0 (the command's
# stdout/stderr) is this process's stdout; the kernel logs to a null serial console.
setsid "$kernel" umid="$umid" mem="${MFCD_UML_MEM:-2G}" \
  root=/dev/root rootfstype=hostfs rootflags=/ rw quiet loglevel=1 \
  con=null con0=null,fd:1 ssl=null console=ttyS0 \
  init="$here/guest-init.sh" mfcd_job="$job" $time_travel ${MFCD_UML_APPEND:-} \
  </dev/null 2> >(grep -vE '^(Checking|Core dump|Locating|Adding|  Checking|Checking environment|Using)' >&2) &
uml=$!
while ! wait "$uml"; do
  # wait returns early when a trapped signal arrives; keep waiting for the guest to finish.
  kill -0 "$uml" 2>/dev/null || break
done
if [ -s "$job.rc" ]; then rc="$(cat "$job.rc")"; else
  echo "run-in-guest: the guest ended without the command's exit code (kernel $kernel)" >&2
  rc=1
fi
rm -rf "$job_dir" "$HOME/.uml/$umid"
exit "$rc"
