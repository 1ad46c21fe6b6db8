/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Asynchronous VM tear-down: a helper task that takes the last reference to the KVM VM fd and
 * the address space, so the kernel destroys the VM (in-kernel PIC/IOAPIC/PIT, each an SRCU
 * grace period) and frees guest RAM after this process has exited. Like QEMU's
 * `-run-with async-teardown=on`; docs/engine.md "Asynchronous tear-down".
 */
#ifndef DESKVM_TEARDOWN_H
#define DESKVM_TEARDOWN_H

#include <sys/types.h>

struct teardown {
    int sock; /* our end of the socketpair to the helper; -1 without a helper */
    pid_t pid;
};

/*
 * Start the helper. Call early, before other files are opened (the helper closes every fd it
 * inherits except its socket, but opening few keeps that short). Returns 0 or -errno; on error
 * td is left without a helper and tear-down happens in this process as before.
 */
__attribute__((warn_unused_result)) int teardown_start(struct teardown *td);

/*
 * Hand a duplicate of fd (the VM fd) to the helper, which closes it once this process has
 * closed its end of the socket (teardown_finish or exit). Best effort: on failure nothing
 * changes and the caller's close does the destruction. No-op without a helper.
 */
void teardown_hand_over(struct teardown *td, int fd);

/* Close our end: the helper drops what it holds and exits. Accepts a helper-less td. */
void teardown_finish(struct teardown *td);

#endif
