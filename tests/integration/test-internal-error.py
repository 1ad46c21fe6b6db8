#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-internal-error: a guest instruction the engine cannot run stops the VM with a report
(docs/emulation-failures.md, docs/exit-status.md). The emuerr guest executes cmpxchg16b at CPL0,
which a host that interprets CPL0 (our PVM development host) hands back to the engine, and the
engine refuses to emulate; after a reset the guest skips it and PASSes.

usage: test-internal-error.py DESKVM_VM EMUERR_ELF

Proves: without --qmp, exit status 3 and a report on stderr naming RIP and the disassembly;
with --qmp, STOP, query-status "internal-error", cont refused, system_reset -> RESET and the
guest runs again (PASS, exit 33). On a host that runs cmpxchg16b itself (VT-x/AMD-V), the
guest simply PASSes and the test SKIPs.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, skip  # noqa: E402

EXIT_GUEST_ERROR = 3
EXIT_GUEST_PASS = 33


def without_qmp(binary, elf):
    vm = Engine(binary, ["--kernel", elf], qmp=False)
    try:
        rc = vm.wait_exit(20)
        if rc == EXIT_GUEST_PASS and "cmpxchg16b ran" in vm.serial():
            skip("this host runs cmpxchg16b at CPL0: no emulation failure to test")
        err = vm.stderr()
        check(rc == EXIT_GUEST_ERROR, "exit status %d, want 3 (stderr %r)" % (rc, err))
        check("RIP" in err, "no RIP in the report: %r" % err)
        check("cmpxchg16b" in err and "disassembly" in err,
              "no disassembly of cmpxchg16b in the report: %r" % err)
        check("rax=" in err, "no registers in the report: %r" % err)
    finally:
        vm.cleanup()


def with_qmp(binary, elf):
    # Paused at start, so this client is negotiated before the guest runs into the error.
    vm = Engine(binary, ["--kernel", elf, "--paused"])
    try:
        c = vm.qmp()
        check(c.status() == "paused", "--paused: status %r" % c.status())
        c.cmd("cont")
        c.event("RESUME")
        c.event("STOP", 20)
        st = c.cmd("query-status")
        check(st["status"] == "internal-error" and st["running"] is False,
              "query-status %r" % st)
        check("cmpxchg16b" in vm.stderr(), "no report on stderr: %r" % vm.stderr())
        e = c.error("cont")
        check(e["class"] == "GenericError" and "reset" in e["desc"].lower(),
              "cont in internal-error: %r" % e)
        check(c.status() == "internal-error", "cont changed the state")
        c.cmd("system_reset")
        ev = c.event("RESET")
        check(ev.get("data", {}).get("guest") is False, "RESET event %r" % ev)
        vm.wait_serial("recovered after reset")
        ev = c.event("SHUTDOWN")
        check(ev.get("data", {}).get("guest") is True, "SHUTDOWN event %r" % ev)
        rc = vm.wait_exit()
        check(rc == EXIT_GUEST_PASS, "exit status %d after the reset, want 33 (serial %r)"
              % (rc, vm.serial()))
    finally:
        vm.cleanup()


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    without_qmp(binary, elf)
    with_qmp(binary, elf)


main(run)
