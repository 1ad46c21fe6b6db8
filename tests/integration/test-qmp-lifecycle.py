#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-qmp-lifecycle: the run-state machine over QMP (docs/qmp.md) on the demo guest, which
prints its banner at boot and the RTC time every second until it reads 'q'.

usage: test-qmp-lifecycle.py DESKVM_VM DEMO_ELF

Proves: greeting and capabilities negotiation; query-status; stop -> STOP, paused, and the
guest really stops (its clock output does not grow while paused); cont -> RESUME and the
output grows again; system_reset -> RESET {guest: false} and the guest boots again (banner
twice); malformed JSON, an unknown command, bad arguments -> error replies, VM still running;
two clients at once, both get events; the socket is mode 0600 and a second engine asked to
serve the same path refuses (exit 1) without disturbing the first; quit -> SHUTDOWN, socket
closed, exit status 0, socket file removed.
"""
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, Qmp, check, main, require_kvm, wait_for  # noqa: E402

BANNER = "deskvm demo guest"


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    vm = Engine(binary, ["--kernel", elf])
    try:
        lifecycle(vm)
    finally:
        vm.cleanup()


def lifecycle(vm):
    # Greeting (before negotiation only qmp_capabilities is accepted).
    c = Qmp(vm.qmp_path)
    g = c.greeting["QMP"]
    check("version" in g and g.get("capabilities") == [], "greeting %r" % c.greeting)
    e = c.error("query-status")
    check(e["class"] == "CommandNotFound", "command before negotiation: %r" % e)
    c.negotiate()

    st = c.cmd("query-status")
    check(st["status"] == "running" and st["running"] is True, "query-status %r" % st)
    vm.wait_serial(BANNER)
    # The clock ticks once a second: the log grows.
    size = vm.serial_size()
    wait_for(lambda: vm.serial_size() > size, 5, "the guest's clock output")

    # stop: STOP, paused, and no more guest output.
    check(c.cmd("stop") == {}, "stop returned something")
    c.event("STOP")
    st = c.cmd("query-status")
    check(st["status"] == "paused" and st["running"] is False, "after stop: %r" % st)
    time.sleep(0.3)  # output the guest produced just before the stop reaches the file
    paused_size = vm.serial_size()
    time.sleep(1.5)
    check(vm.serial_size() == paused_size,
          "the guest printed while paused (%d -> %d bytes)" % (paused_size, vm.serial_size()))
    check(c.cmd("stop") == {}, "a second stop failed")
    check(c.status() == "paused", "paused VM after a second stop")

    # cont: RESUME, running, output grows again.
    check(c.cmd("cont") == {}, "cont returned something")
    c.event("RESUME")
    check(c.status() == "running", "status after cont")
    wait_for(lambda: vm.serial_size() > paused_size, 5, "guest output after cont")

    # system_reset: RESET {guest: false}, and the guest boots again.
    check(c.cmd("system_reset") == {}, "system_reset returned something")
    ev = c.event("RESET")
    data = ev.get("data", {})
    check(data.get("guest") is False and data.get("reason") == "host-qmp-system-reset",
          "RESET event %r" % ev)
    vm.wait_serial(BANNER, count=2)
    check(c.status() == "running", "status after system_reset")

    # Bad input: error replies, the session and the VM carry on.
    c.send_raw('{"execute": }\n')
    r = c.reply()
    check(r.get("error", {}).get("class") == "GenericError", "malformed JSON: %r" % r)
    c.send_raw("}\n")
    r = c.reply()
    check("error" in r, "stray bracket: %r" % r)
    e = c.error("no-such-command")
    check(e["class"] == "CommandNotFound", "unknown command: %r" % e)
    c.send_raw('{"execute": "query-status", "arguments": [1]}\n')
    r = c.reply()
    check("error" in r, "arguments not an object: %r" % r)
    e = c.error("stop", {"now": True})
    check("now" in e["desc"], "stop with an unknown argument: %r" % e)
    c.send_raw('{"execute": 42}\n')
    r = c.reply()
    check("error" in r, "execute not a string: %r" % r)
    r = c.execute("query-status")
    check(r["return"]["status"] == "running", "after bad input: %r" % r)
    # id is echoed, also on errors.
    c.send_raw('{"execute": "query-status", "id": "a1"}\n')
    r = c.reply()
    check(r.get("id") == "a1", "id not echoed: %r" % r)

    # The socket controls the VM: owner-only. A second engine must not take it over.
    mode = stat.S_IMODE(os.stat(vm.qmp_path).st_mode)
    check(mode == 0o600, "QMP socket mode %o, want 600" % mode)
    p = subprocess.run(vm.cmdline[:1] + ["--kernel", vm.cmdline[2], "--serial", "null",
                                         "--qmp", "unix:" + vm.qmp_path],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    check(p.returncode == 1 and b"in use" in p.stderr,
          "second engine on the same socket: status %d, %r" % (p.returncode, p.stderr))
    check(c.status() == "running", "the first engine after a second one tried its socket")

    # A second client: both work and both see events.
    c2 = Qmp(vm.qmp_path)
    c2.negotiate()
    check(c2.status() == "running", "second client's query-status")
    c2.cmd("stop")
    c.event("STOP")
    c2.event("STOP")
    check(c.status() == "paused", "first client does not see the pause")
    c.cmd("cont")
    c.event("RESUME")
    c2.event("RESUME")
    c2.close()
    check(c.status() == "running", "first client after the second left")

    # quit: reply, SHUTDOWN, connection closed, exit 0, socket file gone.
    check(c.cmd("quit") == {}, "quit returned something")
    ev = c.event("SHUTDOWN")
    data = ev.get("data", {})
    check(data.get("guest") is False and data.get("reason") == "host-qmp-quit",
          "SHUTDOWN event %r" % ev)
    while True:
        msg = c.recv()
        if msg is None:
            break
        check("event" in msg, "unexpected message after quit: %r" % msg)
    rc = vm.wait_exit()
    check(rc == 0, "exit status %d after quit: %s" % (rc, vm.stderr()))
    check(not os.path.exists(vm.qmp_path), "the QMP socket file is still there after quit")
    check(vm.stderr() == "", "stderr not empty: %r" % vm.stderr())


main(run)
