// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM: KVM VM fd, memory slots, in-kernel irqchip (PIC, IOAPIC, LAPIC) and PIT, ACPI
 * tables, kernel loading, vCPUs, and the run-state machine (running, paused, reset,
 * shutdown, internal error). Requests from vCPU threads are funnelled to the event loop.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/acpi.h"
#include "vmm/evloop.h"
#include "vmm/firmware.h"
#include "vmm/pc.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_machine.h"
#include "vmm/x86_cpu.h"

/*
 * KVM's private pages (real-mode TSS, 3 pages, and the EPT identity map) sit below the
 * IOAPIC/LAPIC block's end where QEMU puts them, clear of a UEFI image's 4-16 MiB below 4 GiB.
 */
#define TSS_ADDR 0xfeffd000ull
#define IDENTITY_MAP_ADDR 0xfeffc000ull

const char *vm_state_name(enum vm_run_state s)
{
    switch (s) {
    case VM_PRELAUNCH:
        return "prelaunch";
    case VM_RUNNING:
        return "running";
    case VM_PAUSED:
        return "paused";
    case VM_SHUTDOWN:
        return "shutdown";
    case VM_INTERNAL_ERROR:
        return "internal-error";
    }
    return "unknown";
}

static void gsi_set(void *opaque, unsigned gsi, bool level)
{
    struct vm *vm = opaque;
    struct kvm_irq_level irq = {.irq = gsi, .level = level};
    ioctl(vm->fd, KVM_IRQ_LINE, &irq);
}

const struct irq_line *vm_gsi(struct vm *vm, unsigned gsi)
{
    return gsi < VM_MAX_GSI ? &vm->gsi[gsi] : NULL;
}

int vm_add_device(struct vm *vm, const struct device *dev)
{
    if (vm->ndevices >= VM_MAX_DEVICES) {
        return -ENOSPC;
    }
    vm->devices[vm->ndevices++] = *dev;
    return 0;
}

/* The PC's irqchip routes (vmm/irq_routing.c); MSI routes are appended by the PCI glue. */
static int set_gsi_routing(struct vm *vm)
{
    irq_routing_init(&vm->routing, vm->fd);
    int r = irq_routing_add_pc(&vm->routing, VM_MAX_GSI);
    return r < 0 ? r : irq_routing_commit(&vm->routing, true);
}

