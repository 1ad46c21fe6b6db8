// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoint save and restore for the VM (vmm/snapshot.h): reads the vCPUs, the in-kernel
 * irqchip, PIT and clock through KVM, the devices through their vmstate tables, and hands
 * it all with the RAM to snapshots/snapfile.c. Restores validate the whole file first and
 * keep a copy of the current state to put back if applying fails part-way.
 */
#include "vmm/snapshot.h"

#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshots/devstate.h"
#include "vmm/evloop.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_machine.h"
#include "vmm/vm.h"

#define MSR_IA32_TSC 0x10
/* Lazy restore maps each run of non-zero pages separately: stay well under vm.max_map_count. */
#define LAZY_MAX_EXTENTS 16384
/* Live save: dirty passes with the guest running, and what is left for the paused pass. */
#define LIVE_MAX_PASSES 8
#define LIVE_STOP_PAGES 4096 /* 16 MiB */

/*
 * This host's features. vcpus: also read vCPU 0's TSC rate, which only a parked vCPU
 * answers promptly (a vCPU ioctl waits until KVM_RUN returns, up to the guest's next exit).
 */
static void host_probe(struct vm *vm, struct snap_host *h, bool vcpus)
{
    unsigned a, b, c, d;
    memset(h, 0, sizeof(*h));
    __cpuid(0, a, b, c, d);
    memcpy(h->vendor, &b, 4);
    memcpy(h->vendor + 4, &d, 4);
    memcpy(h->vendor + 8, &c, 4);
    __cpuid(1, a, b, c, d);
    unsigned fam = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (fam == 0xf) {
        fam += (a >> 20) & 0xff;
    }
    if (fam == 0x6 || fam >= 0xf) {
        model |= ((a >> 16) & 0xf) << 4;
    }
    h->family = fam;
    h->model = model;
    int xs = ioctl(vm->kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    h->xsave_size = xs > (int)sizeof(struct kvm_xsave) ? (uint32_t)xs : sizeof(struct kvm_xsave);
    int khz = vcpus && vm->ncpus ? ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0) : -1;
    h->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
}

