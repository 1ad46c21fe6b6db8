#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Slow suite: boot the real Debian cloud kernel under deskvm-vm with a busybox initramfs
# built here, until the kernel runs /init (docs/linux-boot.md).
#
#   boot-debian-kernel.sh DESKVM_VM MKINITRAMFS_PY
#
# Passes when the kernel prints "Run /init as init process" or when /init prints its marker.
# When /dev/kvm is backed by hardware virtualization (the host CPU shows vmx or svm), user
# space must run too, so only the marker passes there. Exit 0 pass, 1 fail, 77 skip.
# Environment: DESKVM_TEST_KERNEL (kernel file), DESKVM_SLOW_TIMEOUT (seconds, default 1180,
# just under meson's 1200; raise both on a loaded host: DESKVM_SLOW_TIMEOUT=2300 meson test -t 2),
# DESKVM_SLOW_REQUIRE_INIT=1|0 (force or waive the marker requirement), DESKVM_SLOW_KEEP=DIR
# (keep the serial log and initramfs there).
set -u

vm=${1:?usage: boot-debian-kernel.sh DESKVM_VM MKINITRAMFS_PY}
mkinitramfs=${2:?usage: boot-debian-kernel.sh DESKVM_VM MKINITRAMFS_PY}
timeout=${DESKVM_SLOW_TIMEOUT:-1180}
marker=DESKVM-SLOW-INIT-MARKER
run_init='Run /init as init process'

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

kernel=${DESKVM_TEST_KERNEL:-}
if [ -z "$kernel" ]; then
    # The newest installed linux-image-*-cloud-amd64 (linux-image-cloud-amd64 pulls it in).
    kernel=$(find /boot -maxdepth 1 -name 'vmlinuz-*-cloud-amd64' 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$kernel" ] || skip "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
[ -r "$kernel" ] || skip "$kernel is not readable"
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    skip "/dev/kvm is not usable"
fi

# Hardware virtualization: the CPU flags of a bare-metal host (or of a nested guest given
# VT-x/AMD-V) include vmx or svm. A paravirtual nested host (PVM) shows neither; there the
# kernel's user space cannot run (see docs/linux-boot.md), so reaching /init is the check.
if [ -n "${DESKVM_SLOW_REQUIRE_INIT:-}" ]; then
    require_init=$DESKVM_SLOW_REQUIRE_INIT
elif grep -qwE 'vmx|svm' /proc/cpuinfo; then
    require_init=1
else
    require_init=0
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/deskvm-slow.XXXXXX") || fail "mktemp"
vm_pid=
cleanup() {
    if [ -n "$vm_pid" ]; then
        kill "$vm_pid" 2>/dev/null
        wait "$vm_pid" 2>/dev/null
    fi
    if [ -n "${DESKVM_SLOW_KEEP:-}" ]; then
        mkdir -p "$DESKVM_SLOW_KEEP" && cp "$dir"/* "$DESKVM_SLOW_KEEP"/
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

python3 "$mkinitramfs" "$dir/initramfs.cpio" "$marker"
rc=$?
[ $rc -eq 77 ] && skip "no busybox for the initramfs (install busybox-static)"
[ $rc -eq 0 ] || fail "building the initramfs failed ($rc)"

# The command line (docs/linux-boot.md explains each item): the SIMD and cmpxchg16b/xsave
# features the emulating host's CPL0 interpreter lacks are masked from the kernel; the
# boot-time crypto self-tests, ftrace's check of ~40,000 records against kallsyms (minutes
# each when interpreted), the lockup watchdogs' backtraces and the speculation mitigations'
# extra instructions on every return are left out.
append="console=ttyS0 clearcpuid=cx16,xsave,avx,avx2,avx512f,popcnt,sse4_1,sse4_2,ssse3"
append="$append,pclmulqdq,aes,sha_ni,gfni,vaes,vpclmulqdq"
append="$append cryptomgr.notests initcall_blacklist=ftrace_check_for_weak_functions nowatchdog"
append="$append mitigations=off"

echo "kernel: $kernel"
echo "append: $append"
echo "hardware virtualization: $([ "$require_init" = 1 ] && echo yes, /init must print its marker || echo no, the 'Run /init' line suffices)"

start=$(date +%s)
"$vm" --kernel "$kernel" --initrd "$dir/initramfs.cpio" --memory 512M --append "$append" \
    --serial "file:$dir/serial.log" >"$dir/stderr.log" 2>&1 &
vm_pid=$!

seen_init=
want="the line '$run_init'"
while :; do
    now=$(date +%s)
    elapsed=$((now - start))
    if [ -z "$seen_init" ] && grep -qF "$run_init" "$dir/serial.log" 2>/dev/null; then
        seen_init=$elapsed
        want="the marker of /init"
        echo "kernel reached '$run_init' after $elapsed s"
        grep -F "$run_init" "$dir/serial.log"
        if [ "$require_init" != 1 ]; then
            echo "PASS: reached /init in $elapsed s (user space not required on this host)"
            exit 0
        fi
    fi
    if grep -qF "$marker" "$dir/serial.log" 2>/dev/null; then
        grep -F "$marker" "$dir/serial.log"
        echo "PASS: /init printed its marker after $elapsed s"
        exit 0
    fi
    if grep -qF 'Kernel panic' "$dir/serial.log" 2>/dev/null; then
        echo "--- last serial lines"; tail -n 30 "$dir/serial.log"
        fail "the guest kernel panicked after $elapsed s"
    fi
    if ! kill -0 "$vm_pid" 2>/dev/null; then
        wait "$vm_pid"
        rc=$?
        vm_pid=
        grep -qF "$marker" "$dir/serial.log" && { echo "PASS: marker (engine exit $rc)"; exit 0; }
        echo "--- engine stderr"; cat "$dir/stderr.log"
        echo "--- last serial lines"; tail -n 30 "$dir/serial.log"
        fail "deskvm-vm exited with status $rc after $elapsed s before $want"
    fi
    if [ "$elapsed" -ge "$timeout" ]; then
        echo "--- last serial lines"; tail -n 30 "$dir/serial.log"
        fail "no $want within $timeout s"
    fi
    sleep 2
done