static int create_irqchip(struct vm *vm, char *err, size_t errlen)
{
    if (ioctl(vm->fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0) {
        snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
        return -errno;
    }
    uint64_t idmap = IDENTITY_MAP_ADDR;
    if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        snprintf(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
        return -errno;
    }
    if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        snprintf(err, errlen, "cannot create the in-kernel interrupt controllers: %s",
                 strerror(errno));
        return -errno;
    }
    int r = set_gsi_routing(vm);
    if (r < 0) {
        snprintf(err, errlen, "cannot set the interrupt routing: %s", strerror(-r));
        return r;
    }
    /* Port 0x61 (speaker, PIT channel 2 gate) is handled in the kernel too. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
        snprintf(err, errlen, "cannot create the in-kernel PIT: %s", strerror(errno));
        return -errno;
    }
    for (unsigned i = 0; i < 3; i++) {
        vm->irqchip_init[i].chip_id = i;
        if (ioctl(vm->fd, KVM_GET_IRQCHIP, &vm->irqchip_init[i]) < 0) {
            snprintf(err, errlen, "KVM_GET_IRQCHIP: %s", strerror(errno));
            return -errno;
        }
    }
    if (ioctl(vm->fd, KVM_GET_PIT2, &vm->pit_init) < 0) {
        snprintf(err, errlen, "KVM_GET_PIT2: %s", strerror(errno));
        return -errno;
    }
    for (unsigned i = 0; i < VM_MAX_GSI; i++) {
        vm->gsi[i] = (struct irq_line){.set_level = gsi_set, .opaque = vm, .gsi = i};
    }
    return 0;
}

/* Place ACPI tables, kernel and boot tables; run at creation and at every reset. */
static int load_guest(struct vm *vm, char *err, size_t errlen)
{
    if (vm->cfg.firmware) {
        /* The firmware finds everything through fw_cfg; vCPU 0 starts at the reset vector. */
        vm->boot = (struct boot_entry){.mode = BOOT_FIRMWARE, .rip = 0xfff0, .format = "firmware"};
        return 0;
    }
    struct acpi_config acfg = {.ncpus = vm->ncpus, .pci = vm->pci != NULL};
    int r = acpi_build(&vm->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &acfg, &vm->rsdp_gpa);
    if (r < 0) {
        snprintf(err, errlen, "cannot build ACPI tables: %s", strerror(-r));
        return r;
    }
    struct boot_config bcfg = {
        .kernel = vm->cfg.kernel,
        .initrd = vm->cfg.initrd,
        .cmdline = vm->cfg.cmdline,
        .e820 = &vm->e820,
        .rsdp_gpa = vm->rsdp_gpa,
    };
    if (vm->cfg.kernel_buf) {
        r = boot_load_image(&vm->mem, &bcfg, vm->cfg.kernel_buf, vm->cfg.kernel_len, &vm->boot, err,
                            errlen);
    } else {
        r = boot_load(&vm->mem, &bcfg, &vm->boot, err, errlen);
    }
    if (r < 0) {
        return r;
    }
    r = x86_boot_tables(&vm->mem, vm->boot.mode);
    if (r < 0) {
        snprintf(err, errlen, "cannot write boot tables: %s", strerror(-r));
    }
    return r;
}

int vm_create(struct vm *vm, struct kvm_sys *kvm, const struct vm_config *cfg, struct evloop *loop,
              char *err, size_t errlen)
{
    memset(vm, 0, sizeof(*vm));
    vm->fd = -1;
    vm->kvm = kvm;
    vm->cfg = *cfg;
    vm->loop = loop;
    vm->ncpus = cfg->ncpus;
    vm->state = VM_PRELAUNCH;
    vm->mem.memfd = -1;
    pthread_mutex_init(&vm->dev_lock, NULL);
    pthread_mutex_init(&vm->run_lock, NULL);
    pthread_cond_init(&vm->run_cond, NULL);
    bus_init(&vm->pio, "pio");
    bus_init(&vm->mmio, "mmio");

    if (cfg->ncpus == 0 || cfg->ncpus > (unsigned)kvm->max_vcpus || cfg->ncpus > 255) {
        snprintf(err, errlen, "--cpus %u is out of range: this host allows 1 to %d", cfg->ncpus,
                 kvm->max_vcpus < 255 ? kvm->max_vcpus : 255);
        return -EINVAL;
    }
    int r = guest_mem_init(&vm->mem, cfg->mem_size, cfg->hugepages);
    if (r < 0) {
        snprintf(err, errlen, "cannot allocate %llu MiB of guest memory: %s",
                 (unsigned long long)(cfg->mem_size >> 20), strerror(-r));
        return r;
    }
    if (cfg->firmware) {
        guest_mem_set_firmware_split(&vm->mem);
        guest_mem_set_shadow(&vm->mem);
    }
    e820_build(&vm->e820, &vm->mem);
    vm->fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0) {
        snprintf(err, errlen, "cannot create a KVM virtual machine: %s", strerror(errno));
        return -errno;
    }
    r = guest_mem_register(&vm->mem, vm->fd);
    if (r < 0) {
        snprintf(err, errlen, "cannot register guest memory with KVM: %s", strerror(-r));
        return r;
    }
    r = create_irqchip(vm, err, errlen);
    if (r < 0) {
        return r;
    }
    vm->cpuid = x86_cpuid_supported(kvm->fd);
    if (!vm->cpuid) {
        snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        return -EIO;
    }
    r = pc_devices_init(vm, err, errlen);
    if (r < 0) {
        return r;
    }
    if (cfg->firmware) {
        r = firmware_init(vm, cfg->firmware, err, errlen);
        if (r < 0) {
            return r;
        }
        struct device dev = {0};
        fw_cfg_device(&vm->fw->cfg, &dev);
        r = vm_add_device(vm, &dev);
        if (r == 0 && vm->fw->kind == FIRMWARE_KIND_UEFI) {
            dev = pflash_device(&vm->fw->flash);
            r = vm_add_device(vm, &dev);
        }
        if (r < 0) {
            snprintf(err, errlen, "too many devices");
            return r;
        }
    }
    r = cfg->restoring ? 0 : load_guest(vm, err, errlen);
    if (r < 0) {
        return r;
    }
    vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
    if (!vm->vcpus) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        r = vcpu_create(vm, &vm->vcpus[i], i, err, errlen);
        if (r < 0) {
            return r;
        }
        r = vcpu_reset(&vm->vcpus[i]);
        if (r < 0) {
            snprintf(err, errlen, "cannot set the boot state of vCPU %u: %s", i, strerror(-r));
            return r;
        }
    }
    return 0;
}