/* The MSRs KVM says it saves and restores (KVM_GET_MSR_INDEX_LIST). */
static struct kvm_msr_list *msr_index_list(struct vm *vm)
{
    struct kvm_msr_list probe = {0};
    if (ioctl(vm->kvm->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
        return NULL;
    }
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
    if (!l) {
        return NULL;
    }
    l->nmsrs = probe.nmsrs;
    if (ioctl(vm->kvm->fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

/*
 * Read the listed MSRs. KVM_GET_MSRS stops at the first MSR it cannot read (one this vCPU's
 * CPUID does not have): those are left out, the rest are read in batches.
 */
static int read_msrs(int fd, const struct kvm_msr_list *list, struct snap_vcpu *v)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[SNAP_MAX_MSRS];
    } *buf = calloc(1, sizeof(*buf));
    if (!buf) {
        return -ENOMEM;
    }
    v->nmsrs = 0;
    uint32_t i = 0;
    while (i < list->nmsrs) {
        uint32_t n = 0;
        for (uint32_t j = i; j < list->nmsrs && n < SNAP_MAX_MSRS; j++) {
            buf->e[n++] = (struct kvm_msr_entry){.index = list->indices[j]};
        }
        buf->hdr.nmsrs = n;
        int got = ioctl(fd, KVM_GET_MSRS, buf);
        if (got < 0) {
            free(buf);
            return -errno;
        }
        for (int k = 0; k < got; k++) {
            if (buf->e[k].index == MSR_IA32_TSC) {
                v->tsc = buf->e[k].data;
                continue;
            }
            if (v->nmsrs >= SNAP_MAX_MSRS - 1) {
                free(buf);
                return -E2BIG;
            }
            v->msrs[v->nmsrs++] = buf->e[k];
        }
        i += (uint32_t)got + ((uint32_t)got < n ? 1 : 0);
    }
    free(buf);
    return 0;
}

static int capture_vcpu(struct vm *vm, struct vcpu *vcpu, const struct kvm_msr_list *msrs,
                        uint32_t xsave_size, struct snap_vcpu *v, char *err, size_t errlen)
{
    int fd = vcpu->fd;
    const char *what = NULL;
    if (ioctl(fd, KVM_GET_REGS, &v->regs) < 0) {
        what = "KVM_GET_REGS";
    } else if (ioctl(fd, KVM_GET_SREGS, &v->sregs) < 0) {
        what = "KVM_GET_SREGS";
    } else if (ioctl(fd, xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
                     v->xsave) < 0) {
        what = "KVM_GET_XSAVE";
    } else if (ioctl(fd, KVM_GET_XCRS, &v->xcrs) < 0) {
        what = "KVM_GET_XCRS";
    } else if (ioctl(fd, KVM_GET_LAPIC, &v->lapic) < 0) {
        what = "KVM_GET_LAPIC";
    } else if (ioctl(fd, KVM_GET_VCPU_EVENTS, &v->events) < 0) {
        what = "KVM_GET_VCPU_EVENTS";
    } else if (ioctl(fd, KVM_GET_MP_STATE, &v->mp) < 0) {
        what = "KVM_GET_MP_STATE";
    } else if (ioctl(fd, KVM_GET_DEBUGREGS, &v->debugregs) < 0) {
        what = "KVM_GET_DEBUGREGS";
    }
    if (what) {
        snprintf(err, errlen, "vCPU %u: %s: %s", vcpu->index, what, strerror(errno));
        return -EIO;
    }
    v->xsave_len = xsave_size;
    int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
    v->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    int r = read_msrs(fd, msrs, v);
    if (r < 0) {
        snprintf(err, errlen, "vCPU %u: cannot read its MSRs: %s", vcpu->index, strerror(-r));
    }
    return r;
}

static void free_state(struct snap_state *st)
{
    if (!st) {
        return;
    }
    snap_devices_release(st);
    free(st->vcpus);
    free(st);
}

/*
 * A vCPU parked right after a port-I/O or MMIO exit has not finished the instruction: KVM
 * completes it (loads RAX, advances RIP) on the next KVM_RUN. Until then its registers are
 * not the guest's, and state set now would get the stale completion applied on top. One
 * KVM_RUN with immediate_exit completes it and returns at once (KVM API, "immediate_exit").
 * The parked vCPU thread clears immediate_exit when it runs again.
 */
static void complete_pending_io(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        (void)ioctl(v->fd, KVM_RUN, 0); /* -EINTR: nothing was run */
    }
}

/*
 * Finish the devices' asynchronous I/O (virtio-blk requests on the block engine) with the
 * vCPUs parked: completions land in guest RAM and raise interrupts now, before the RAM, the
 * irqchip and the devices are read, and none lands later in RAM that a load replaced.
 */
static void quiesce(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ndevices; i++) {
        if (vm->devices[i].quiesce) {
            vm->devices[i].quiesce(vm->devices[i].opaque);
        }
    }
}

/*
 * Everything but the RAM; vCPUs must be parked. Without with_vcpus: the host, configuration
 * and devices only (nvcpus set, vcpus NULL), which a running VM can give (dev_lock held).
 */
