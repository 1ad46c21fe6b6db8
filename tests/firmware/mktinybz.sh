#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Assemble the firmware kernel boot test's tiny bzImage (tinybz.S).
#   mktinybz.sh AS LD tinybz.S OUT TMPDIR
set -eu
as=$1 ld=$2 src=$3 out=$4 tmp=$5
mkdir -p "$tmp"
"$as" --32 -o "$tmp/tinybz.o" "$src"
"$ld" -m elf_i386 -Ttext=0 --oformat=binary -e _start -o "$tmp/tinybz.bin" "$tmp/tinybz.o"
size=$(wc -c < "$tmp/tinybz.bin")
[ "$size" -gt 1024 ] || { echo "tiny bzImage is $size bytes: no kernel after the setup" >&2; exit 1; }
cp "$tmp/tinybz.bin" "$out"
