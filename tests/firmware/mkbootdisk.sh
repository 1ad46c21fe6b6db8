#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Assemble the firmware test's boot sector into a 1 MiB raw disk image.
#   mkbootdisk.sh AS LD bootsect.S OUT.img TMPDIR
set -eu
as=$1 ld=$2 src=$3 out=$4 tmp=$5
mkdir -p "$tmp"
"$as" --32 -o "$tmp/bootsect.o" "$src"
"$ld" -m elf_i386 -Ttext=0x7c00 --oformat=binary -e _start -o "$tmp/bootsect.bin" "$tmp/bootsect.o"
size=$(wc -c < "$tmp/bootsect.bin")
[ "$size" -eq 1024 ] || { echo "boot sector is $size bytes, want 1024" >&2; exit 1; }
cp "$tmp/bootsect.bin" "$out"
truncate -s 1M "$out"