static int capture_part(struct vm *vm, bool with_vcpus, struct snap_state **out, char *err,
                        size_t errlen)
{
    if (with_vcpus) {
        complete_pending_io(vm);
    }
    struct snap_state *st = calloc(1, sizeof(*st));
    struct kvm_msr_list *msrs = NULL;
    int r = -ENOMEM;
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    host_probe(vm, &st->host, with_vcpus);
    struct snap_config *c = &st->config;
    c->mem_size = vm->cfg.mem_size;
    c->ncpus = vm->ncpus;
    if (vm->cfg.firmware) {
        /* The firmware image and the variable store are files: --restore opens them again. */
        c->flags |= SNAP_CFG_FIRMWARE;
        char *abs = realpath(vm->cfg.firmware, NULL);
        snprintf(c->kernel, sizeof(c->kernel), "%s", abs ? abs : vm->cfg.firmware);
        free(abs);
        abs = vm->cfg.firmware_vars ? realpath(vm->cfg.firmware_vars, NULL) : NULL;
        snprintf(c->initrd, sizeof(c->initrd), "%s",
                 abs                     ? abs
                 : vm->cfg.firmware_vars ? vm->cfg.firmware_vars
                                         : "");
        free(abs);
    } else if (vm->cfg.kernel_buf) {
        c->flags |= SNAP_CFG_EMBEDDED_KERNEL;
    } else if (vm->cfg.kernel) {
        /* Absolute, so that a --restore from another directory can still reset the VM. */
        char *abs = realpath(vm->cfg.kernel, NULL);
        snprintf(c->kernel, sizeof(c->kernel), "%s", abs ? abs : vm->cfg.kernel);
        free(abs);
    }
    if (vm->cfg.initrd && !vm->cfg.firmware) {
        char *abs = realpath(vm->cfg.initrd, NULL);
        snprintf(c->initrd, sizeof(c->initrd), "%s", abs ? abs : vm->cfg.initrd);
        free(abs);
    }
    snprintf(c->cmdline, sizeof(c->cmdline), "%s", vm->cfg.cmdline ? vm->cfg.cmdline : "");

    r = snap_devices_capture(st, vm->devices, vm->ndevices, err, errlen);
    if (r < 0) {
        goto fail;
    }
    if (!with_vcpus) {
        st->nvcpus = vm->ncpus;
        *out = st;
        return 0;
    }

    msrs = msr_index_list(vm);
    st->vcpus = calloc(vm->ncpus, sizeof(*st->vcpus));
    if (!msrs || !st->vcpus) {
        snprintf(err, errlen, "cannot list the MSRs KVM saves: %s", strerror(errno));
        r = -EIO;
        goto fail;
    }
    st->nvcpus = vm->ncpus;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        r = capture_vcpu(vm, &vm->vcpus[i], msrs, st->host.xsave_size, &st->vcpus[i], err, errlen);
        if (r < 0) {
            goto fail;
        }
    }
    for (unsigned i = 0; i < 3; i++) {
        st->irqchip[i].chip_id = i;
        if (ioctl(vm->fd, KVM_GET_IRQCHIP, &st->irqchip[i]) < 0) {
            snprintf(err, errlen, "KVM_GET_IRQCHIP: %s", strerror(errno));
            r = -EIO;
            goto fail;
        }
    }
    if (ioctl(vm->fd, KVM_GET_PIT2, &st->pit) < 0 || ioctl(vm->fd, KVM_GET_CLOCK, &st->clock) < 0) {
        snprintf(err, errlen, "cannot read the PIT or the KVM clock: %s", strerror(errno));
        r = -EIO;
        goto fail;
    }
    free(msrs);
    *out = st;
    return 0;
fail:
    free(msrs);
    free_state(st);
    return r;
}

static int capture(struct vm *vm, struct snap_state **out, char *err, size_t errlen)
{
    return capture_part(vm, true, out, err, errlen);
}

static int apply_vcpu(struct vcpu *vcpu, const struct snap_vcpu *v, char *err, size_t errlen)
{
    int fd = vcpu->fd;
    const char *what = NULL;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[SNAP_MAX_MSRS];
    } *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
    if (v->tsc_khz && khz > 0 && (uint32_t)khz != v->tsc_khz &&
        ioctl(fd, KVM_SET_TSC_KHZ, v->tsc_khz) < 0) {
        what = "KVM_SET_TSC_KHZ";
    } else if (ioctl(fd, KVM_SET_SREGS, &v->sregs) < 0) {
        what = "KVM_SET_SREGS";
    } else if (ioctl(fd, KVM_SET_REGS, &v->regs) < 0) {
        what = "KVM_SET_REGS";
    } else if (ioctl(fd, KVM_SET_XSAVE, v->xsave) < 0) {
        what = "KVM_SET_XSAVE";
    } else if (v->xcrs.nr_xcrs && ioctl(fd, KVM_SET_XCRS, &v->xcrs) < 0) {
        what = "KVM_SET_XCRS";
    } else if (ioctl(fd, KVM_SET_LAPIC, &v->lapic) < 0) {
        what = "KVM_SET_LAPIC";
    }
    if (!what) {
        memcpy(m->e, v->msrs, v->nmsrs * sizeof(v->msrs[0]));
        m->hdr.nmsrs = v->nmsrs;
        int n = ioctl(fd, KVM_SET_MSRS, m);
        if (n != (int)m->hdr.nmsrs) {
            snprintf(err, errlen, "snapshot vcpu %u section: KVM refuses MSR %#x", vcpu->index,
                     n >= 0 && n < (int)m->hdr.nmsrs ? m->e[n].index : 0);
            free(m);
            return -EINVAL;
        }
        /*
         * The TSC, written twice. KVM takes a host TSC write that lands within one second
         * of where the last write (the reset's 0, or another vCPU's) has since run to as
         * an attempt to synchronise vCPUs, and keeps its own offset instead of the value
         * (kvm_synchronize_tsc()). A checkpoint taken less than a second after boot and
         * restored into a fresh engine then resumed with a TSC near 0, behind the guest's
         * own readings. A first write 2^40 cycles away is never "synchronising", and the
         * real value, 2^40 from that, is not either.
         */
        for (int pass = 0; pass < 2 && !what; pass++) {
            m->e[0] = (struct kvm_msr_entry){
                .index = MSR_IA32_TSC,
                .data = v->tsc + (pass == 0 ? 1ull << 40 : 0),
            };
            m->hdr.nmsrs = 1;
            if (ioctl(fd, KVM_SET_MSRS, m) != 1) {
                what = "KVM_SET_MSRS (IA32_TSC)";
            }
        }
    }
    free(m);
    if (!what) {
        struct kvm_vcpu_events ev = v->events;
        if (ioctl(fd, KVM_SET_MP_STATE, &v->mp) < 0) {
            what = "KVM_SET_MP_STATE";
        } else if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
            what = "KVM_SET_VCPU_EVENTS";
        } else if (ioctl(fd, KVM_SET_DEBUGREGS, &v->debugregs) < 0) {
            what = "KVM_SET_DEBUGREGS";
        }
    }
    if (what) {
        snprintf(err, errlen, "snapshot vcpu %u section: %s: %s", vcpu->index, what,
                 strerror(errno));
        return -EINVAL;
    }
    return 0;
}