void vm_destroy(struct vm *vm)
{
    if (!vm) {
        return;
    }
    if (vm->vcpus) {
        for (unsigned i = 0; i < vm->ncpus; i++) {
            vcpu_destroy(&vm->vcpus[i]);
        }
        free(vm->vcpus);
        vm->vcpus = NULL;
    }
    firmware_destroy(vm);
    pc_devices_destroy(vm);
    free(vm->cpuid);
    vm->cpuid = NULL;
    if (vm->fd >= 0) {
        close(vm->fd);
        vm->fd = -1;
    }
    irq_routing_destroy(&vm->routing);
    guest_mem_destroy(&vm->mem);
    bus_destroy(&vm->pio);
    bus_destroy(&vm->mmio);
}

static void set_state_locked(struct vm *vm, enum vm_run_state state)
{
    enum vm_run_state old = vm->state;
    vm->state = state;
    pthread_cond_broadcast(&vm->run_cond);
    if (old != state && vm->hooks.on_state) {
        vm->hooks.on_state(vm->hooks.opaque, old, state);
    }
}

int vm_start(struct vm *vm, bool paused, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->run_lock);
    set_state_locked(vm, paused ? VM_PAUSED : VM_RUNNING);
    pthread_mutex_unlock(&vm->run_lock);
    for (unsigned i = 0; i < vm->ncpus; i++) {
        int r = vcpu_start(&vm->vcpus[i]);
        if (r < 0) {
            snprintf(err, errlen, "cannot start the thread of vCPU %u: %s", i, strerror(-r));
            return r;
        }
    }
    return 0;
}

void vm_join(struct vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->quit = true;
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++) {
        vcpu_kick(&vm->vcpus[i]);
    }
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++) {
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].thread_started = false;
        }
    }
}

int vm_coalesce_mmio(struct vm *vm, uint64_t addr, uint64_t size)
{
    if (!vm->coalesced_ring) {
        return -ENOTSUP;
    }
    struct kvm_coalesced_mmio_zone z = {.addr = addr, .size = (uint32_t)size};
    return ioctl(vm->fd, KVM_REGISTER_COALESCED_MMIO, &z) < 0 ? -errno : 0;
}

void vm_coalesced_flush(struct vm *vm)
{
    struct kvm_coalesced_mmio_ring *r = vm->coalesced_ring;
    if (!r) {
        return;
    }
    /* KVM fills entries, then publishes them by moving last; we consume from first. */
    uint32_t first = __atomic_load_n(&r->first, __ATOMIC_RELAXED);
    while (first != __atomic_load_n(&r->last, __ATOMIC_ACQUIRE)) {
        if (first >= vm->coalesced_max) {
            break; /* not KVM's: the ring is ours to read only while it is sane */
        }
        struct kvm_coalesced_mmio *m = &r->coalesced_mmio[first];
        uint32_t len = m->len <= sizeof(m->data) ? m->len : sizeof(m->data);
        if (m->pio) {
            bus_write(&vm->pio, m->phys_addr, m->data, len);
        } else {
            bus_write(&vm->mmio, m->phys_addr, m->data, len);
        }
        first = (first + 1) % vm->coalesced_max;
        __atomic_store_n(&r->first, first, __ATOMIC_RELEASE);
    }
}

/* Park every vCPU. Caller holds dev_lock; it is dropped while waiting (see vm.h). */
static void park_all(struct vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->pause_req = true;
    pthread_mutex_unlock(&vm->run_lock);
    for (unsigned i = 0; i < vm->ncpus; i++) {
        vcpu_kick(&vm->vcpus[i]);
    }
    unsigned started = 0;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        started += vm->vcpus[i].thread_started;
    }
    pthread_mutex_unlock(&vm->dev_lock);
    pthread_mutex_lock(&vm->run_lock);
    while (vm->parked < started && !vm->quit) {
        pthread_cond_wait(&vm->run_cond, &vm->run_lock);
    }
    pthread_mutex_unlock(&vm->run_lock);
    pthread_mutex_lock(&vm->dev_lock);
    vm_coalesced_flush(vm); /* a write queued by a vCPU that never exited since */
}

static void unpark_all(struct vm *vm)
{
    pthread_mutex_lock(&vm->run_lock);
    vm->pause_req = false;
    pthread_cond_broadcast(&vm->run_cond);
    pthread_mutex_unlock(&vm->run_lock);
}

void vm_pause(struct vm *vm)
{
    if (vm->state != VM_RUNNING) {
        return;
    }
    park_all(vm);
    pthread_mutex_lock(&vm->run_lock);
    set_state_locked(vm, VM_PAUSED);
    pthread_mutex_unlock(&vm->run_lock);
    unpark_all(vm); /* state keeps them parked */
}

