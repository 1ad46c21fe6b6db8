#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Firmware-mediated kernel boot (docs/firmware.md): SeaBIOS's linuxboot_dma.bin loads the tiny
# bzImage (tinybz.S), its initrd and command line from fw_cfg, on deskvm-vm and on QEMU
# -M q35 -kernel with the same files, BIOS and option ROM.
#   test-fw-kernel.sh DESKVM_VM TINY_BZIMAGE
# The kernel prints what it finds in boot_params; both runs must print the same lines (the
# initrd address, which linuxboot_dma.bin picks below the top of RAM SeaBIOS reports, only
# has to be page-aligned and inside RAM), and end with debug-exit status 33.
# Exit 0 pass, 1 fail, 77 skip.
set -u
vm=${1:?usage: test-fw-kernel.sh DESKVM_VM TINY_BZIMAGE}
kernel=${2:?usage: test-fw-kernel.sh DESKVM_VM TINY_BZIMAGE}
bios=/usr/share/seabios/bios-256k.bin
rom=/usr/share/qemu/linuxboot_dma.bin
limit=${DESKVM_FIRMWARE_TIMEOUT:-280}
append='console=ttyS0 tiny=1 "two words" x=y'

[ -r "$bios" ] || { echo "SKIP: $bios missing (apt-get install seabios)"; exit 77; }
[ -r "$rom" ] || { echo "SKIP: $rom missing (apt-get install qemu-system-data)"; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'INITRD-OK-0123456789abcdef-and-more' > "$tmp/initrd"

# The kernel's lines, with the initrd address checked and replaced by ADDR.
extract() { # NAME LOG STATUS
    if [ "$3" -ne 33 ]; then
        echo "FAIL ($1): exit status $3, want 33 (debug-exit 0x10)"
        tr -d '\033' < "$2" | head -c 4000
        exit 1
    fi
    tr -d '\r\033' < "$2" | grep -a -o 'tinybz: .*' > "$tmp/$1.raw"
    addr=$(sed -n 's/^tinybz: ramdisk_image=\(0x[0-9a-f]*\) .*/\1/p' "$tmp/$1.raw")
    if [ -z "$addr" ] || [ $((addr & 0xfff)) -ne 0 ] || [ $((addr)) -lt $((0x100000)) ] ||
        [ $((addr + 35)) -gt $((128 << 20)) ]; then
        echo "FAIL ($1): initrd at '$addr': not a page-aligned address in RAM above 1 MiB"
        cat "$tmp/$1.raw"
        exit 1
    fi
    sed 's/ramdisk_image=0x[0-9a-f]*/ramdisk_image=ADDR/' "$tmp/$1.raw" > "$tmp/$1.lines"
    echo "ok: $1 (initrd at $addr)"
}

start=$(date +%s)
timeout "$limit" "$vm" --firmware bios --memory 128M --cpus 1 --display none \
    --kernel "$kernel" --initrd "$tmp/initrd" --append "$append" > "$tmp/deskvm.log" 2>&1 < /dev/null
extract deskvm "$tmp/deskvm.log" $?
echo "deskvm: $(($(date +%s) - start)) s"
cat "$tmp/deskvm.lines"
for want in 'tinybz: cmd_line_ptr=0x00020000' "tinybz: cmdline=[$append]" \
    'tinybz: initrd=[INITRD-OK-012345]' 'ramdisk_size=0x00000023' \
    'tinybz: loadflags=0x00000081 heap_end_ptr=0x0000fe00' 'tinybz: done'; do
    grep -qF "$want" "$tmp/deskvm.lines" || { echo "FAIL (deskvm): no '$want'"; exit 1; }
done

if command -v qemu-system-x86_64 > /dev/null; then
    timeout "$limit" qemu-system-x86_64 -M q35,accel=kvm -cpu qemu64,-pni -display none \
        -nic none -serial stdio -m 128 -bios "$bios" -no-reboot \
        -kernel "$kernel" -initrd "$tmp/initrd" -append "$append" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 > "$tmp/qemu.log" 2>&1 < /dev/null
    extract qemu "$tmp/qemu.log" $?
    if ! cmp -s "$tmp/deskvm.lines" "$tmp/qemu.lines"; then
        echo "FAIL: deskvm and QEMU differ:"
        diff "$tmp/qemu.lines" "$tmp/deskvm.lines"
        exit 1
    fi
    echo "ok: same output as QEMU"
else
    echo "note: qemu-system-x86_64 not installed, oracle run skipped"
fi
echo PASS
