// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PC platform glue: places the legacy devices at their ISA ports and GSIs, connects COM1 to
 * its character back-end, and turns device callbacks (reset line, sleep, debug exit) into
 * VM requests. The devices themselves know no addresses.
 */
#include "vmm/pc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/acpi_pm.h"
#include "io/cmos_rtc.h"
#include "io/debug_exit.h"
#include "io/i8042.h"
#include "io/ich9_lpc.h"
#include "io/reset_port.h"
#include "io/uart16550.h"
#include "vmm/acpi.h"
#include "vmm/chardev.h"
#include "vmm/evloop.h"
#include "vmm/pci_machine.h"
#include "vmm/virtio_machine.h"
#include "vmm/vm.h"

/* How often to retry feeding serial input while the guest's receive FIFO is full. */
#define SERIAL_RETRY_NS 1000000ull

struct pc {
    struct vm *vm;
    struct uart16550 com1;
    struct cmos_rtc rtc;
    struct i8042 kbc;
    struct acpi_pm pm;
    struct ich9_lpc lpc;
    bool lpc_attached;
    uint64_t pm_errors; /* PMBASE placements colliding with other ports: decode nowhere */
    struct reset_port rst;
    struct debug_exit dbg;
    struct chardev *serial;
    struct vtimer *serial_retry;
    bool serial_attached;
};

static void on_reset_line(void *opaque)
{
    struct pc *pc = opaque;
    vm_request_reset(pc->vm, true, "guest-reset");
}

/*
 * The LPC bridge moved the ACPI PM block (PMBASE, ACPI_EN): the fixed registers and the
 * SMI_EN/SMI_STS pair follow it. A base that collides with other ports decodes nowhere.
 */
static void pm_moved(void *opaque, uint16_t old_base, uint16_t new_base)
{
    struct pc *pc = opaque;
    struct vm *vm = pc->vm;
    if (old_base != ICH9_LPC_PM_UNMAPPED) {
        bus_unregister(&vm->pio, old_base);
        bus_unregister(&vm->pio, old_base + ICH9_PM_SMI_EN);
    }
    if (new_base == ICH9_LPC_PM_UNMAPPED) {
        return;
    }
    if (bus_register(&vm->pio, new_base, ACPI_PM_LEN, &acpi_pm_ops, &pc->pm, "acpi-pm") < 0) {
        pc->pm_errors++;
        return;
    }
    if (bus_register(&vm->pio, new_base + ICH9_PM_SMI_EN, ICH9_PM_SMI_LEN, &ich9_lpc_smi_ops,
                     &pc->lpc, "ich9-smi") < 0) {
        bus_unregister(&vm->pio, new_base);
        pc->pm_errors++;
    }
}

static void on_sleep(void *opaque, unsigned slp_typ)
{
    struct pc *pc = opaque;
    if (slp_typ == ACPI_SLP_TYP_S5) {
        vm_request_shutdown(pc->vm, true, "guest-shutdown", EXIT_OK);
    }
    /* Other sleep states are not offered in \_Sx; a guest asking for one carries on. */
}

static void on_debug_exit(void *opaque, int status)
{
    struct pc *pc = opaque;
    vm_request_shutdown(pc->vm, true, "guest-shutdown", status);
}

/* Input from the back-end: what the receive FIFO has room for; retry the rest soon. */
static size_t serial_input(void *opaque, const uint8_t *buf, size_t len)
{
    struct pc *pc = opaque;
    size_t took = uart_receive(&pc->com1, buf, len);
    if (took < len) {
        vtimer_mod(pc->serial_retry, vclock_now(evloop_clock(pc->vm->loop)) + SERIAL_RETRY_NS);
    }
    return took;
}

static void serial_retry(void *opaque)
{
    struct pc *pc = opaque;
    chardev_input_resume(pc->serial);
}

static int add(struct vm *vm, struct bus *bus, uint64_t base, uint64_t len,
               const struct bus_ops *ops, void *opaque, const char *name, char *err, size_t errlen)
{
    int r = bus_register(bus, base, len, ops, opaque, name);
    if (r < 0) {
        snprintf(err, errlen, "cannot place %s at 0x%llx: %s", name, (unsigned long long)base,
                 strerror(-r));
    }
    return r;
}

static int add_device(struct vm *vm, const struct device *dev, char *err, size_t errlen)
{
    int r = vm_add_device(vm, dev);
    if (r < 0) {
        snprintf(err, errlen, "too many devices");
    }
    return r;
}

/*
 * The ICH9 LPC bridge at 00:1f.0. With firmware its PM block decodes once the firmware
 * programs PMBASE and ACPI_EN; a directly booted kernel finds it where a firmware would have
 * left it (ACPI_PM_BASE, enabled), which is what the FADT says.
 */
static int lpc_init(struct pc *pc, char *err, size_t errlen)
{
    struct vm *vm = pc->vm;
    uint16_t at_reset = vm->cfg.firmware ? ICH9_LPC_PM_UNMAPPED : ACPI_PM_BASE;
    int r = ich9_lpc_init(&pc->lpc, at_reset, pm_moved, pc);
    if (r == 0) {
        r = pci_machine_add(vm->pci, &pc->lpc.pci, ICH9_LPC_SLOT, ICH9_LPC_FN, NULL);
    }
    if (r < 0) {
        snprintf(err, errlen, "cannot attach the LPC bridge at 00:1f.0: %s", strerror(-r));
        return r;
    }
    pc->lpc_attached = true;
    struct device dev = ich9_lpc_device(&pc->lpc);
    return add_device(vm, &dev, err, errlen);
}

