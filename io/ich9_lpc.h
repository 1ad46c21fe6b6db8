/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ICH9 LPC interface bridge at 00:1f.0 (8086:2918), Intel I/O Controller Hub 9 datasheet
 * 13.1: the registers firmware programs on a Q35 machine. PMBASE (0x40) and ACPI_CNTL (0x44)
 * place the ACPI power-management I/O block; PIRQ routing (0x60-0x63, 0x68-0x6B) and RCBA
 * (0xF0) are kept as storage.
 */
#ifndef DESKVM_IO_ICH9_LPC_H
#define DESKVM_IO_ICH9_LPC_H

#include <stdint.h>

#include "io/pci.h"
#include "vmm/device.h"

#define ICH9_LPC_VENDOR 0x8086
#define ICH9_LPC_DEVICE 0x2918
#define PCI_CLASS_BRIDGE_ISA 0x060100
#define ICH9_LPC_SLOT 0x1f
#define ICH9_LPC_FN 0

#define ICH9_LPC_PMBASE 0x40 /* 15:7 base (128-byte block), bit 0 reads 1 (I/O space) */
#define ICH9_LPC_PMBASE_MASK 0xff80u
#define ICH9_LPC_ACPI_CNTL 0x44 /* bit 7 ACPI_EN, 2:0 SCI IRQ select */
#define ICH9_LPC_ACPI_EN 0x80u
#define ICH9_LPC_PIRQA_ROUT 0x60 /* PIRQA-D: 0x60-0x63; PIRQE-H: 0x68-0x6B; reset 0x80 */
#define ICH9_LPC_PIRQE_ROUT 0x68
#define ICH9_LPC_RCBA 0xf0 /* 31:14 base, bit 0 enable */
#define ICH9_LPC_PM_UNMAPPED 0
/* In the PM I/O block: SMI_EN (+0x30) and SMI_STS (+0x34), ICH9 datasheet 13.8.3.7-8. */
#define ICH9_PM_SMI_EN 0x30
#define ICH9_PM_SMI_LEN 8
#define ICH9_SMI_EN_APMC_EN (1u << 5)

struct ich9_lpc {
    struct pci_dev pci;
    uint16_t pm_base; /* where the PM block decodes now, ICH9_LPC_PM_UNMAPPED when off */
    uint32_t smi_en;  /* saved; storage (there is no SMM) */
    /* The machine moves the PM I/O block (either address may be ICH9_LPC_PM_UNMAPPED). */
    void (*pm_moved)(void *opaque, uint16_t old_base, uint16_t new_base);
    void *opaque;
};

/*
 * Power-on registers: the PM block off, or with pm_at_reset (128-byte aligned, not 0) at that
 * base and ACPI_EN set, as firmware leaves it for a directly booted kernel. pm_moved (may be
 * NULL) is called whenever the decode changes, also from init. -EINVAL for a bad base.
 */
__attribute__((warn_unused_result)) int ich9_lpc_init(struct ich9_lpc *lpc, uint16_t pm_at_reset,
                                                      void (*pm_moved)(void *, uint16_t, uint16_t),
                                                      void *opaque);
void ich9_lpc_destroy(struct ich9_lpc *lpc);
/* Where PMBASE/ACPI_CNTL say the PM block decodes, or ICH9_LPC_PM_UNMAPPED. */
uint16_t ich9_lpc_pm_decoded(const struct ich9_lpc *lpc);
void ich9_lpc_reset(struct ich9_lpc *lpc);
/*
 * SMI_EN/SMI_STS, ICH9_PM_SMI_LEN bytes (the machine maps them at PMBASE + ICH9_PM_SMI_EN).
 * This machine has no SMM: SMI_EN reads APMC_EN set, which tells firmware (SeaBIOS) that SMM
 * set-up is done, as QEMU's ich9 does with SMM disabled; SMI_STS reads 0.
 */
extern const struct bus_ops ich9_lpc_smi_ops;
extern const struct vmstate ich9_lpc_vmstate;
struct device ich9_lpc_device(struct ich9_lpc *lpc);

#endif
