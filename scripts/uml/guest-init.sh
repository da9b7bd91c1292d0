#!/bin/bash
# PID 1 of mfcd's user-mode Linux guest (booted by run-in-guest.sh with the host's / as hostfs).
# Gives the guest its own /proc, /sys, /dev, /run, /tmp (hostfs would otherwise write the host's),
# runs the job file's command as root in the host's working directory, writes its exit code
# next to the job file and powers off. A "<job>.stop" file on the host asks the command to stop
# (SIGINT), which is how Ctrl-C on the host reaches it. The job lives in /var/tmp: the guest
# mounts its own /tmp.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The kernel logs to a null serial line (console=ttyS0); the command's output goes to con0
# (/dev/tty0, the host's stdout) with no newline translation: it reads exactly as on the host.
exec </dev/null >/dev/tty0 2>&1
stty -opost </dev/tty0
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
job="$mfcd_job"
# The guest gets its own /tmp (on the host's, a non-root process in the guest gets EPERM on
# chmod), but the command's working directory may live under the host's /tmp (a CI checkout
# made with mktemp -d): the host's /tmp stays reachable at /run/host-tmp and that directory is
# bound back in place.
cwd="$(sed -n 's/^# cwd: //p' "$job" 2>/dev/null)"
mkdir -p /run/host-tmp
mount --bind /tmp /run/host-tmp
mount -t tmpfs -o mode=1777 tmpfs /tmp
case "$cwd" in
  /tmp/*) mkdir -p "$cwd" && mount --bind "/run/host-tmp/${cwd#/tmp/}" "$cwd" ;;
esac
ip link set lo up
hostname "mfcd-guest"

# A modular kernel (Debian's user-mode-linux package, used to test kernels lacking options)
# keeps its modules outside /lib/modules: mfcd_modprobe="veth ..." loads them from there.
if [ -n "${mfcd_modprobe:-}" ]; then
  release="$(uname -r)"
  mkdir -p /run/uml-modules/lib/modules
  ln -s "/usr/lib/uml/modules/$release" "/run/uml-modules/lib/modules/$release"
  modprobe -d /run/uml-modules -a $mfcd_modprobe || echo "guest-init: modprobe $mfcd_modprobe failed" >&2
fi

poweroff() {
  # reboot(2) with LINUX_REBOOT_CMD_POWER_OFF: no init system is running to ask.
  exec perl -e 'syscall(169, 0xfee1dead, 0x28121969, 0x4321fedc, 0)'
}
if [ -z "$job" ] || [ ! -r "$job" ]; then
  echo "guest-init: no job file (mfcd_job=$job)" >&2
  echo 70 > /proc/exitcode
  poweroff
fi

# The job file sets the environment, cd's and defines run(); its command runs in the background
# so this shell can watch for the stop request.
. "$job"
# The console is a terminal; the command sees one only when run-in-guest.sh's stdout is one
# (vitest's live TTY renderer would otherwise fill logs with escape codes).
if [ "${MFCD_GUEST_TTY:-1}" = 0 ]; then
  mkfifo /run/guest-output
  cat /run/guest-output &
  relay=$!
  run >/run/guest-output 2>&1 &
else
  run &
fi
child=$!
# Polls with builtins only: a fork+exec costs ~0.2 s of the guest's one CPU, so `sleep 0.2` here
# took half the CPU from the tests. `read -t` on a FIFO nobody writes is a sleep without a fork.
mkfifo /run/init-tick
exec 3<>/run/init-tick
while kill -0 "$child" 2>/dev/null; do
  if [ -e "$job.stop" ]; then kill -INT "$child" 2>/dev/null; rm -f "$job.stop"; fi
  read -r -t 0.5 -u 3 _ || true
done
wait "$child"
rc=$?
[ -n "${relay:-}" ] && wait "$relay"
echo "$rc" > "$job.rc"
sync
echo "$rc" > /proc/exitcode
poweroff
