#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# run-guest.sh: boots one guest-kit ELF on QEMU (-M microvm) or on deskvm-vm and turns the
# guest's debug-exit value into a test status: PASS (33) -> 0, SKIP (37) -> 77, else 1.
#
# usage: run-guest.sh qemu|PATH/TO/deskvm-vm ELF [key=value ...]
#   cpus=N and mem=SIZE (default 1 and 256M; SIZE in MiB or with K/M/G) size the VM; every
#   key=value word, plus now=<host unix time>, goes on the guest command line, except the
#   runner's own keys: expect_exit=N (the VMM exiting with N is a pass, as for a guest that
#   powers off: 0; its PASS exit 33 is then a failure), and for QEMU only (deskvm ignores
#   them): qemu_machine=M (-M for this run, e.g. pc for a test that needs port 0xCF9 or the
#   i8042), qemu_accel=kvm|tcg and qemu_cpu=MODEL (e.g. tcg and max for a test whose CPL0
#   instructions KVM on an emulating host cannot run and QEMU does not emulate).
#   qemu:KEY=VALUE / deskvm:KEY=VALUE put KEY=VALUE on the command line for that VMM only.
#   virtio=rng|console (repeatable) adds a modern virtio-pci device to either VMM (deskvm
#   --device virtio-rng / virtio-console,chardev=file:F; QEMU virtio-rng-pci / virtio-serial-pci
#   with a virtconsole on a file chardev, both disable-legacy=on); console_expect=1 then
#   requires the line "hello from the guest now=<now>" in the console's file. console_input=1
#   (also passed to the guest): the console is on the VMM's stdio instead, fed the line
#   "ping now=<now>", its output captured to the file, and the serial port goes to a log
#   printed afterwards.
#   disk=raw|qcow2 gives either VMM a fresh scratch image (qemu-img create, disk_size=SIZE,
#   default 64M) as a modern virtio-blk device (deskvm --disk; QEMU -drive if=none plus
#   virtio-blk-pci,disable-legacy=on,num-queues=N,serial=deskvm-disk0); queues=N (also seen by
#   the guest) and disk_cache=writeback|none (QEMU: cache.direct=on) shape it. After a PASS the
#   image must pass `qemu-img check` (qcow2) and hold the guest's "blk-pattern:" ranges and
#   zeros elsewhere (check-disk.py; disk_check=0 leaves that out, for guests that write
#   something else, like the benchmark guest).
#   virtio=net adds a virtio-net NIC on user networking (deskvm --net user, QEMU -netdev user
#   + virtio-net-pci) and starts net-peer.py as the host side: the guest gets net_port=P (an
#   echo server on the host's 127.0.0.1:P, 10.0.2.2:P for the guest) and net_listen=7777 (a
#   hostfwd from a free host port); the peer's verdict counts as much as the guest's.
#   virtio=tap does the same over a host tap (root with /dev/net/tun, else SKIP): the runner
#   creates dvtap<pid> (ip tuntap add), gives it 10.77.N.1/24 (N unused on this host), both
#   VMMs attach to it by name (deskvm --net tap,ifname=; QEMU -netdev tap,vhost=off), the guest
#   gets net_static=10.77.N.2/24 net_gw=10.77.N.1 net_port=P net_listen=7777 and net-peer.py
#   listens on 10.77.N.1 and connects to 10.77.N.2:7777 itself. The tap is deleted at exit.
# environment: GUEST_TIMEOUT (s, default 120), GUEST_QEMU_MACHINE (default microvm, overridden
#   by qemu_machine=), GUEST_ACCEL (kvm|tcg, QEMU only; default kvm
#   when /dev/kvm is usable), QEMU (default qemu-system-x86_64), GUEST_EXTRA_ARGS (appended
#   to the VMM command line), GUEST_NO_STDIN (set: the guest's serial input is /dev/null
#   rather than our stdin; meson sets it so QEMU never puts a terminal into raw mode).

set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 qemu|DESKVM_VM ELF [key=value ...]" >&2
    exit 2
fi
vmm=$1
elf=$2
shift 2

