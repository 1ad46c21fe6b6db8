#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# --boot (fw_cfg bootorder, docs/firmware.md): with the project's boot sector on a disk and
# GRUB's rescue ISO in the AHCI CD-ROM, SeaBIOS must boot what --boot names first.
#   test-boot-order.sh DESKVM_VM BOOT_IMG
# 1. SATA disk + CD-ROM, --boot cdrom,disk: 'Booting from DVD/CD' (SeaBIOS's own default
#    would be the hard disk, so this fails without a working bootorder);
# 2. virtio disk + CD-ROM, --boot disk,cdrom: the boot sector runs, exit status 33.
# Exit 0 pass, 1 fail, 77 skip.
set -u
vm=${1:?usage: test-boot-order.sh DESKVM_VM BOOT_IMG}
img=${2:?usage: test-boot-order.sh DESKVM_VM BOOT_IMG}
iso=/usr/lib/grub-rescue/grub-rescue-cdrom.iso
limit=${DESKVM_FIRMWARE_TIMEOUT:-120}
[ -r /usr/share/seabios/bios-256k.bin ] || { echo "SKIP: no seabios"; exit 77; }
[ -r "$iso" ] || { echo "SKIP: $iso missing (apt-get install grub-rescue-pc)"; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$img" "$tmp/disk.img"

# 1: stop as soon as SeaBIOS says what it boots (GRUB itself takes long here).
"$vm" --firmware bios --memory 128M --display none --serial "file:$tmp/cd.log" \
    --disk "file=$tmp/disk.img,format=raw,bus=sata" --cdrom "$iso" --boot cdrom,disk \
    > "$tmp/cd.err" 2>&1 < /dev/null &
pid=$!
n=0
while [ $n -lt "$limit" ] && ! grep -qaF 'Booting from' "$tmp/cd.log" 2> /dev/null; do
    kill -0 $pid 2> /dev/null || break
    sleep 1
    n=$((n + 1))
done
kill $pid 2> /dev/null
wait $pid 2> /dev/null
if ! grep -qaF 'Booting from DVD/CD' "$tmp/cd.log"; then
    echo "FAIL: --boot cdrom,disk did not boot the CD-ROM"
    tr -d '\033' < "$tmp/cd.log" | head -c 2000
    cat "$tmp/cd.err"
    exit 1
fi
echo "ok: --boot cdrom,disk"

timeout "$limit" "$vm" --firmware bios --memory 128M --display none \
    --disk "file=$tmp/disk.img,format=raw" --cdrom "$iso" --boot disk,cdrom \
    > "$tmp/hd.log" 2>&1 < /dev/null
status=$?
if [ $status -ne 33 ] || ! grep -qaF 'Booting from Hard Disk' "$tmp/hd.log"; then
    echo "FAIL: --boot disk,cdrom with a virtio disk: status $status"
    tr -d '\033' < "$tmp/hd.log" | head -c 2000
    exit 1
fi
echo "ok: --boot disk,cdrom"
echo PASS