static int apply(struct vm *vm, const struct snap_state *st, char *err, size_t errlen)
{
    for (unsigned i = 0; i < 3; i++) {
        if (ioctl(vm->fd, KVM_SET_IRQCHIP, &st->irqchip[i]) < 0) {
            snprintf(err, errlen, "snapshot irqchip section: KVM_SET_IRQCHIP: %s", strerror(errno));
            return -EINVAL;
        }
    }
    if (ioctl(vm->fd, KVM_SET_PIT2, &st->pit) < 0) {
        snprintf(err, errlen, "snapshot pit section: KVM_SET_PIT2: %s", strerror(errno));
        return -EINVAL;
    }
    /* After the irqchip, so that a device re-asserting its line in post_load sticks. */
    int r = snap_devices_apply(st, vm->devices, vm->ndevices, err, errlen);
    if (r < 0) {
        return r;
    }
    for (unsigned i = 0; i < st->nvcpus; i++) {
        r = apply_vcpu(&vm->vcpus[i], &st->vcpus[i], err, errlen);
        if (r < 0) {
            return r;
        }
    }
    struct kvm_clock_data clock = {.clock = st->clock.clock};
    if (ioctl(vm->fd, KVM_SET_CLOCK, &clock) < 0) {
        snprintf(err, errlen, "snapshot clock section: KVM_SET_CLOCK: %s", strerror(errno));
        return -EINVAL;
    }
    /*
     * A doorbell the guest rang just before the checkpoint may not have been served then
     * (its eventfd was still pending): look at every queue once, as a kick would.
     */
    virtio_machine_kick_all(vm);
    return 0;
}

static uint64_t count_bits(const uint64_t *bm, uint64_t words)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < words; w++) {
        n += (uint64_t)__builtin_popcountll(bm[w]);
    }
    return n;
}

/*
 * Live save (docs/snapshot-format.md, "Live save"): the RAM is written with the guest
 * running and dev_lock dropped, so its vCPUs reach their devices; then the pages KVM's dirty
 * log says it wrote meanwhile, pass after pass, until few are left or passes stop
 * shrinking; then pause, the last dirty pages (with those devices wrote), the state, resume.
 * The VM is running and dev_lock held on entry and on return.
 */