cpus=1
mem=256M
expect_exit=
machine=${GUEST_QEMU_MACHINE:-microvm}
accel=${GUEST_ACCEL:-}
cpu_model=
display=
virtio=
console_expect=
console_input=
disk=
disk_size=64M
disk_cache=
disk_check=1
queues=
for kv in "$@"; do
    case $kv in
    cpus=*) cpus=${kv#cpus=} ;;
    mem=*) mem=${kv#mem=} ;;
    expect_exit=*) expect_exit=${kv#expect_exit=} ;;
    qemu_machine=*) machine=${kv#qemu_machine=} ;;
    qemu_accel=*) accel=${kv#qemu_accel=} ;;
    qemu_cpu=*) cpu_model=${kv#qemu_cpu=} ;;
    display=*) display=${kv#display=} ;;
    virtio=*) virtio="$virtio ${kv#virtio=}" ;;
    console_expect=*) console_expect=${kv#console_expect=} ;;
    console_input=*) console_input=${kv#console_input=} ;;
    disk=*) disk=${kv#disk=} ;;
    disk_size=*) disk_size=${kv#disk_size=} ;;
    disk_cache=*) disk_cache=${kv#disk_cache=} ;;
    disk_check=*) disk_check=${kv#disk_check=} ;;
    queues=*) queues=${kv#queues=} ;;
    esac
done

# Memory size in MiB for the VMM; the guest gets it back as mem=<MiB>M.
case $mem in
*G | *g) mem_mib=$((${mem%?} * 1024)) ;;
*M | *m) mem_mib=${mem%?} ;;
*K | *k) mem_mib=$((${mem%?} / 1024)) ;;
*) mem_mib=$mem ;;
esac

if [ "$vmm" = qemu ]; then
    mine=qemu:
else
    mine=deskvm:
fi
now=$(date +%s)
append="now=$now cpus=$cpus mem=${mem_mib}M"
for kv in "$@"; do
    case $kv in
    cpus=* | mem=* | expect_exit=* | qemu_*=* | virtio=* | console_expect=* | display=*) ;;
    disk=* | disk_cache=* | disk_size=* | disk_check=*) ;;
    "$mine"*) append="$append ${kv#"$mine"}" ;;
    qemu:* | deskvm:*) ;;
    *) append="$append $kv" ;;
    esac
done

timeout_s=${GUEST_TIMEOUT:-120}

