// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vCPU threads: create and reset vCPUs, run KVM_RUN, dispatch port-I/O and MMIO exits to
 * the buses under the device lock, and turn shutdowns, system events and internal errors
 * into VM requests handled on the event-loop thread. Kicks use KVM_CAP_IMMEDIATE_EXIT plus
 * a signal so a kick between the run-state check and KVM_RUN is never lost.
 */
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/emulate_kvm.h"
#include "vmm/firmware.h"
#include "vmm/vm.h"
#include "vmm/x86_cpu.h"

#define SIG_KICK SIGUSR1

static void kick_handler(int sig)
{
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index, char *err, size_t errlen)
{
    memset(vcpu, 0, sizeof(*vcpu));
    vcpu->vm = vm;
    vcpu->index = index;
    vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, index);
    if (vcpu->fd < 0) {
        snprintf(err, errlen, "cannot create vCPU %u: %s", index, strerror(errno));
        return -errno;
    }
    vcpu->run = mmap(NULL, (size_t)vm->kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                     vcpu->fd, 0);
    if (vcpu->run == MAP_FAILED) {
        vcpu->run = NULL;
        snprintf(err, errlen, "cannot map vCPU %u: %s", index, strerror(errno));
        return -errno;
    }
    if (index == 0 && vm->kvm->coalesced_mmio_page > 0) {
        /* One ring for the whole VM, in every vCPU's mapping: vCPU 0's is used. */
        long psize = sysconf(_SC_PAGESIZE);
        vm->coalesced_ring =
            (struct kvm_coalesced_mmio_ring *)((uint8_t *)vcpu->run +
                                               (size_t)vm->kvm->coalesced_mmio_page *
                                                   (size_t)psize);
        vm->coalesced_max = (unsigned)(((size_t)psize - sizeof(struct kvm_coalesced_mmio_ring)) /
                                       sizeof(struct kvm_coalesced_mmio));
    }
    struct kvm_cpuid2 *cpuid = x86_cpuid_for_vcpu(vm->cpuid, index, vm->ncpus);
    if (!cpuid || ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
        snprintf(err, errlen, "cannot set CPUID of vCPU %u: %s", index, strerror(errno));
        free(cpuid);
        return -EIO;
    }
    free(cpuid);
    if (ioctl(vcpu->fd, KVM_GET_REGS, &vcpu->init_regs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_SREGS, &vcpu->init_sregs) < 0 ||
        ioctl(vcpu->fd, KVM_GET_FPU, &vcpu->init_fpu) < 0 ||
        ioctl(vcpu->fd, KVM_GET_LAPIC, &vcpu->init_lapic) < 0 ||
        ioctl(vcpu->fd, KVM_GET_MP_STATE, &vcpu->init_mp) < 0) {
        snprintf(err, errlen, "cannot read the initial state of vCPU %u: %s", index,
                 strerror(errno));
        return -EIO;
    }
    /* x87 control word and MXCSR as after RESET/INIT (SDM vol. 3 9.1.1). */
    vcpu->init_fpu.fcw = 0x37f;
    vcpu->init_fpu.mxcsr = 0x1f80;
    return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
    if (!vcpu) {
        return;
    }
    if (vcpu->run) {
        if (vcpu->index == 0) {
            vcpu->vm->coalesced_ring = NULL;
        }
        munmap(vcpu->run, (size_t)vcpu->vm->kvm->vcpu_mmap_size);
        vcpu->run = NULL;
    }
    if (vcpu->fd > 0) {
        close(vcpu->fd);
        vcpu->fd = -1;
    }
}

static int set_msrs(struct vcpu *vcpu)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[16];
    } msrs = {0};
    msrs.hdr.nmsrs = x86_boot_msrs(msrs.e, 16);
    int n = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
    return n == (int)msrs.hdr.nmsrs ? 0 : -EIO;
}

int vcpu_reset(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    struct kvm_regs regs = vcpu->init_regs;
    struct kvm_sregs sregs = vcpu->init_sregs;
    struct kvm_mp_state mp = vcpu->init_mp;
    if (vcpu->index == 0) {
        x86_boot_regs(&vm->boot, &regs, &sregs);
        mp.mp_state = KVM_MP_STATE_RUNNABLE;
    } else {
        /* APs wait for INIT/SIPI from the guest (in-kernel LAPIC). */
        mp.mp_state = KVM_MP_STATE_UNINITIALIZED;
    }
    struct kvm_vcpu_events events = {0};
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ||
        ioctl(vcpu->fd, KVM_SET_FPU, &vcpu->init_fpu) < 0 ||
        ioctl(vcpu->fd, KVM_SET_LAPIC, &vcpu->init_lapic) < 0 ||
        ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &events) < 0 ||
        ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0) {
        return -errno;
    }
    return set_msrs(vcpu);
}

static void handle_io(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    struct vm *vm = vcpu->vm;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    pthread_mutex_lock(&vm->dev_lock);
    for (uint32_t i = 0; i < run->io.count; i++) {
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            bus_write(&vm->pio, run->io.port, data, run->io.size);
        } else {
            bus_read(&vm->pio, run->io.port, data, run->io.size);
        }
        data += run->io.size;
    }
    pthread_mutex_unlock(&vm->dev_lock);
}

