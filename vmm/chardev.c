// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Character back-ends: stdio (raw terminal when it is a tty, restored at exit), a file, null.
 */
#include "vmm/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_tio;
static int saved_tio_fd = -1;

static void restore_tty(void)
{
    if (saved_tio_fd >= 0) {
        tcsetattr(saved_tio_fd, TCSANOW, &saved_tio);
    }
}

static ssize_t fd_writer(struct chardev *chr, const void *buf, size_t len)
{
    if (chr->out_fd < 0) {
        return (ssize_t)len;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(chr->out_fd, (const char *)buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return done ? (ssize_t)done : -errno;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int chardev_open(struct chardev *chr, const char *spec)
{
    memset(chr, 0, sizeof(*chr));
    chr->write = fd_writer;
    chr->in_fd = -1;
    chr->out_fd = -1;
    if (!strcmp(spec, "null") || !strcmp(spec, "none")) {
        return 0;
    }
    if (!strcmp(spec, "stdio")) {
        chr->in_fd = STDIN_FILENO;
        chr->out_fd = STDOUT_FILENO;
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
            struct termios raw = saved_tio;
            /* Keep ISIG so Ctrl-C still stops the engine from a terminal. */
            raw.c_lflag &= ~(unsigned)(ICANON | ECHO);
            raw.c_iflag &= ~(unsigned)(ICRNL | IXON);
            raw.c_cc[VMIN] = 1;
            raw.c_cc[VTIME] = 0;
            if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
                saved_tio_fd = STDIN_FILENO;
                atexit(restore_tty);
            }
        }
        return 0;
    }
    if (!strncmp(spec, "file:", 5)) {
        int fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            return -errno;
        }
        chr->out_fd = fd;
        return 0;
    }
    return -EINVAL;
}

void chardev_close(struct chardev *chr)
{
    if (!chr) {
        return;
    }
    if (chr->out_fd > STDERR_FILENO) {
        close(chr->out_fd);
    }
    chr->out_fd = chr->in_fd = -1;
}

ssize_t chardev_write(struct chardev *chr, const void *buf, size_t len)
{
    if (!chr || !chr->write) {
        return (ssize_t)len;
    }
    return chr->write(chr, buf, len);
}