static int save_live(struct vm *vm, const char *path, char *err, size_t errlen)
{
    struct snap_state *st = NULL;
    struct snap_live lv = {.fd = -1};
    uint64_t words = (vm->mem.size / SNAP_PAGE + 63) / 64, pages = 0;
    uint64_t *dirty = calloc(words, sizeof(*dirty));
    bool logging = false, paused = false;
    snap_trace(">live save");
    int r = dirty ? capture_part(vm, false, &st, err, errlen) : -ENOMEM;
    if (r == -ENOMEM && !dirty) {
        snprintf(err, errlen, "out of memory");
    }
    if (r == 0) {
        r = snapfile_live_begin(path, st, vm->mem.base, vm->mem.size, &lv, err, errlen);
    }
    free_state(st);
    st = NULL;
    if (r == 0) {
        r = guest_mem_dirty_log(&vm->mem, vm->fd, true);
        logging = r == 0;
        if (r < 0) {
            snprintf(err, errlen, "cannot log dirty pages of the RAM: %s", strerror(-r));
        }
    }
    /*
     * Requests the devices took before the device-write bitmap existed would complete into
     * buffers it never saw: finish them now (the vCPUs run, but cannot reach a device while
     * dev_lock is held), so that pass 1 reads their results. Later ones are marked.
     */
    if (r == 0) {
        quiesce(vm);
    }
    snap_trace("live: begin");
    if (r == 0) {
        pthread_mutex_unlock(&vm->dev_lock);
        r = snapfile_live_write(&lv, NULL, vm->mem.memfd, &pages, err, errlen);
        snap_trace("live: pass 1");
        uint64_t prev = UINT64_MAX;
        for (unsigned pass = 2; r == 0 && pass <= LIVE_MAX_PASSES + 1; pass++) {
            memset(dirty, 0, words * sizeof(*dirty));
            r = guest_mem_dirty_fetch(&vm->mem, vm->fd, dirty, false);
            if (r < 0) {
                snprintf(err, errlen, "cannot read the dirty log: %s", strerror(-r));
                break;
            }
            uint64_t n = count_bits(dirty, words);
            /* Few enough to write paused, or no longer converging: stop here. */
            if (n <= LIVE_STOP_PAGES || n >= prev || pass > LIVE_MAX_PASSES) {
                break;
            }
            prev = n;
            r = snapfile_live_write(&lv, dirty, -1, &pages, err, errlen);
            snap_trace("live: dirty pass");
        }
        pthread_mutex_lock(&vm->dev_lock);
    }
    if (r == 0 && vm->state != VM_RUNNING) {
        snprintf(err, errlen, "the VM stopped during the live save");
        r = -EINVAL;
    }
    if (r == 0) {
        vm_pause(vm);
        paused = true;
        snap_trace("live: paused");
        quiesce(vm);
        /* The pages of the pass that was not written, those since, and the devices' writes. */
        r = guest_mem_dirty_fetch(&vm->mem, vm->fd, dirty, true);
        if (r < 0) {
            snprintf(err, errlen, "cannot read the dirty log: %s", strerror(-r));
        }
    }
    if (r == 0) {
        r = snapfile_live_write(&lv, dirty, -1, &pages, err, errlen);
        snap_trace("live: last pass");
    }
    if (r == 0) {
        r = capture(vm, &st, err, errlen);
    }
    if (r == 0) {
        r = snapfile_live_end(&lv, st, err, errlen);
    }
    free_state(st);
    guest_mem_dirty_sw_stop(&vm->mem);
    snap_trace("live: state");
    if (paused) {
        vm_resume(vm);
    }
    /*
     * After resuming: switching the slots' dirty logging off took 12-80 ms at 1 GiB on the
     * development host (shadow paging), most of the pause. The guest runs meanwhile.
     */
    if (logging && guest_mem_dirty_log(&vm->mem, vm->fd, false) < 0 && r == 0) {
        snprintf(err, errlen, "cannot stop logging dirty pages: %s", strerror(errno));
        r = -EIO;
    }
    snap_trace("live: log off");
    free(dirty);
    if (r < 0) {
        snapfile_live_abort(&lv);
        return r;
    }
    r = snapfile_live_commit(&lv, err, errlen);
    snap_trace("live: commit");
    return r;
}

int vm_snapshot_save(struct vm *vm, const char *path, unsigned flags, char *err, size_t errlen)
{
    if (vm->state == VM_SHUTDOWN) {
        snprintf(err, errlen, "the VM has shut down");
        return -EINVAL;
    }
    bool was_running = vm->state == VM_RUNNING;
    if ((flags & VM_SNAPSHOT_LIVE) && !(flags & VM_SNAPSHOT_ZSTD) && was_running) {
        return save_live(vm, path, err, errlen);
    }
    snap_trace(">save");
    vm_pause(vm);
    snap_trace("paused");
    struct snap_state *st = NULL;
    struct snap_pending pending;
    quiesce(vm);
    int r = capture(vm, &st, err, errlen);
    snap_trace("captured");
    if (r == 0) {
        r = snapfile_write_begin(path, st, vm->mem.base, vm->mem.size, vm->mem.memfd,
                                 flags & VM_SNAPSHOT_ZSTD ? SNAP_F_ZSTD : 0, &pending, err, errlen);
    }
    free_state(st);
    snap_trace("written");
    /* The state is in the file (page cache): the guest may run while it reaches the disk. */
    if (was_running) {
        vm_resume(vm);
    }
    r = r < 0 ? r : snapfile_write_commit(&pending, err, errlen);
    snap_trace("committed");
    return r;
}

