#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-qmp-powerdown: QMP system_powerdown presses the ACPI power button; the powerbutton
guest (tests/guest/tests/powerbutton.c) takes the SCI, checks and clears PWRBTN_STS and enters
S5, and the engine powers off.

usage: test-qmp-powerdown.py DESKVM_VM POWERBUTTON_ELF

Proves: system_powerdown -> {} and POWERDOWN; the SCI reaches a guest that routed IRQ 9 as the
MADT says; PWRBTN_STS is set and write-1-clears; S5 through PM1a_CNT -> SHUTDOWN
{guest: true, reason: guest-shutdown}; the socket closes and the exit status is 0.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm  # noqa: E402


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    vm = Engine(binary, ["--kernel", elf, "--append", "timeout=30"])
    try:
        c = vm.qmp()
        vm.wait_serial("waiting for the power button")
        check(c.cmd("system_powerdown") == {}, "system_powerdown returned something")
        c.event("POWERDOWN")
        ev = c.event("SHUTDOWN")
        data = ev.get("data", {})
        check(data.get("guest") is True and data.get("reason") == "guest-shutdown",
              "SHUTDOWN event %r" % ev)
        while True:
            msg = c.recv()
            if msg is None:
                break
            check("event" in msg, "unexpected message after SHUTDOWN: %r" % msg)
        rc = vm.wait_exit()
        log = vm.serial()
        check("power button pressed" in log, "the guest did not see the button: %r" % log)
        check("FAIL" not in log, "guest log: %r" % log)
        check(rc == 0, "exit status %d (stderr %r, serial %r)" % (rc, vm.stderr(), log))
        check(not os.path.exists(vm.qmp_path), "the QMP socket file is still there")
    finally:
        vm.cleanup()


main(run)
