// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kernel loader front end: reads the kernel file, picks the loader by format (PVH ELF, vmlinux
 * ELF, bzImage per Documentation/arch/x86/boot.rst) and places the command line and initrd.
 */
#include "vmm/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/boot_internal.h"
#include "vmm/memory.h"

#define PAGE_SIZE 0x1000ull

int boot_fail(struct boot_ctx *ctx, int ret, const char *fmt, ...)
{
    if (ctx->err && ctx->errlen) {
        int n = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->kname);
        if (n >= 0 && (size_t)n < ctx->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return ret;
}

int boot_place_cmdline(struct boot_ctx *ctx, uint64_t max_len)
{
    const char *cmdline = ctx->cfg->cmdline ? ctx->cfg->cmdline : "";
    size_t len = strlen(cmdline);
    if (max_len > BOOT_CMDLINE_MAX - 1) {
        max_len = BOOT_CMDLINE_MAX - 1;
    }
    if (len > max_len) {
        return boot_fail(ctx, -E2BIG, "command line is %zu bytes, the kernel takes at most %llu",
                         len, (unsigned long long)max_len);
    }
    char *p = guest_mem_ptr(ctx->mem, BOOT_CMDLINE_ADDR, len + 1);
    if (!p) {
        return boot_fail(ctx, -ENOMEM, "no RAM for the command line at 0x%llx",
                         (unsigned long long)BOOT_CMDLINE_ADDR);
    }
    memcpy(p, cmdline, len + 1);
    return 0;
}

static int blob_copy(const struct boot_blob *b, uint8_t *dst)
{
    if (b->data) {
        memcpy(dst, b->data, b->size);
        return 0;
    }
    uint64_t done = 0;
    while (done < b->size) {
        ssize_t n = pread(b->fd, dst + done, b->size - done, (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return -EIO; /* the file shrank under us */
        }
        done += (uint64_t)n;
    }
    return 0;
}

int boot_place_initrd(struct boot_ctx *ctx, uint64_t kernel_end, uint64_t max_addr, uint64_t *addr,
                      uint64_t *size)
{
    const struct boot_blob *b = ctx->initrd;
    *addr = 0;
    *size = 0;
    if (!b) {
        return 0;
    }
    /* Messages about the initrd name the initrd file, not the kernel. */
    struct boot_ctx ictx = *ctx;
    ictx.kname = b->name;
    if (b->size == 0) {
        return boot_fail(&ictx, -EINVAL, "initrd is empty");
    }
    if (b->size > ctx->mem->size / 2) {
        return boot_fail(&ictx, -EFBIG, "initrd is %llu MiB, more than half of guest RAM",
                         (unsigned long long)(b->size >> 20));
    }
    uint64_t limit = max_addr + 1; /* exclusive */
    uint64_t low_top = guest_mem_low_top(ctx->mem);
    if (limit > low_top) {
        limit = low_top;
    }
    uint64_t floor = (kernel_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (floor < HIGH_RAM_START) {
        floor = HIGH_RAM_START;
    }
    /* Highest page-aligned spot inside one RAM entry of the map the guest is told. */
    uint64_t best = 0;
    bool found = false;
    for (unsigned i = 0; i < ctx->e820.n; i++) {
        const struct e820_entry *e = &ctx->e820.e[i];
        if (e->type != E820_RAM) {
            continue;
        }
        uint64_t top = e->addr + e->size;
        if (top > limit) {
            top = limit;
        }
        if (top < b->size) {
            continue;
        }
        uint64_t start = (top - b->size) & ~(PAGE_SIZE - 1);
        if (start < e->addr || start < floor) {
            continue;
        }
        if (!found || start > best) {
            best = start;
            found = true;
        }
    }
    uint8_t *dst = found ? guest_mem_ptr(ctx->mem, best, b->size) : NULL;
    if (!dst) {
        return boot_fail(&ictx, -ENOSPC,
                         "initrd of %llu bytes does not fit in RAM between the kernel end "
                         "0x%llx and 0x%llx",
                         (unsigned long long)b->size, (unsigned long long)floor,
                         (unsigned long long)limit);
    }
    int r = blob_copy(b, dst);
    if (r < 0) {
        return boot_fail(&ictx, r, "cannot read initrd: %s", strerror(-r));
    }
    *addr = best;
    *size = b->size;
    return 0;
}

int boot_load_buffer(const struct guest_mem *mem, const struct boot_config *cfg,
                     const uint8_t *kernel, size_t ksize, const struct boot_blob *initrd,
                     struct boot_entry *out, char *err, size_t errlen)
{
    struct boot_ctx ctx = {
        .mem = mem,
        .cfg = cfg,
        .kname = cfg->kernel ? cfg->kernel : "kernel",
        .initrd = initrd,
        .err = err,
        .errlen = errlen,
    };
    if (err && errlen) {
        err[0] = '\0';
    }
    memset(out, 0, sizeof(*out));
    if (cfg->e820) {
        if (cfg->e820->n > E820_MAX) {
            return boot_fail(&ctx, -EINVAL, "memory map has %u entries, at most %u", cfg->e820->n,
                             E820_MAX);
        }
        ctx.e820 = *cfg->e820;
    } else {
        e820_build(&ctx.e820, mem);
    }
    if (ksize == 0) {
        return boot_fail(&ctx, -ENOEXEC, "kernel file is empty");
    }
    if (ksize > BOOT_KERNEL_MAX) {
        return boot_fail(&ctx, -EFBIG, "kernel file is larger than %llu MiB",
                         BOOT_KERNEL_MAX >> 20);
    }
    if (boot_elf_is_elf(kernel, ksize)) {
        struct boot_elf_info info;
        int r = boot_elf_load(&ctx, kernel, ksize, &info);
        if (r < 0) {
            return r;
        }
        if (info.has_pvh) {
            return boot_pvh_finish(&ctx, &info, out);
        }
        return boot_linux_vmlinux(&ctx, &info, out);
    }
    if (boot_linux_is_bzimage(kernel, ksize)) {
        return boot_linux_bzimage(&ctx, kernel, ksize, out);
    }
    return boot_fail(&ctx, -ENOEXEC, "not a PVH ELF, vmlinux or bzImage kernel");
}

/* Reads a whole file of at most max bytes; opens it for the caller either way. */
static int open_sized(const char *path, uint64_t max, int *fd_out, uint64_t *size_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static const char *open_error(int r)
{
    switch (r) {
    case -EINVAL:
        return "not a regular file";
    case -EFBIG:
        return "file is too large";
    default:
        return strerror(-r);
    }
}

int boot_load(const struct guest_mem *mem, const struct boot_config *cfg, struct boot_entry *out,
              char *err, size_t errlen)
{
    struct boot_ctx ctx = {
        .kname = cfg->kernel ? cfg->kernel : "kernel", .err = err, .errlen = errlen};
    memset(out, 0, sizeof(*out));
    if (!cfg->kernel) {
        return boot_fail(&ctx, -EINVAL, "no kernel given");
    }
    int kfd;
    uint64_t ksize;
    int r = open_sized(cfg->kernel, BOOT_KERNEL_MAX, &kfd, &ksize);
    if (r < 0) {
        if (r == -EFBIG) {
            return boot_fail(&ctx, r, "kernel file is larger than %llu MiB", BOOT_KERNEL_MAX >> 20);
        }
        return boot_fail(&ctx, r, "cannot open kernel: %s", open_error(r));
    }
    uint8_t *kbuf = malloc(ksize ? ksize : 1);
    if (!kbuf) {
        close(kfd);
        return boot_fail(&ctx, -ENOMEM, "cannot allocate %llu bytes to read it",
                         (unsigned long long)ksize);
    }
    struct boot_blob kblob = {.name = cfg->kernel, .fd = kfd, .size = ksize};
    r = blob_copy(&kblob, kbuf);
    close(kfd);
    if (r < 0) {
        free(kbuf);
        return boot_fail(&ctx, r, "cannot read kernel: %s", strerror(-r));
    }

    struct boot_blob iblob = {.name = cfg->initrd, .fd = -1};
    if (cfg->initrd) {
        /* The RAM/2 bound is applied when placing; here just refuse absurd files early. */
        r = open_sized(cfg->initrd, mem->size, &iblob.fd, &iblob.size);
        if (r < 0) {
            free(kbuf);
            ctx.kname = cfg->initrd;
            if (r == -EFBIG) {
                return boot_fail(&ctx, r, "initrd is larger than guest RAM");
            }
            return boot_fail(&ctx, r, "cannot open initrd: %s", open_error(r));
        }
    }
    r = boot_load_buffer(mem, cfg, kbuf, ksize, cfg->initrd ? &iblob : NULL, out, err, errlen);
    if (iblob.fd >= 0) {
        close(iblob.fd);
    }
    free(kbuf);
    return r;
}

int boot_load_image(const struct guest_mem *mem, const struct boot_config *cfg, const void *kernel,
                    size_t len, struct boot_entry *out, char *err, size_t errlen)
{
    return boot_load_buffer(mem, cfg, kernel, len, NULL, out, err, errlen);
}
