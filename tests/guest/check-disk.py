#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""check-disk.py RAW SIZE LOG: the host-side check of the virtio-blk guest (run-guest.sh
disk=...). RAW is the image as raw bytes (qemu-img convert), SIZE its expected size (bytes or
with a K/M/G suffix), LOG the guest's serial output with "blk-seed: X" and one
"blk-pattern: sector=S count=N" per range the guest wrote. Every such range must hold the
guest's pattern (the 8-byte little-endian word at disk offset o is ((o + 1) *
0x9e3779b97f4a7c15 mod 2^64) xor X, as tests/guest/tests/virtio-blk.c writes it) and every other
byte must be zero. Exit 0 when it all matches, 1 otherwise, with the first difference."""

import re
import struct
import sys

SECT = 512
MASK = (1 << 64) - 1


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult != 1 else s, 0) * mult


def main():
    raw, size, log = sys.argv[1], parse_size(sys.argv[2]), sys.argv[3]
    text = open(log, "rb").read().decode(errors="replace")
    m = re.search(r"^blk-seed: (\d+)\r?$", text, re.M)
    ranges = [(int(a), int(b)) for a, b in
              re.findall(r"^blk-pattern: sector=(\d+) count=(\d+)\r?$", text, re.M)]
    if not m or not ranges:
        print("check-disk: no blk-seed / blk-pattern lines in the guest output")
        return 1
    seed = int(m.group(1))
    data = bytearray(open(raw, "rb").read())
    if len(data) != size:
        print(f"check-disk: the image has {len(data)} bytes, want {size}")
        return 1
    for sector, count in ranges:
        lo, hi = sector * SECT, (sector + count) * SECT
        if hi > size:
            print(f"check-disk: range {sector}+{count} is past the end")
            return 1
        want = struct.pack(f"<{(hi - lo) // 8}Q",
                           *((((o + 1) * 0x9E3779B97F4A7C15) & MASK) ^ seed
                             for o in range(lo, hi, 8)))
        if data[lo:hi] != want:
            bad = next(i for i in range(hi - lo) if data[lo + i] != want[i])
            print(f"check-disk: sector {sector + bad // SECT} byte {bad % SECT}: "
                  f"{data[lo + bad]:#04x}, want {want[bad]:#04x}")
            return 1
        data[lo:hi] = bytes(hi - lo)
    if data != bytes(size):
        bad = next(i for i, v in enumerate(data) if v)
        print(f"check-disk: sector {bad // SECT} byte {bad % SECT} is {data[bad]:#04x} but the "
              "guest never wrote it")
        return 1
    print(f"check-disk: {len(ranges)} ranges hold the pattern, the rest of the "
          f"{size >> 20} MiB is zero")
    return 0


if __name__ == "__main__":
    sys.exit(main())