int pc_devices_init(struct vm *vm, char *err, size_t errlen)
{
    struct pc *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    vm->pc = pc;
    pc->vm = vm;
    pc->serial = vm->cfg.serial;
    struct vclock *clock = evloop_clock(vm->loop);
    struct device dev = {0};
    int r;

    if (uart16550_init(&pc->com1, pc->serial, clock, vm_gsi(vm, PC_COM1_IRQ)) < 0 ||
        cmos_rtc_init(&pc->rtc, clock, vm_gsi(vm, PC_RTC_IRQ)) < 0 ||
        acpi_pm_init(&pc->pm, clock, vm_gsi(vm, ACPI_SCI_IRQ), on_sleep, pc) < 0) {
        snprintf(err, errlen, "cannot create the platform devices");
        return -ENOMEM;
    }
    i8042_init(&pc->kbc, vm_gsi(vm, PC_I8042_IRQ), vm_gsi(vm, 12), on_reset_line, pc);
    reset_port_init(&pc->rst, on_reset_line, pc);
    debug_exit_init(&pc->dbg, on_debug_exit, pc);
    cmos_rtc_set_memory(&pc->rtc, guest_mem_low_top(&vm->mem), guest_mem_high_size(&vm->mem),
                        vm->ncpus);

    if ((r = add(vm, &vm->pio, PC_COM1_BASE, 8, &uart16550_ops, &pc->com1, "com1", err, errlen)) <
            0 ||
        (r = add(vm, &vm->pio, PC_RTC_BASE, 2, &cmos_rtc_ops, &pc->rtc, "rtc", err, errlen)) < 0 ||
        (r = add(vm, &vm->pio, PC_I8042_DATA, 1, &i8042_data_ops, &pc->kbc, "i8042-data", err,
                 errlen)) < 0 ||
        (r = add(vm, &vm->pio, PC_I8042_CMD, 1, &i8042_ctrl_ops, &pc->kbc, "i8042-cmd", err,
                 errlen)) < 0 ||
        (r = add(vm, &vm->pio, PC_DEBUG_EXIT_BASE, 4, &debug_exit_ops, &pc->dbg, "debug-exit", err,
                 errlen)) < 0) {
        return r;
    }

    /* The reset register at 0xCF9 is reached through the host bridge's 0xCF8-0xCFF ports. */
    if ((r = pci_machine_init(vm, &reset_port_ops, &pc->rst, err, errlen)) < 0) {
        return r;
    }

    uart16550_device(&pc->com1, &dev);
    if ((r = add_device(vm, &dev, err, errlen)) < 0) {
        return r;
    }
    cmos_rtc_device(&pc->rtc, &dev);
    if ((r = add_device(vm, &dev, err, errlen)) < 0) {
        return r;
    }
    i8042_device(&pc->kbc, &dev);
    if ((r = add_device(vm, &dev, err, errlen)) < 0) {
        return r;
    }
    dev = acpi_pm_device(&pc->pm);
    if ((r = add_device(vm, &dev, err, errlen)) < 0 || (r = lpc_init(pc, err, errlen)) < 0) {
        return r;
    }
    dev = reset_port_device(&pc->rst);
    if ((r = add_device(vm, &dev, err, errlen)) < 0) {
        return r;
    }
    debug_exit_device(&pc->dbg, &dev);
    if ((r = add_device(vm, &dev, err, errlen)) < 0) {
        return r;
    }

    if (pc->serial) {
        pc->serial_retry = vtimer_new(clock, serial_retry, pc);
        if (!pc->serial_retry) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        if ((r = chardev_attach(pc->serial, vm->loop, serial_input, pc)) < 0) {
            snprintf(err, errlen, "cannot watch the serial port's back-end: %s", strerror(-r));
            return r;
        }
        pc->serial_attached = true;
    }
    return 0;
}

void pc_devices_destroy(struct vm *vm)
{
    struct pc *pc = vm->pc;
    if (!pc) {
        return;
    }
    if (pc->serial_attached) {
        chardev_detach(pc->serial);
    }
    vtimer_free(pc->serial_retry);
    virtio_machine_destroy(vm); /* detaches its functions: before the PCI machine goes */
    if (pc->lpc_attached) {
        pci_machine_remove(vm->pci, &pc->lpc.pci);
    }
    ich9_lpc_destroy(&pc->lpc);
    pci_machine_destroy(vm);
    uart16550_destroy(&pc->com1);
    cmos_rtc_destroy(&pc->rtc);
    i8042_destroy(&pc->kbc);
    acpi_pm_destroy(&pc->pm);
    debug_exit_destroy(&pc->dbg);
    free(pc);
    vm->pc = NULL;
}

void pc_power_button(struct vm *vm)
{
    if (vm->pc) {
        acpi_pm_power_button(&vm->pc->pm);
    }
}

struct i8042 *pc_keyboard(struct vm *vm)
{
    return vm->pc ? &vm->pc->kbc : NULL;
}