/* Everything that can be checked against this VM without changing it. */
static int check_against_vm(struct vm *vm, const struct snap_file *f, char *err, size_t errlen)
{
    const struct snap_state *st = &f->st;
    struct snap_host here;
    host_probe(vm, &here, false); /* the VM may be running */
    int r = snap_host_check(&st->host, &here, err, errlen);
    if (r < 0) {
        return r;
    }
    if (st->config.mem_size != vm->cfg.mem_size || st->config.ncpus != vm->ncpus) {
        snprintf(err, errlen,
                 "snapshot config section: saved with %llu MiB and %u vCPUs, this VM has %llu "
                 "MiB and %u (use deskvm-vm --restore)",
                 (unsigned long long)(st->config.mem_size >> 20), st->config.ncpus,
                 (unsigned long long)(vm->cfg.mem_size >> 20), vm->ncpus);
        return -EINVAL;
    }
    r = snap_devices_check(st, vm->devices, vm->ndevices, err, errlen);
    if (r < 0) {
        return r;
    }
    for (unsigned i = 0; i < st->nvcpus; i++) {
        if (st->vcpus[i].xsave_len != here.xsave_size) {
            snprintf(err, errlen, "snapshot vcpu %u section: XSAVE area of %u bytes, expected %u",
                     i, st->vcpus[i].xsave_len, here.xsave_size);
            return -EINVAL;
        }
    }
    return 0;
}

/* New RAM backing holding the file's RAM: mapped from the file when possible, else copied. */
static int prepare_ram(const struct snap_file *f, uint8_t **base, int *memfd, char *err,
                       size_t errlen)
{
    *memfd = -1;
    int r = snapfile_ram_map(f, LAZY_MAX_EXTENTS, base, err, errlen);
    if (r != -ENOTSUP) {
        return r;
    }
    int fd = memfd_create("deskvm-ram", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)f->ram.size) < 0) {
        r = -errno;
        snprintf(err, errlen, "cannot allocate the RAM: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return r;
    }
    r = snapfile_ram_write_fd(f, fd, err, errlen);
    if (r < 0) {
        close(fd);
        return r;
    }
    uint8_t *p = mmap(NULL, f->ram.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        r = -errno;
        snprintf(err, errlen, "cannot map the RAM: %s", strerror(errno));
        close(fd);
        return r;
    }
    *base = p;
    *memfd = fd;
    return 0;
}

static void release_backing(void *opaque)
{
    guest_mem_backing_release(opaque);
    free(opaque);
}

static void *release_thread(void *opaque)
{
    release_backing(opaque);
    return NULL;
}

/* Runs fn(arg) on a detached thread of its own; -errno when none could be started. */
static int spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -r;
}

/*
 * Background check of the page data of a lazily restored checkpoint (VM_SNAPSHOT_VERIFY_BG):
 * the guest already runs on the RAM it checks, so a mismatch stops the VM with an internal
 * error naming it. loads counts the loads of this engine (one VM per process), so that the
 * verdict on a checkpoint that a later load has replaced is dropped.
 */
struct bg_verify {
    struct vm *vm;
    struct snap_file *f;
    unsigned load;
    int r;
    char err[256];
};
static unsigned loads;

static void bg_verify_done(void *opaque)
{
    struct bg_verify *b = opaque;
    if (b->r < 0 && b->load == loads) {
        char msg[320];
        snprintf(msg, sizeof(msg), "restored checkpoint: %s", b->err);
        vm_request_internal_error(b->vm, msg);
    }
    free(b);
}

static void *bg_verify_thread(void *opaque)
{
    struct bg_verify *b = opaque;
    b->r = snapfile_verify_ram(b->f, b->err, sizeof(b->err));
    snapfile_close(b->f);
    free(b->f);
    b->f = NULL;
    if (evloop_call(b->vm->loop, bg_verify_done, b) < 0) {
        free(b);
    }
    return NULL;
}

