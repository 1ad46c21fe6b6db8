#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Firmware guest test (docs/firmware.md): Debian's SeaBIOS boots the project's boot sector
# from a virtio disk or a SATA disk on AHCI, on deskvm-vm and on QEMU -M q35 with the same image.
#   test-bios-boot.sh DESKVM_VM BOOT_IMG [virtio|sata] [RAM_MIB]
# Passes when both print SeaBIOS's banner and the boot sector's INT 10h / INT 13h lines on
# the serial port and end with debug-exit status 33. Exit 0 pass, 1 fail, 77 skip.
set -u
vm=${1:?usage: test-bios-boot.sh DESKVM_VM BOOT_IMG}
img=${2:?usage: test-bios-boot.sh DESKVM_VM BOOT_IMG}
bios=/usr/share/seabios/bios-256k.bin
bus=${3:-virtio}
mem=${4:-128} # 4096: low RAM split at 2 GiB below SeaBIOS's ECAM, the rest above 4 GiB
limit=${DESKVM_FIRMWARE_TIMEOUT:-280}

[ -r "$bios" ] || { echo "SKIP: $bios missing (apt-get install seabios)"; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$img" "$tmp/disk.img" # the guest may write: keep the build's image pristine
case $bus in
virtio) qemu_drive="-drive file=$tmp/disk.img,if=virtio,format=raw" ;;
sata) qemu_drive="-drive file=$tmp/disk.img,if=none,id=d0,format=raw -device ide-hd,drive=d0,bus=ide.0" ;;
*)
    echo "unknown bus $bus" >&2
    exit 1
    ;;
esac

check() { # NAME LOG STATUS
    ok=0
    for want in 'SeaBIOS (version' 'Booting from Hard Disk' \
        'deskvm boot sector: hello through INT 10h' 'deskvm boot sector: INT 13h read OK'; do
        if ! grep -qF "$want" "$2"; then
            echo "FAIL ($1): no '$want' on the serial port"
            ok=1
        fi
    done
    if [ "$3" -ne 33 ]; then
        echo "FAIL ($1): exit status $3, want 33 (debug-exit 0x10)"
        ok=1
    fi
    if [ $ok -ne 0 ]; then
        echo "--- $1 serial log:"
        tr -d '\033' < "$2" | head -c 4000
        exit 1
    fi
    echo "ok: $1"
}

start=$(date +%s)
timeout "$limit" "$vm" --firmware bios --memory "${mem}M" --cpus 1 --display none \
    --disk "file=$tmp/disk.img,format=raw,bus=$bus" > "$tmp/deskvm.log" 2>&1 < /dev/null
status=$?
echo "deskvm: $(($(date +%s) - start)) s"
check deskvm "$tmp/deskvm.log" $status

if command -v qemu-system-x86_64 > /dev/null; then
    timeout "$limit" qemu-system-x86_64 -M q35,graphics=off -display none -nic none \
        -serial stdio -m "$mem" -bios "$bios" -no-reboot \
        $qemu_drive \
        -device isa-debug-exit,iobase=0xf4,iosize=4 > "$tmp/qemu.log" 2>&1 < /dev/null
    check qemu "$tmp/qemu.log" $?
else
    echo "note: qemu-system-x86_64 not installed, oracle run skipped"
fi
echo PASS
