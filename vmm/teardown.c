// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Asynchronous VM tear-down (teardown.h). The helper is a clone(CLONE_VM) task: it shares the
 * address space, so this process's exit does not unmap guest RAM (the last mm user does), and
 * it gets a copy of the fd table, which it closes at once except for its socket. It then waits
 * for the VM fd (SCM_RIGHTS) and for EOF, closes the VM fd and exits. It runs on its own static
 * stack and calls only raw system calls: it shares the heap, the TLS and libc's state with a
 * running process, so no libc function (errno, locks, malloc) may be touched from it.
 */
#include "vmm/teardown.h"

#include <errno.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HELPER_STACK (16 * 1024)

static alignas(64) unsigned char helper_stack[HELPER_STACK];

/* Raw system calls for the helper: libc's wrappers would write the shared errno. */
__attribute__((no_sanitize("address", "undefined"))) static long
raw6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

__attribute__((no_sanitize("address", "undefined"))) static int helper_main(void *arg)
{
    int sock = (int)(intptr_t)arg;
    /* Every inherited fd but the socket: stdio pipes must see EOF when the engine exits. */
    if (sock > 0) {
        raw6(SYS_close_range, 0, sock - 1, 0, 0, 0, 0);
    }
    raw6(SYS_close_range, (long)sock + 1, ~0U, 0, 0, 0, 0);
    raw6(SYS_prctl, PR_SET_NAME, (long)"deskvm-teardown", 0, 0, 0, 0);

    int held[8];
    unsigned nheld = 0;
    for (;;) {
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf)};
        long n = raw6(SYS_recvmsg, sock, (long)&msg, MSG_CMSG_CLOEXEC, 0, 0, 0);
        if (n == -EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* EOF: the engine closed its end or exited */
        }
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int))) {
            int fd;
            __builtin_memcpy(&fd, CMSG_DATA(c), sizeof(fd));
            if (nheld < sizeof(held) / sizeof(held[0])) {
                held[nheld++] = fd;
            } else {
                raw6(SYS_close, fd, 0, 0, 0, 0, 0);
            }
        }
    }
    /* The last references: the kernel destroys the VM here, not in the engine's close/exit. */
    for (unsigned i = 0; i < nheld; i++) {
        raw6(SYS_close, held[i], 0, 0, 0, 0, 0);
    }
    raw6(SYS_close, sock, 0, 0, 0, 0, 0);
    /* Returning makes glibc's clone trampoline call exit: the last mm user unmaps guest RAM. */
    return 0;
}

int teardown_start(struct teardown *td)
{
    td->sock = -1;
    td->pid = -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    /* The helper starts with every signal blocked: a Ctrl-C to the process group must not
     * end it before it has closed what it holds (it ends on EOF instead). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* Not CLONE_FILES: the helper has its own copy of the fd table and closes it down. Exit
     * signal 0: the engine never waits for it; once the engine has exited it is reparented
     * and reaped like any orphan. */
    pid_t pid =
        clone(helper_main, helper_stack + sizeof(helper_stack), CLONE_VM, (void *)(intptr_t)sv[1]);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -saved;
    }
    td->sock = sv[0];
    td->pid = pid;
    return 0;
}

void teardown_hand_over(struct teardown *td, int fd)
{
    if (td->sock < 0 || fd < 0) {
        return;
    }
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    /* Once sendmsg returns, the message holds a reference to the file. */
    while (sendmsg(td->sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

void teardown_finish(struct teardown *td)
{
    if (td->sock >= 0) {
        close(td->sock);
        td->sock = -1;
    }
}
