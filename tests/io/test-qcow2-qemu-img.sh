#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# qcow2 interoperability with QEMU's qemu-img, both ways: images we create and write must pass
# `qemu-img check` and `qemu-img compare` against a raw file with the same bytes; images
# qemu-img makes (backing files, compression with deflate and zstd, other refcount widths,
# v2) must read back through our driver exactly as `qemu-img convert -O raw` sees them; an
# overlay streamed with its backing file must be clean and read the same; and
# SIGKILLing a writer at random moments must never leave corruption (leaks are allowed).
#   test-qcow2-qemu-img.sh PATH/TO/blocktool
set -u
tool=$1
command -v qemu-img >/dev/null || { echo "qemu-img not installed: skip"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# qemu-img check: 0 clean, 3 leaks only, 2 corruption, 1 error.
check_clean() {
    if out=$(qemu-img check "$1" 2>&1); then pass "check clean: $2"; else fail "check: $2"; echo "$out"; fi
}
same_as_qemu() { # image, what: our reading of the image equals qemu's
    rm -f ours.raw theirs.raw
    "$tool" dump "$1" ours.raw && qemu-img convert -O raw "$1" theirs.raw &&
        cmp -s ours.raw theirs.raw && pass "reads match qemu-img: $2" || fail "reads differ: $2"
}
mkraw() { # name size: a raw file with a few patterned regions
    rm -f "$1"; truncate -s "$2" "$1"
    local s; s=$(numfmt --from=iec "$2")
    for frac in 0 3 7 11 13; do
        local off=$(( (s / 16 * frac) / 512 * 512 + frac * 100 ))
        head -c $(( 70000 + frac * 3000 )) /dev/urandom | dd of="$1" bs=1 seek=$off conv=notrunc status=none
    done
}

# 1. Our images, several cluster sizes: load a raw file's bytes, qemu-img judges.
for cb in 16 12 9 21; do
    mkraw src.raw 24M
    rm -f ours.qcow2
    "$tool" create ours.qcow2 24M $cb && "$tool" load ours.qcow2 src.raw || fail "create/load cb=$cb"
    check_clean ours.qcow2 "ours cluster_bits=$cb"
    qemu-img compare -f qcow2 -F raw ours.qcow2 src.raw >/dev/null && pass "compare cb=$cb" || fail "compare cb=$cb"
done

# 2. Partial-cluster writes, zeroes and discard through our API, mirrored on a raw file.
rm -f ours.qcow2
"$tool" create ours.qcow2 8M 16
for args in "1000 200000 1" "65000 1000 2" "300000 70000 3" "131072 65536 4"; do
    "$tool" write ours.qcow2 $args
done
"$tool" zero ours.qcow2 70000 140000 && "$tool" discard ours.qcow2 262144 131072 || fail "zero/discard"
"$tool" dump ours.qcow2 after.raw
check_clean ours.qcow2 "after writes, zero, discard"
if cmp -s <(head -c 140000 <(tail -c +70001 after.raw)) <(head -c 140000 /dev/zero) &&
   cmp -s <(head -c 131072 <(tail -c +262145 after.raw)) <(head -c 131072 /dev/zero); then
    pass "zeroed and discarded ranges read zero"
else fail "zeroed/discarded ranges not zero"; fi
qemu-img compare -f qcow2 -F raw ours.qcow2 after.raw >/dev/null && pass "compare after zero/discard" || fail "compare after zero/discard"

# 3. qemu-img's images read through us: plain, compressed (deflate, zstd), v2, refcount widths.
mkraw src.raw 20M
qemu-img convert -f raw -O qcow2 src.raw q.qcow2 && same_as_qemu q.qcow2 "qemu-img convert"
qemu-img convert -c -f raw -O qcow2 src.raw qz.qcow2 && same_as_qemu qz.qcow2 "compressed deflate"
if qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd src.raw qzs.qcow2 2>/dev/null; then
    same_as_qemu qzs.qcow2 "compressed zstd"
    # Writing over compressed clusters: COW into a new cluster, the old one freed.
    "$tool" write qzs.qcow2 100000 5000 9 && check_clean qzs.qcow2 "write over zstd clusters"
    same_as_qemu qzs.qcow2 "zstd after write"
else echo "skip zstd (qemu-img without zstd)"; fi
"$tool" write qz.qcow2 100000 5000 9 && check_clean qz.qcow2 "write over deflate clusters"
same_as_qemu qz.qcow2 "deflate after write"
qemu-img convert -f raw -O qcow2 -o compat=0.10 src.raw v2.qcow2 && same_as_qemu v2.qcow2 "v2 image"
"$tool" write v2.qcow2 5000000 300000 5 && "$tool" zero v2.qcow2 0 131072 && check_clean v2.qcow2 "v2 after writes"
same_as_qemu v2.qcow2 "v2 after writes"
for rb in 1 2 4 8 32 64; do
    rm -f r.qcow2
    qemu-img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4096 r.qcow2 16M
    "$tool" write r.qcow2 4000 3000000 $rb && "$tool" discard r.qcow2 1048576 1048576 &&
        "$tool" write r.qcow2 1048576 9000 7 || fail "writes refcount_bits=$rb"
    check_clean r.qcow2 "refcount_bits=$rb"
    same_as_qemu r.qcow2 "refcount_bits=$rb"
done

# 4. Backing files: qemu-img's overlay over raw and over qcow2; COW of partial clusters.
mkraw base.raw 16M
qemu-img convert -f raw -O qcow2 base.raw base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2
same_as_qemu ov.qcow2 "overlay over qcow2, untouched"
"$tool" write ov.qcow2 3000 100 1 && "$tool" write ov.qcow2 70000 200000 2 || fail "overlay writes"
"$tool" discard ov.qcow2 1048576 65536
check_clean ov.qcow2 "overlay after partial writes"
same_as_qemu ov.qcow2 "overlay after partial writes (COW)"
qemu-img create -q -f qcow2 -b base.raw -F raw ovr.qcow2
"$tool" write ovr.qcow2 65530 20 3 && same_as_qemu ovr.qcow2 "overlay over raw, write across clusters"
# Our overlay, relative backing name, two levels: ours2 -> ov.qcow2 -> base.qcow2.
rm -f ours2.qcow2
"$tool" create ours2.qcow2 0 16 ov.qcow2 && "$tool" write ours2.qcow2 12345 70000 4 || fail "our overlay"
check_clean ours2.qcow2 "our overlay"
same_as_qemu ours2.qcow2 "our overlay, 3-image chain"
[ "$(qemu-img info --output=json ours2.qcow2 | grep -c '"backing-filename-format": "qcow2"')" -ge 1 ] &&
    pass "backing format recorded" || fail "backing format not recorded"

# 4b. Streaming a backing file into its overlay (the snapshot tree's merge on delete):
# ours2 -> ov -> base becomes out -> base; qemu-img must find it clean, reading as ours2 did,
# backed by base.qcow2. And over a compressed qemu-img image without a backing file.
rm -f stream.qcow2
"$tool" stream ours2.qcow2 stream.qcow2 || fail "stream"
check_clean stream.qcow2 "streamed overlay"
qemu-img compare ours2.qcow2 stream.qcow2 >/dev/null && pass "streamed reads as the chain" ||
    fail "streamed image differs"
[ "$(qemu-img info --output=json --backing-chain stream.qcow2 | grep -c '"filename"')" -eq 2 ] &&
    qemu-img info stream.qcow2 | grep -q "backing file: .*base.qcow2" &&
    pass "streamed image backs onto base.qcow2" || fail "streamed image's backing chain"
qemu-img convert -c -f raw -O qcow2 base.raw cbase.qcow2
rm -f cov.qcow2 cstream.qcow2
"$tool" create cov.qcow2 0 16 cbase.qcow2 qcow2 && "$tool" write cov.qcow2 100000 300000 5 &&
    "$tool" zero cov.qcow2 1048576 131072 && "$tool" stream cov.qcow2 cstream.qcow2 ||
    fail "stream over a compressed image"
check_clean cstream.qcow2 "streamed over compressed"
qemu-img compare cov.qcow2 cstream.qcow2 >/dev/null && pass "streamed over compressed reads the same" ||
    fail "streamed over compressed differs"
qemu-img info cstream.qcow2 | grep -q "backing file" && fail "streamed image kept a backing file" ||
    pass "streamed over a base without backing: no backing file"

# 5. Large sparse virtual size (> 4 GiB) and refcount table growth with tiny clusters.
rm -f big.qcow2 big.raw
"$tool" create big.qcow2 10G 16 && "$tool" write big.qcow2 $((5 * 1024 * 1024 * 1024 + 7)) 100000 8 &&
    "$tool" write big.qcow2 $((10 * 1024 * 1024 * 1024 - 4096)) 4096 9 || fail "big writes"
check_clean big.qcow2 "10 GiB sparse"
truncate -s 10G big.raw
"$tool" dump big.qcow2 big.raw && qemu-img compare -f qcow2 -F raw big.qcow2 big.raw >/dev/null &&
    pass "compare 10 GiB" || fail "compare 10 GiB"
rm -f small.qcow2 small.raw
mkraw small.raw 40M
"$tool" create small.qcow2 40M 9 && "$tool" load small.qcow2 small.raw || fail "512-byte clusters"
check_clean small.qcow2 "512-byte clusters, refcount table grown"
qemu-img compare -f qcow2 -F raw small.qcow2 small.raw >/dev/null && pass "compare 512-byte clusters" || fail "compare 512-byte clusters"
rm -f big.raw small.raw

# 6. Crash safety: SIGKILL a writer at random moments; never corruption (exit 2).
for cb in 16 9; do
    rm -f crash.qcow2
    qemu-img create -q -f qcow2 -o cluster_size=$((1 << cb)) crash.qcow2 64M
    for round in 1 2 3 4 5 6; do
        "$tool" hammer crash.qcow2 $((round * 7 + cb)) &
        pid=$!
        sleep "0.$(( (RANDOM % 60) + 5 ))"
        kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
        qemu-img check crash.qcow2 >check.out 2>&1; rc=$?
        if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then :; else
            fail "crash round $round cb=$cb: qemu-img check exit $rc"; cat check.out; break
        fi
        [ $round -eq 6 ] && pass "6 SIGKILL rounds cb=$cb, no corruption ($(grep -c leaked check.out) leak lines)"
    done
done

# 7. Hostile images: each damaged copy is refused at open with one clear line, or (for damage
# found only when a cluster is used) reads fail with EIO, never a crash.
qemu-img convert -f raw -O qcow2 src.raw good.qcow2
damage() { # name offset bytes(hex)
    cp good.qcow2 "$1"; printf "$3" | dd of="$1" bs=1 seek=$2 conv=notrunc status=none
}
l1=$(( $(od -An -tu1 -j40 -N8 good.qcow2 | awk '{v=0; for(i=1;i<=NF;i++) v=v*256+$i; print v}') ))
damage bad-magic.qcow2 0 'XXXX'
damage bad-version.qcow2 7 '\x07'
damage bad-cluster.qcow2 23 '\x30'
damage bad-l1off.qcow2 47 '\x01'
damage bad-rt.qcow2 48 '\x7f'
damage bad-l1size.qcow2 36 '\x7f'
damage bad-incompat.qcow2 79 '\x80'
damage bad-l1entry.qcow2 $((l1 + 1)) '\x7f'
cp good.qcow2 trunc.qcow2; truncate -s 100000 trunc.qcow2
for f in bad-magic bad-version bad-cluster bad-l1off bad-rt bad-l1size bad-incompat bad-l1entry trunc; do
    msg=$("$tool" open $f.qcow2 ro qcow2)
    if [ $? -ne 0 ] && [ -n "$msg" ] && [ "$(echo "$msg" | wc -l)" -eq 1 ]; then
        pass "refused $f: $msg"
    else
        # Truncation past the metadata: refused when a cluster beyond EOF is used.
        if [ $f = trunc ] && ! "$tool" dump $f.qcow2 /dev/null 2>/dev/null; then
            pass "truncated image: EIO on use"
        else fail "not refused: $f ($msg)"; fi
    fi
done
damage dirty.qcow2 79 '\x01'
"$tool" open dirty.qcow2 rw >/dev/null && fail "dirty image opened writable" || pass "dirty image refused writable"
"$tool" open dirty.qcow2 ro >/dev/null && pass "dirty image opens read-only" || fail "dirty image refused read-only"

echo "$fails failure(s)"
[ $fails -eq 0 ]