/* Takes f (closed when done). Without a thread the check runs here. */
static void bg_verify_start(struct vm *vm, struct snap_file *f)
{
    struct bg_verify *b = calloc(1, sizeof(*b));
    if (!b) {
        snapfile_close(f);
        free(f);
        return;
    }
    *b = (struct bg_verify){.vm = vm, .f = f, .load = loads};
    if (spawn_detached(bg_verify_thread, b) < 0) {
        bg_verify_thread(b);
    }
}

int vm_snapshot_load(struct vm *vm, const char *path, unsigned flags, char *err, size_t errlen)
{
    loads++;
    struct snap_file *f = malloc(sizeof(*f));
    struct guest_mem_backing *old = malloc(sizeof(*old));
    if (!f || !old) {
        free(f);
        free(old);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *old = (struct guest_mem_backing){.memfd = -1};
    snap_trace(">load");
    bool verify_now = !(flags & (VM_SNAPSHOT_NO_VERIFY | VM_SNAPSHOT_VERIFY_BG));
    int r = snapfile_open(path, verify_now ? SNAP_OPEN_VERIFY_RAM : 0, f, err, errlen);
    snap_trace("opened");
    if (r == 0) {
        r = check_against_vm(vm, f, err, errlen);
        if (r < 0) {
            snapfile_close(f);
        }
    }
    if (r < 0) {
        free(f);
        free(old);
        return r;
    }

    /*
     * Map the new RAM only once the vCPUs are parked, so that the mmaps do not compete for
     * the process's mmap lock with a guest that page-faults on lazily restored RAM.
     */
    bool was_running = vm->state == VM_RUNNING;
    vm_pause(vm);
    quiesce(vm);
    snap_trace("paused");
    struct guest_mem_backing fresh = {.memfd = -1, .size = f->ram.size};
    struct snap_state *backup = NULL;
    r = prepare_ram(f, &fresh.base, &fresh.memfd, err, errlen);
    fresh.owned = r == 0;
    snap_trace("ram prepared");
    if (r == 0) {
        r = capture(vm, &backup, err, errlen);
    }
    snap_trace("backup captured");
    /*
     * RAM first: device post_load maps guest memory again (virtqueue rings), and must map
     * the restored RAM, not the mapping about to go.
     */
    if (r == 0) {
        r = guest_mem_rebase(&vm->mem, vm->fd, fresh.base, fresh.memfd, old);
        if (r < 0) {
            snprintf(err, errlen, "cannot move the KVM memory slots to the restored RAM: %s",
                     strerror(-r));
        } else {
            fresh = (struct guest_mem_backing){.memfd = -1}; /* vm->mem owns it now */
            snap_trace("rebased");
            r = apply(vm, &f->st, err, errlen);
            snap_trace("applied");
            if (r < 0) {
                /*
                 * Back to the RAM and state that were there (the state was just read from
                 * KVM, so KVM takes it); the restored RAM is released instead.
                 */
                char ignored[256];
                if (guest_mem_rebase(&vm->mem, vm->fd, old->base, old->memfd, &fresh) == 0) {
                    *old = (struct guest_mem_backing){.memfd = -1};
                }
                (void)apply(vm, backup, ignored, sizeof(ignored));
            }
        }
    }
    guest_mem_backing_release(&fresh);
    free_state(backup);
    if (was_running) {
        vm_resume(vm);
    }
    if (r == 0 && (flags & VM_SNAPSHOT_VERIFY_BG) && !(flags & VM_SNAPSHOT_NO_VERIFY)) {
        bg_verify_start(vm, f);
    } else {
        snapfile_close(f);
        free(f);
    }
    snap_trace("resumed");
    /*
     * The old RAM goes while the guest runs, on a thread of its own: freeing a memfd of
     * touched RAM costs ~50 ms of CPU per GiB (shmem eviction), which on the event loop held
     * up the QMP reply and the devices' I/O completions.
     */
    if (spawn_detached(release_thread, old) < 0 &&
        evloop_call(vm->loop, release_backing, old) < 0) {
        release_backing(old);
    }
    return r;
}

int vm_snapshot_read_config(const char *path, struct snap_config *cfg, char *err, size_t errlen)
{
    struct snap_file *f = malloc(sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int r = snapfile_open(path, 0, f, err, errlen);
    if (r == 0) {
        *cfg = f->st.config;
        snapfile_close(f);
    }
    free(f);
    return r;
}
