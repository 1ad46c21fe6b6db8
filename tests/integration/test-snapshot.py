#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot: checkpoints over QMP and --restore (docs/snapshot-format.md, docs/qmp.md)
on the snapshot guest, which keeps 64 MiB of patterned RAM that it checks and rewrites on
every PIT-driven "count N" line (tests/guest/tests/snapshot.c).

usage: test-snapshot.py DESKVM_VM SNAPSHOT_ELF

Proves: snapshot-save of a running VM returns with the VM running and the guest counting on;
snapshot-load takes the guest back to the count it had at the save, with its memory intact
(the guest checks every slice) and the PIT and serial port working; loading the same file a
second time does the same, and a paused VM saved, loaded and saved again gives the same RAM,
device, irqchip and register state; a 2-vCPU VM saves and loads mid-run; a zstd checkpoint and a load without the RAM checksum work too;
a save while paused leaves the VM paused; corrupted (bit-flipped RAM, device section),
truncated and missing files are refused with an error naming the section and the VM keeps
running untouched; an engine killed (SIGKILL) during a save over an earlier checkpoint
leaves a whole file at that path; deskvm-vm --restore starts a fresh engine from the file at the same
count; --restore of a corrupt file exits 1 with the section named.
"""
import os
import ctypes
import re
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, wait_for  # noqa: E402

COUNT_RE = re.compile(r"count (\d+)\r?\n")


def counts(text):
    return [int(m.group(1)) for m in COUNT_RE.finditer(text)]


def last_count(vm):
    c = counts(vm.serial())
    return c[-1] if c else 0


def save_count(vm):
    """The count a checkpoint just taken holds, read after the save returned: the last whole
    "count N" line, plus one when the serial ends inside a line (the pause fell between two
    bytes of the next one: the restored guest prints its rest, then N + 2)."""
    text = vm.serial()
    c = counts(text)
    n = c[-1] if c else 0
    return n + 1 if text and not text.endswith("\n") else n


def wait_count(vm, n, since=0, timeout=20):
    """Waits until a "count K" line with K >= n appears after serial offset since."""
    def seen():
        return any(k >= n for k in counts(vm.serial()[since:]))
    wait_for(seen, timeout, lambda: "count %d after offset %d (serial ends %r)"
             % (n, since, vm.serial()[-200:]))


def check_guest_ok(vm):
    s = vm.serial()
    check("MISMATCH" not in s and "FAIL" not in s, "the guest reports: %r" % s[-400:])


def check_resumes_at(vm, c, path, n_save, what, args=None):
    """snapshot-load path: the guest goes back to n_save and counts on from there."""
    before = vm.serial_size()
    top = last_count(vm)
    check(top >= n_save + 3, "%s: the guest has not moved on since the save (%d)" % (what, top))
    args = dict(args or {}, file=path)
    t = time.monotonic()
    check(c.cmd("snapshot-load", args, timeout=60) == {}, "snapshot-load returned something")
    took = time.monotonic() - t
    check(c.status() == "running", "%s: status after snapshot-load" % what)

    def restored():
        """Counts since the mark, less those the old run printed between the mark and the
        pause (a loaded host can fit a tick there): they continue from top."""
        after = counts(vm.serial()[before:])
        prev = top
        while after and after[0] == prev + 1 and after[0] > n_save + 1:
            prev = after.pop(0)
        return after

    wait_for(lambda: any(k >= n_save + 4 for k in restored()), 20,
             lambda: "%s: count %d after the load (serial ends %r)"
             % (what, n_save + 4, vm.serial()[-200:]))
    after = restored()
    check(after and after[0] <= n_save + 1,
          "%s: the first count after the load is %r, the checkpoint was taken at %d"
          % (what, after[:3], n_save))
    check(after == list(range(after[0], after[0] + len(after))),
          "%s: counts after the load are not consecutive: %r" % (what, after))
    check_guest_ok(vm)
    print("%s: back at count %d (was %d), load took %.1f ms" % (what, after[0], top, took * 1000))


def flip(src, dst, offset):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x10]))


def section_offset(path, wanted_type, name=None):
    """Offset of the payload of the first section of a type (format: docs/snapshot-format.md)."""
    with open(path, "rb") as f:
        data = f.read(1 << 20)
    pos = 64
    while pos + 64 <= len(data):
        typ, _idx, length = struct.unpack_from("<IIQ", data, pos)
        sname = data[pos + 16:pos + 48].rstrip(b"\0").decode()
        if typ == wanted_type and (name is None or sname == name):
            return pos + 64, length
        pos = (pos + 64 + length + 7) & ~7
    raise AssertionError("no section of type %d in %s" % (wanted_type, path))


def xxh3(data):
    """XXH3-64 through libxxhash (the engine's checksum), or None without the library."""
    try:
        lib = ctypes.CDLL("libxxhash.so.0")
    except OSError:
        return None
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lib.XXH3_64bits(bytes(data), len(data))


def reseal_device(src, dst, name, offset, value):
    """Copies src to dst with one byte of device section name's payload set to value and
    every checksum recomputed: a well-formed file whose device state is bad. False without
    libxxhash."""
    with open(src, "rb") as f:
        data = bytearray(f.read())
    if xxh3(b"") is None:
        return False
    at, length = section_offset(src, 3, name)
    data[at + offset] = value
    h = at - 64
    struct.pack_into("<Q", data, h + 48, xxh3(data[at:at + length]))
    struct.pack_into("<Q", data, h + 56, xxh3(data[h:h + 56]))
    with open(dst, "wb") as f:
        f.write(data)
    return True


def sections(path):
    """{(type, index): payload bytes} and the RAM page data of a checkpoint file."""
    with open(path, "rb") as f:
        data = f.read()
    out = {}
    pos = 64
    while pos + 64 <= len(data):
        typ, idx, length = struct.unpack_from("<IIQ", data, pos)
        out[(typ, idx)] = data[pos + 64:pos + 64 + length]
        pos = (pos + 64 + length + 7) & ~7
        if typ == 8:
            break
    data_off = struct.unpack_from("<Q", out[(8, 0)], 16)[0]
    return out, data[data_off:]


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    vm = Engine(binary, ["--kernel", elf, "--memory", "256M", "--append", "mem=256M mib=64"])
    fresh = None
    try:
        c = vm.qmp()
        wait_count(vm, 5)
        snap = os.path.join(vm.tmp, "a.dvs")
        check(c.cmd("snapshot-save", {"file": snap}, timeout=60) == {}, "snapshot-save")
        n_save = save_count(vm)
        check(c.status() == "running", "status after snapshot-save")
        check(os.path.getsize(snap) > 64 << 20, "the checkpoint is smaller than the guest's data")
        check(not [f for f in os.listdir(vm.tmp) if ".tmp." in f], "temporary file left behind")
        print("saved at count %d: %d bytes" % (n_save, os.path.getsize(snap)))
        wait_count(vm, n_save + 5)
        check_guest_ok(vm)

        check_resumes_at(vm, c, snap, n_save, "first load")
        wait_count(vm, n_save + 8, since=vm.serial_size())
        check_resumes_at(vm, c, snap, n_save, "second load of the same file")
        wait_count(vm, n_save + 8, since=vm.serial_size())
        check_resumes_at(vm, c, snap, n_save, "load without the RAM checksum",
                         {"verify-ram": False})

        # zstd: smaller, and restores the same way (copied, not mapped).
        z = os.path.join(vm.tmp, "z.dvs")
        check(c.cmd("snapshot-save", {"file": z, "zstd": True}, timeout=60) == {}, "zstd save")
        nz = save_count(vm)
        check(os.path.getsize(z) < os.path.getsize(snap), "zstd file is not smaller")
        wait_count(vm, nz + 4, since=vm.serial_size())
        check_resumes_at(vm, c, z, nz, "zstd load")

        # Paused VM: save and load keep it paused.
        c.cmd("stop")
        c.event("STOP")
        p = os.path.join(vm.tmp, "p.dvs")
        check(c.cmd("snapshot-save", {"file": p}, timeout=60) == {}, "save while paused")
        check(c.status() == "paused", "a save while paused resumed the VM")
        check(c.cmd("snapshot-load", {"file": snap}, timeout=60) == {}, "load while paused")
        check(c.status() == "paused", "a load while paused resumed the VM")
        # Same file, same result: paused, save -> load -> save gives the same RAM, devices,
        # interrupt controllers and configuration (vCPU sections differ in the TSC, PIT and
        # clock sections in timestamps: time passes).
        p2 = os.path.join(vm.tmp, "p2.dvs")
        p3 = os.path.join(vm.tmp, "p3.dvs")
        c.cmd("snapshot-save", {"file": p2}, timeout=60)
        c.cmd("snapshot-load", {"file": p2}, timeout=60)
        c.cmd("snapshot-save", {"file": p3}, timeout=60)
        s2, ram2 = sections(p2)
        s3, ram3 = sections(p3)
        check(ram2 == ram3, "RAM differs after save -> load -> save of a paused VM")
        same = [k for k in s2 if k[0] in (1, 2, 3, 5)]
        check(len(same) >= 4 and all(s2[k] == s3.get(k) for k in same),
              "sections differ after save -> load -> save: %r"
              % [k for k in same if s2[k] != s3.get(k)])
        for k in s2:
            if k[0] == 4:  # vCPU: the registers (after the 24-byte prefix) are identical
                check(s2[k][24:24 + 144] == s3[k][24:24 + 144], "vCPU %d registers differ" % k[1])
        c.cmd("cont")
        c.event("RESUME")

        # Bad files: refused, the section named, the VM running on as it was.
        ram_off = (os.path.getsize(snap) + os.path.getsize(snap) // 2) // 2 & ~7
        dev_off, _ = section_offset(snap, 3, "uart16550")
        bad = [
            ("ram", lambda d: flip(snap, d, ram_off), "ram section"),
            ("device", lambda d: flip(snap, d, dev_off + 9), "device section 'uart16550'"),
            ("header", lambda d: flip(snap, d, 8), "header"),
            ("truncated", lambda d: (shutil.copyfile(snap, d),
                                     os.truncate(d, os.path.getsize(snap) - 4096)), "truncated"),
        ]
        for what, make, expect in bad:
            d = os.path.join(vm.tmp, "bad-" + what + ".dvs")
            make(d)
            before = last_count(vm)
            at = vm.serial_size()
            e = c.error("snapshot-load", {"file": d})
            check(expect in e["desc"], "%s: error %r does not name %r" % (what, e, expect))
            check(c.status() == "running", "%s: VM not running after a refused load" % what)
            wait_count(vm, before + 2, since=at)
            now = counts(vm.serial())
            check(now[-1] >= before + 2 and now[-3:] == list(range(now[-3], now[-3] + 3)),
                  "%s: the guest did not count on untouched: %r" % (what, now[-5:]))
            print("%s: refused: %s" % (what, e["desc"]))
        # Checksums right, state wrong: the UART's post_load refuses reserved IER bits after
        # the RAM was already switched; the engine must switch back and put the state back.
        d = os.path.join(vm.tmp, "bad-ier.dvs")
        if reseal_device(snap, d, "uart16550", 8 + 2, 0xff):
            before = last_count(vm)
            at = vm.serial_size()
            e = c.error("snapshot-load", {"file": d})
            check("'uart16550'" in e["desc"] and "refuses" in e["desc"],
                  "refused device state: %r" % e)
            wait_count(vm, before + 3, since=at)
            now = counts(vm.serial()[at:])
            check(now[0] >= before and now == list(range(now[0], now[0] + len(now))),
                  "after a refused device state the guest did not count on: %r" % now[:6])
            check_guest_ok(vm)
            print("device state refused after the RAM switch: %s; the guest counts on from %d"
                  % (e["desc"], now[0]))
        e = c.error("snapshot-load", {"file": os.path.join(vm.tmp, "none.dvs")})
        check("No such file" in e["desc"], "missing file: %r" % e)
        e = c.error("snapshot-save", {"file": "/nonexistent-dir/x.dvs"})
        check("/nonexistent-dir" in e["desc"], "save to a bad path: %r" % e)
        check_guest_ok(vm)

        # SIGKILL during a save over an existing checkpoint: the old one stays whole, or the
        # new one is complete; never a partial file at that path.
        victim = Engine(binary, ["--kernel", elf, "--memory", "256M", "--append",
                                 "mem=256M mib=64"])
        try:
            vc = victim.qmp()
            wait_count(victim, 2)
            kp = os.path.join(victim.tmp, "k.dvs")
            vc.cmd("snapshot-save", {"file": kp}, timeout=60)
            with open(kp, "rb") as f:
                old = f.read()
            vc.send_raw('{"execute": "snapshot-save", "arguments": {"file": "%s"}}\n' % kp)
            time.sleep(0.02)
            victim.proc.kill()
            victim.proc.wait()
            with open(kp, "rb") as f:
                now = f.read()
            size_in_header = struct.unpack_from("<Q", now, 24)[0]
            check(now == old or (now[:8] == b"DVMSNAP\x1a" and size_in_header == len(now)),
                  "a killed save left a partial checkpoint (%d bytes, header says %d)"
                  % (len(now), size_in_header))
            print("killed during a save: the checkpoint at the path is %s"
                  % ("the old one" if now == old else "the new, complete one"))
        finally:
            victim.cleanup()

        # Two vCPUs (the second waits for a SIPI that never comes): save and load mid-run.
        smp = Engine(binary, ["--kernel", elf, "--cpus", "2", "--memory", "256M", "--append",
                              "mem=256M mib=16"])
        try:
            sc = smp.qmp()
            wait_count(smp, 3)
            sp = os.path.join(smp.tmp, "smp.dvs")
            sc.cmd("snapshot-save", {"file": sp}, timeout=60)
            ns = last_count(smp)
            wait_count(smp, ns + 4, since=smp.serial_size())
            check_resumes_at(smp, sc, sp, ns, "2 vCPUs")
        finally:
            smp.cleanup()

        # --restore: a fresh engine from the file, same count, same memory.
        fresh = Engine(binary, ["--restore", snap])
        fc = fresh.qmp()
        check(fc.status() == "running", "status of the restored engine")
        wait_count(fresh, n_save + 4)
        got = counts(fresh.serial())
        check(got[0] <= n_save + 1 and got == list(range(got[0], got[0] + len(got))),
              "--restore: counts %r, the checkpoint was taken at %d" % (got[:5], n_save))
        check_guest_ok(fresh)
        fc.cmd("quit")
        check(fresh.wait_exit() == 0, "restored engine exit status")

        p2 = subprocess.run([binary, "--restore", os.path.join(vm.tmp, "bad-device.dvs"),
                             "--serial", "null"], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=30)
        check(p2.returncode == 1 and b"uart16550" in p2.stderr,
              "--restore of a corrupt file: %d %r" % (p2.returncode, p2.stderr))
        p3 = subprocess.run([binary, "--restore", snap, "--memory", "512M"],
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        check(p3.returncode == 1 and b"--restore" in p3.stderr,
              "--restore with --memory: %d %r" % (p3.returncode, p3.stderr))

        c.cmd("quit")
        check(vm.wait_exit() == 0, "exit status after quit")
    finally:
        vm.cleanup()
        if fresh:
            fresh.cleanup()


if __name__ == "__main__":
    main(run)