void vm_resume(struct vm *vm)
{
    if (vm->state != VM_PAUSED) {
        return;
    }
    pthread_mutex_lock(&vm->run_lock);
    set_state_locked(vm, VM_RUNNING);
    pthread_mutex_unlock(&vm->run_lock);
    virtio_machine_resumed(vm);
}

int vm_reset(struct vm *vm, bool guest, const char *reason)
{
    if (vm->state == VM_SHUTDOWN) {
        return -EINVAL;
    }
    park_all(vm);
    for (unsigned i = 0; i < vm->ndevices; i++) {
        if (vm->devices[i].reset) {
            vm->devices[i].reset(vm->devices[i].opaque);
        }
    }
    for (unsigned i = 0; i < 3; i++) {
        ioctl(vm->fd, KVM_SET_IRQCHIP, &vm->irqchip_init[i]);
    }
    ioctl(vm->fd, KVM_SET_PIT2, &vm->pit_init);
    char err[512] = "";
    int r = load_guest(vm, err, sizeof(err));
    for (unsigned i = 0; r == 0 && i < vm->ncpus; i++) {
        r = vcpu_reset(&vm->vcpus[i]);
        if (r < 0) {
            snprintf(err, sizeof(err), "cannot reset vCPU %u: %s", i, strerror(-r));
        }
    }
    if (r < 0) {
        snprintf(vm->error, sizeof(vm->error), "reset failed: %s", err);
        pthread_mutex_lock(&vm->run_lock);
        set_state_locked(vm, VM_INTERNAL_ERROR);
        pthread_mutex_unlock(&vm->run_lock);
        unpark_all(vm);
        return r;
    }
    if (vm->hooks.on_reset) {
        vm->hooks.on_reset(vm->hooks.opaque, guest, reason);
    }
    pthread_mutex_lock(&vm->run_lock);
    if (vm->state == VM_INTERNAL_ERROR) {
        set_state_locked(vm, VM_RUNNING);
    }
    pthread_mutex_unlock(&vm->run_lock);
    unpark_all(vm);
    return 0;
}

void vm_powerdown(struct vm *vm)
{
    pc_power_button(vm);
    if (vm->hooks.on_powerdown) {
        vm->hooks.on_powerdown(vm->hooks.opaque);
    }
}

struct vm_request {
    struct vm *vm;
    enum { REQ_RESET, REQ_SHUTDOWN, REQ_ERROR } kind;
    bool guest;
    const char *reason;
    int status;
};

static void do_request(void *opaque)
{
    struct vm_request *req = opaque;
    struct vm *vm = req->vm;
    switch (req->kind) {
    case REQ_RESET:
        vm_reset(vm, req->guest, req->reason);
        break;
    case REQ_SHUTDOWN:
        if (vm->state != VM_SHUTDOWN) {
            park_all(vm);
            pthread_mutex_lock(&vm->run_lock);
            vm->exit_status = req->status;
            set_state_locked(vm, VM_SHUTDOWN);
            pthread_mutex_unlock(&vm->run_lock);
            if (vm->hooks.on_shutdown) {
                vm->hooks.on_shutdown(vm->hooks.opaque, req->guest, req->reason, req->status);
            }
        }
        break;
    case REQ_ERROR:
        park_all(vm);
        pthread_mutex_lock(&vm->run_lock);
        set_state_locked(vm, VM_INTERNAL_ERROR);
        pthread_mutex_unlock(&vm->run_lock);
        unpark_all(vm);
        break;
    }
    free(req);
}

static void post(struct vm *vm, int kind, bool guest, const char *reason, int status)
{
    struct vm_request *req = calloc(1, sizeof(*req));
    if (!req) {
        return;
    }
    *req = (struct vm_request){vm, kind, guest, reason, status};
    /* The requesting vCPU must not run on: park everyone until the loop acts. */
    pthread_mutex_lock(&vm->run_lock);
    vm->pause_req = true;
    pthread_mutex_unlock(&vm->run_lock);
    if (evloop_call(vm->loop, do_request, req) < 0) {
        free(req);
    }
}

void vm_request_reset(struct vm *vm, bool guest, const char *reason)
{
    post(vm, REQ_RESET, guest, reason, 0);
}

void vm_request_shutdown(struct vm *vm, bool guest, const char *reason, int exit_status)
{
    post(vm, REQ_SHUTDOWN, guest, reason, exit_status);
}

void vm_request_internal_error(struct vm *vm, const char *report)
{
    pthread_mutex_lock(&vm->run_lock);
    if (!vm->error[0]) {
        snprintf(vm->error, sizeof(vm->error), "%s", report);
    }
    pthread_mutex_unlock(&vm->run_lock);
    post(vm, REQ_ERROR, true, "internal-error", EXIT_GUEST_ERROR);
}