static void handle_mmio(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    struct vm *vm = vcpu->vm;
    pthread_mutex_lock(&vm->dev_lock);
    if (run->mmio.is_write) {
        bus_write(&vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
    } else {
        bus_read(&vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len);
    }
    pthread_mutex_unlock(&vm->dev_lock);
}

static void report_internal(struct vcpu *vcpu, const char *what)
{
    struct kvm_regs r;
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "vCPU %u: %s", vcpu->index, what);
    if (ioctl(vcpu->fd, KVM_GET_REGS, &r) == 0 && n > 0 && (size_t)n < sizeof(buf)) {
        snprintf(buf + n, sizeof(buf) - (size_t)n,
                 "\n  rip=%016llx rsp=%016llx rflags=%08llx\n  rax=%016llx rbx=%016llx "
                 "rcx=%016llx rdx=%016llx",
                 r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx);
    }
    vm_request_internal_error(vcpu->vm, buf);
}

static void handle_internal_error(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
        char report[4096];
        /* Firmware code reads constants from its ROM (e.g. OVMF's fldcw in SEC). */
        const struct firmware *fw = vcpu->vm->fw;
        struct emulate_rom rom = {0};
        if (fw) {
            rom = (struct emulate_rom){MEM_4G - fw->rom_size, fw->rom_size, fw->rom};
        }
        if (emulate_kvm_handle(vcpu->fd, run, &vcpu->vm->mem, fw ? &rom : NULL, (int)vcpu->index,
                               report, sizeof(report)) == 0) {
            vcpu->emulated++;
            return;
        }
        vm_request_internal_error(vcpu->vm, report);
        return;
    }
    char what[128];
    snprintf(what, sizeof(what), "KVM internal error, suberror %u", run->internal.suberror);
    report_internal(vcpu, what);
}

static void handle_system_event(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    switch (vcpu->run->system_event.type) {
    case KVM_SYSTEM_EVENT_RESET:
        vm_request_reset(vm, true, "guest-reset");
        break;
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        vm_request_shutdown(vm, true, "guest-shutdown", EXIT_OK);
        break;
    default:
        report_internal(vcpu, "unknown KVM system event");
        break;
    }
}

static void handle_exit(struct vcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    vcpu->exits++;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(vcpu);
        break;
    case KVM_EXIT_MMIO:
        handle_mmio(vcpu);
        break;
    case KVM_EXIT_HLT:
        /* Only without an in-kernel LAPIC; ours has one. Treat as a power-off request. */
        vm_request_shutdown(vcpu->vm, true, "guest-shutdown", EXIT_OK);
        break;
    case KVM_EXIT_SHUTDOWN:
        /* Triple fault: a PC resets. */
        vm_request_reset(vcpu->vm, true, "guest-reset");
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        handle_system_event(vcpu);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        handle_internal_error(vcpu);
        break;
    case KVM_EXIT_FAIL_ENTRY: {
        char what[128];
        snprintf(what, sizeof(what), "VM entry failed, hardware reason 0x%llx",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        report_internal(vcpu, what);
        break;
    }
    case KVM_EXIT_INTR:
        break;
    default: {
        char what[64];
        snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
        report_internal(vcpu, what);
        break;
    }
    }
}

/* Park while the VM is not running; returns false when the thread must exit. */
static bool wait_runnable(struct vcpu *vcpu)
{
    struct vm *vm = vcpu->vm;
    pthread_mutex_lock(&vm->run_lock);
    while (!vm->quit && (vm->pause_req || vm->state != VM_RUNNING)) {
        if (!vcpu->parked) {
            vcpu->parked = true;
            vm->parked++;
            pthread_cond_broadcast(&vm->run_cond);
        }
        pthread_cond_wait(&vm->run_cond, &vm->run_lock);
    }
    if (vcpu->parked) {
        vcpu->parked = false;
        vm->parked--;
    }
    bool go = !vm->quit;
    /*
     * Clear a kick that arrived for an earlier pause, under the lock that orders it. Atomic,
     * as in vcpu_kick(): a kick from another thread may store to the same byte at any time.
     */
    __atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&vm->run_lock);
    return go;
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *vcpu = arg;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
    pthread_setname_np(pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIG_KICK);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    while (wait_runnable(vcpu)) {
        int r = ioctl(vcpu->fd, KVM_RUN, 0);
        if (vm_coalesced_pending(vcpu->vm)) {
            /* Writes KVM queued come before whatever this exit is (a read, a port, a pause). */
            pthread_mutex_lock(&vcpu->vm->dev_lock);
            vm_coalesced_flush(vcpu->vm);
            pthread_mutex_unlock(&vcpu->vm->dev_lock);
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            char what[128];
            snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(errno));
            report_internal(vcpu, what);
            continue;
        }
        handle_exit(vcpu);
    }
    return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
    static bool handler_installed;
    if (!handler_installed) {
        struct sigaction sa = {.sa_handler = kick_handler};
        sigemptyset(&sa.sa_mask);
        sigaction(SIG_KICK, &sa, NULL);
        handler_installed = true;
    }
    /* The signal stays blocked in every other thread, so only vCPU threads take it. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIG_KICK);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int r = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
    if (r == 0) {
        vcpu->thread_started = true;
    }
    return -r;
}

void vcpu_kick(struct vcpu *vcpu)
{
    if (!vcpu->run) {
        return;
    }
    __atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (vcpu->thread_started) {
        pthread_kill(vcpu->thread, SIG_KICK);
    }
}