# virtio devices, as each VMM spells them.
console_file=
serial_log=
dev_deskvm=
dev_qemu=
serial_deskvm=stdio
serial_qemu=stdio
net_peer=
for v in $virtio; do
    case $v in
    rng)
        dev_deskvm="$dev_deskvm --device virtio-rng"
        dev_qemu="$dev_qemu -device virtio-rng-pci,disable-legacy=on"
        ;;
    console)
        console_file=$(mktemp "${TMPDIR:-/tmp}/run-guest-console.XXXXXX") || exit 1
        trap 'rm -f "$console_file" ${serial_log:+"$serial_log"}' EXIT
        if [ -n "$console_input" ]; then
            serial_log=$(mktemp "${TMPDIR:-/tmp}/run-guest-serial.XXXXXX") || exit 1
            trap 'rm -f "$console_file" "$serial_log"' EXIT
            serial_deskvm=file:$serial_log
            serial_qemu=file:$serial_log
            dev_deskvm="$dev_deskvm --device virtio-console,chardev=stdio"
            dev_qemu="$dev_qemu -chardev stdio,id=vcon0,signal=off"
        else
            dev_deskvm="$dev_deskvm --device virtio-console,chardev=file:$console_file"
            dev_qemu="$dev_qemu -chardev file,id=vcon0,path=$console_file"
        fi
        dev_qemu="$dev_qemu -device virtio-serial-pci,disable-legacy=on"
        dev_qemu="$dev_qemu -device virtconsole,chardev=vcon0"
        ;;
    net)
        net_ready=$(mktemp -u "${TMPDIR:-/tmp}/run-guest-net.XXXXXX") || exit 1
        python3 "$(dirname "$0")/net-peer.py" --ready "$net_ready" --now "$now" \
            --timeout "$timeout_s" &
        net_peer=$!
        trap 'rm -f "$net_ready"; kill "$net_peer" 2>/dev/null' EXIT
        for _ in $(seq 100); do
            [ -s "$net_ready" ] && break
            sleep 0.1
        done
        read -r net_echo net_fwd <"$net_ready" || exit 1
        fwd="hostfwd=tcp:127.0.0.1:$net_fwd-:7777"
        dev_deskvm="$dev_deskvm --net user,$fwd"
        dev_qemu="$dev_qemu -netdev user,id=n0,$fwd"
        dev_qemu="$dev_qemu -device virtio-net-pci,netdev=n0,disable-legacy=on,romfile="
        append="$append net_port=$net_echo net_listen=7777"
        ;;
    tap)
        if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null 2>&1; then
            echo "SKIP: virtio=tap needs root (CAP_NET_ADMIN), /dev/net/tun and ip(8)"
            exit 77
        fi
        tap=dvtap$$
        if ! ip tuntap add dev "$tap" mode tap 2>/dev/null; then
            echo "SKIP: virtio=tap: 'ip tuntap add dev $tap mode tap' fails (no CAP_NET_ADMIN?)"
            exit 77
        fi
        net_ready=$(mktemp -u "${TMPDIR:-/tmp}/run-guest-net.XXXXXX") || exit 1
        net_peer=
        trap 'rm -f "$net_ready"; [ -n "$net_peer" ] && kill "$net_peer" 2>/dev/null; ip link del "$tap"' EXIT
        # A /24 no interface here uses yet (parallel runs each take their own).
        sub=$(($$ % 200 + 20))
        while ip -4 addr show | grep -q "inet 10\.77\.$sub\."; do
            sub=$((sub % 250 + 1))
        done
        ip addr add "10.77.$sub.1/24" dev "$tap" && ip link set "$tap" up || exit 1
        python3 "$(dirname "$0")/net-peer.py" --ready "$net_ready" --now "$now" \
            --timeout "$timeout_s" --bind "10.77.$sub.1" --connect "10.77.$sub.2:7777" &
        net_peer=$!
        for _ in $(seq 100); do
            [ -s "$net_ready" ] && break
            sleep 0.1
        done
        read -r net_echo _ <"$net_ready" || exit 1
        dev_deskvm="$dev_deskvm --net tap,ifname=$tap"
        dev_qemu="$dev_qemu -netdev tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off"
        dev_qemu="$dev_qemu -device virtio-net-pci,netdev=n0,disable-legacy=on,romfile="
        append="$append net_static=10.77.$sub.2/24 net_gw=10.77.$sub.1"
        append="$append net_port=$net_echo net_listen=7777"
        ;;
    *)
        echo "run-guest: unknown virtio=$v (rng, console, net, tap)" >&2
        exit 2
        ;;
    esac
done

# A scratch disk image for virtio-blk, the same file type on either VMM.
disk_img=
disk_log=
disk_raw=
if [ -n "$disk" ]; then
    case $disk in
    raw | qcow2) ;;
    *)
        echo "run-guest: unknown disk=$disk (raw, qcow2)" >&2
        exit 2
        ;;
    esac
    if ! command -v qemu-img >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
        echo "SKIP: disk=$disk needs qemu-img and python3"
        exit 77
    fi
    disk_img=$(mktemp "${TMPDIR:-/tmp}/run-guest-disk.XXXXXX") || exit 1
    disk_log=$(mktemp "${TMPDIR:-/tmp}/run-guest-log.XXXXXX") || exit 1
    disk_raw=$(mktemp "${TMPDIR:-/tmp}/run-guest-raw.XXXXXX") || exit 1
    trap 'rm -f "$disk_img" "$disk_log" "$disk_raw" ${console_file:+"$console_file"} ${serial_log:+"$serial_log"}' EXIT
    qemu-img create -q -f "$disk" "$disk_img" "$disk_size" || exit 1
    append="$append disk_size=$disk_size disk_id=deskvm-disk0"
    opts=file=$disk_img,format=$disk${queues:+,queues=$queues}
    dev_deskvm="$dev_deskvm --disk $opts${disk_cache:+,cache=$disk_cache}"
    drive=if=none,id=disk0,file=$disk_img,format=$disk
    if [ "$disk_cache" = none ]; then
        drive=$drive,cache.direct=on
    fi
    dev_qemu="$dev_qemu -drive $drive -device virtio-blk-pci,drive=disk0,disable-legacy=on"
    dev_qemu="$dev_qemu,num-queues=${queues:-1},serial=deskvm-disk0"
fi

