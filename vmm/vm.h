/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One virtual machine: the KVM VM fd, guest memory, buses, vCPUs, devices and run state.
 * The engine process runs exactly one of these.
 */
#ifndef DESKVM_VMM_VM_H
#define DESKVM_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/boot.h"
#include "vmm/bus.h"
#include "vmm/device.h"
#include "vmm/e820.h"
#include "vmm/irq.h"
#include "vmm/irq_routing.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"

struct chardev;
struct evloop;
struct firmware;
struct pc;
struct pci_machine;
struct vcpu;
struct virtio_machine;

#define VM_MAX_DEVICES 128 /* virtio functions bring a section per queue */
#define VM_MAX_GSI 24

enum vm_run_state {
    VM_PRELAUNCH,
    VM_RUNNING,
    VM_PAUSED,
    VM_SHUTDOWN,
    VM_INTERNAL_ERROR,
};

struct vm_config {
    uint64_t mem_size;
    unsigned ncpus;
    bool hugepages;
    const char *kernel;
    const void *kernel_buf; /* an embedded image instead of a file */
    size_t kernel_len;
    const char *initrd;
    const char *cmdline;
    const char *firmware;               /* BIOS image path: boot through it instead of the kernel */
    const char *firmware_vars;          /* UEFI variable store file (NULL: a private copy) */
    const char *firmware_vars_template; /* copied into a missing firmware_vars / the copy */
    struct chardev *serial;             /* COM1 back-end, NULL = discard */
    bool restoring;                     /* a checkpoint supplies RAM and state: load no kernel */
};

/* What the machine does when a guest or host event asks it to stop or reset. */
struct vm_hooks {
    void (*on_state)(void *opaque, enum vm_run_state old, enum vm_run_state state);
    void (*on_reset)(void *opaque, bool guest, const char *reason);
    void (*on_shutdown)(void *opaque, bool guest, const char *reason, int exit_status);
    void (*on_powerdown)(void *opaque);
    void *opaque;
};

struct vm {
    struct kvm_sys *kvm;
    int fd;
    struct vm_config cfg;
    struct guest_mem mem;
    struct e820_map e820;
    struct boot_entry boot;
    uint64_t rsdp_gpa;
    struct bus pio;
    struct bus mmio;
    /* The big device lock: held around bus dispatch and every event-loop callback. */
    pthread_mutex_t dev_lock;
    struct evloop *loop;
    struct kvm_cpuid2 *cpuid; /* supported CPUID, patched per vCPU */
    struct vcpu *vcpus;
    unsigned ncpus;
    struct irq_line gsi[VM_MAX_GSI];
    struct irq_routing routing; /* KVM GSI routes: the PC's irqchip pins, then MSI routes */
    struct device devices[VM_MAX_DEVICES];
    unsigned ndevices;
    struct vm_hooks hooks;
    struct pc *pc;                 /* the platform's devices (vmm/pc.c) */
    struct pci_machine *pci;       /* the PCI host bridge and functions (vmm/pci_machine.c) */
    struct virtio_machine *virtio; /* virtio-pci functions (vmm/virtio_machine.c) */
    struct firmware *fw;           /* --firmware: ROM, PAM, fw_cfg (vmm/firmware.c) */

    /* Run control: vCPU threads park here while the VM is not running. */
    pthread_mutex_t run_lock;
    pthread_cond_t run_cond;
    enum vm_run_state state;
    bool pause_req; /* vCPUs must park */
    bool quit;      /* vCPU threads must exit */
    unsigned parked;
    int exit_status;
    char error[1024]; /* why the VM stopped on an internal error */

    /*
     * KVM's ring of MMIO writes it queued instead of exiting (the zones of vm_coalesce_mmio),
     * in vCPU 0's mapping; NULL without the capability. vm_coalesced_flush() applies them.
     */
    struct kvm_coalesced_mmio_ring *coalesced_ring;
    unsigned coalesced_max;

    /* Initial irqchip/PIT state, restored on reset. */
    struct kvm_irqchip irqchip_init[3];
    struct kvm_pit_state2 pit_init;
};

/* Create the VM: memory, irqchip, PIT, ACPI, boot images, vCPUs (not started). */
int vm_create(struct vm *vm, struct kvm_sys *kvm, const struct vm_config *cfg, struct evloop *loop,
              char *err, size_t errlen);
void vm_destroy(struct vm *vm);

/* Register a device for reset and snapshot. -ENOSPC when full. */
__attribute__((warn_unused_result)) int vm_add_device(struct vm *vm, const struct device *dev);

/*
 * Let KVM queue the guest's MMIO writes to [addr, addr + size) in the coalesced ring instead
 * of exiting for each (QEMU does this for the legacy VGA window): reads still exit. The bus
 * handlers then see those writes late but in order: every vCPU exit, vm_pause()/vm_reset()
 * and whoever reads the device's state from another thread (the display refresh) call
 * vm_coalesced_flush() first. -ENOTSUP without the capability (nothing changes).
 */
int vm_coalesce_mmio(struct vm *vm, uint64_t addr, uint64_t size);
/* Apply the queued writes in order through the MMIO bus. Device lock held. */
void vm_coalesced_flush(struct vm *vm);
/* Whether writes are queued (no lock; a hint for the vCPU loop). */
static inline bool vm_coalesced_pending(const struct vm *vm)
{
    const struct kvm_coalesced_mmio_ring *r = vm->coalesced_ring;
    return r && __atomic_load_n(&r->first, __ATOMIC_RELAXED) !=
                    __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
}

/* Start vCPU threads, running or paused. */
int vm_start(struct vm *vm, bool paused, char *err, size_t errlen);
/* Stop and join vCPU threads (any state). */
void vm_join(struct vm *vm);

/*
 * Lifecycle, called on the event-loop thread with the device lock held (they drop it while
 * waiting for vCPUs to park, so vCPUs blocked on the lock can reach their park point).
 */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
int vm_reset(struct vm *vm, bool guest, const char *reason);
void vm_powerdown(struct vm *vm); /* ACPI power button */

/* Requests from any thread (vCPU threads, device callbacks): handled on the loop thread. */
void vm_request_reset(struct vm *vm, bool guest, const char *reason);
void vm_request_shutdown(struct vm *vm, bool guest, const char *reason, int exit_status);
void vm_request_internal_error(struct vm *vm, const char *report);

const char *vm_state_name(enum vm_run_state s);

/* GSI lines for devices. */
const struct irq_line *vm_gsi(struct vm *vm, unsigned gsi);

#endif