if [ "$vmm" = qemu ]; then
    qemu=${QEMU:-qemu-system-x86_64}
    if ! command -v "$qemu" >/dev/null 2>&1; then
        echo "SKIP: $qemu not found"
        exit 77
    fi
    if [ -z "$accel" ]; then
        if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
            accel=kvm
        else
            accel=tcg
        fi
    fi
    cpu_arg=
    if [ -n "$cpu_model" ]; then
        cpu_arg="-cpu $cpu_model"
    elif [ "$accel" = kvm ]; then
        # qemu64 without SSE3, which the development host lacks (-cpu host dies on MSR 0x10a).
        cpu_arg="-cpu qemu64,-pni"
    fi
    case $display in
    vga) display_qemu="-device VGA" ;;
    virtio-gpu) display_qemu="-device virtio-gpu-pci" ;;
    *) display_qemu= ;;
    esac
    # microvm turns the RTC (and with TCG the PIT and PIC) off by default: ask for them.
    case $machine in
    microvm) machine=microvm,rtc=on,pit=on,pic=on,isa-serial=on,acpi=on ;;
    esac
    # shellcheck disable=SC2086
    set -- "$qemu" -M "$machine" \
        -accel "$accel" $cpu_arg -nodefaults -no-user-config -display none \
        -serial "$serial_qemu" -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -smp "$cpus,sockets=1,cores=$cpus,threads=1" -m "$mem_mib" \
        -kernel "$elf" -append "$append" $dev_qemu $display_qemu ${GUEST_EXTRA_ARGS:-}
else
    if [ ! -x "$vmm" ]; then
        echo "SKIP: $vmm is not an executable"
        exit 77
    fi
    # shellcheck disable=SC2086
    set -- "$vmm" --kernel "$elf" --append "$append" --cpus "$cpus" --memory "$mem_mib" \
        --serial "$serial_deskvm" $dev_deskvm ${display:+--display "$display"} ${GUEST_EXTRA_ARGS:-}
fi

echo "run-guest: $*" >&2
if [ -n "$serial_log" ]; then
    printf 'ping now=%s\n' "$now" | timeout "$timeout_s" "$@" >"$console_file"
    rc=$?
    cat "$serial_log"
elif [ -n "$disk_log" ]; then
    # The serial output is also the list of ranges to find in the image.
    if [ -n "${GUEST_NO_STDIN:-}" ]; then
        timeout "$timeout_s" "$@" </dev/null >"$disk_log"
    else
        timeout "$timeout_s" "$@" >"$disk_log"
    fi
    rc=$?
    cat "$disk_log"
elif [ -n "${GUEST_NO_STDIN:-}" ]; then
    timeout "$timeout_s" "$@" </dev/null
    rc=$?
else
    timeout "$timeout_s" "$@"
    rc=$?
fi

if [ -n "$net_peer" ]; then
    if [ "$rc" = 33 ]; then
        if ! wait "$net_peer"; then
            echo "run-guest: the host side (net-peer.py) failed" >&2
            exit 1
        fi
    else
        kill "$net_peer" 2>/dev/null
    fi
fi

if [ -n "$expect_exit" ] && [ "$rc" != 37 ]; then
    if [ "$rc" = "$expect_exit" ]; then
        exit 0
    fi
    echo "run-guest: VMM exited with status $rc, expected $expect_exit" >&2
    exit 1
fi
if [ "$rc" = 33 ] && [ -n "$console_expect" ]; then
    want="hello from the guest now=$now"
    if ! grep -qxF "$want" "$console_file"; then
        echo "run-guest: the console's host side lacks the line '$want'; it has:" >&2
        cat "$console_file" >&2
        exit 1
    fi
    echo "run-guest: console line seen on the host side"
fi
if [ "$rc" = 33 ] && [ -n "$disk" ]; then
    if [ "$disk" = qcow2 ] && ! qemu-img check -q -f qcow2 "$disk_img"; then
        echo "run-guest: qemu-img check fails on the image the guest wrote" >&2
        exit 1
    fi
    if [ "$disk_check" != 0 ] && { ! qemu-img convert -f "$disk" -O raw "$disk_img" "$disk_raw" ||
        ! python3 "$(dirname "$0")/check-disk.py" "$disk_raw" "$disk_size" "$disk_log"; }; then
        echo "run-guest: the image does not hold what the guest wrote" >&2
        exit 1
    fi
fi
case $rc in
33) exit 0 ;;
37) exit 77 ;;
124) echo "run-guest: timed out after ${timeout_s}s" >&2 ;;
35) ;;
*) echo "run-guest: VMM exited with status $rc" >&2 ;;
esac
exit 1
