// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ICH9 LPC bridge (ICH9 datasheet 13.1.10 PMBASE, 13.1.11 ACPI_CNTL, 13.1.12-13 PIRQx_ROUT,
 * 13.1.35 RCBA). The PM block decodes at PMBASE only while ACPI_EN is set; OVMF's ACPI timer
 * library and SeaBIOS find the PM timer at PMBASE + 8 this way. Everything else here is
 * storage the firmware may write and read back.
 */
#include "io/ich9_lpc.h"

#include <errno.h>
#include <string.h>

uint16_t ich9_lpc_pm_decoded(const struct ich9_lpc *lpc)
{
    if (!(lpc->pci.cfg[ICH9_LPC_ACPI_CNTL] & ICH9_LPC_ACPI_EN)) {
        return ICH9_LPC_PM_UNMAPPED;
    }
    /* guest-controlled: the mask keeps the 128-byte block inside the 64 KiB port space */
    return (uint16_t)(pci_get_le(lpc->pci.cfg + ICH9_LPC_PMBASE, 2) & ICH9_LPC_PMBASE_MASK);
}

static void pm_update(struct ich9_lpc *lpc)
{
    uint16_t want = ich9_lpc_pm_decoded(lpc);
    if (want == lpc->pm_base) {
        return;
    }
    uint16_t old = lpc->pm_base;
    lpc->pm_base = want;
    if (lpc->pm_moved) {
        lpc->pm_moved(lpc->opaque, old, want);
    }
}

static void lpc_cfg_write(void *opaque, unsigned off, uint32_t val, unsigned size)
{
    (void)val;
    if (off < ICH9_LPC_ACPI_CNTL + 1 && off + size > ICH9_LPC_PMBASE) {
        pm_update(opaque);
    }
}

static const struct pci_dev_ops lpc_ops = {
    .cfg_write = lpc_cfg_write,
};

int ich9_lpc_init(struct ich9_lpc *lpc, uint16_t pm_at_reset,
                  void (*pm_moved)(void *, uint16_t, uint16_t), void *opaque)
{
    if (pm_at_reset & ~ICH9_LPC_PMBASE_MASK) {
        return -EINVAL;
    }
    memset(lpc, 0, sizeof(*lpc));
    int r = pci_dev_init(&lpc->pci, "ich9-lpc", ICH9_LPC_VENDOR, ICH9_LPC_DEVICE,
                         PCI_CLASS_BRIDGE_ISA, 2, PCI_INTX_NONE);
    if (r < 0) {
        return r;
    }
    /* The bridge forwards I/O and memory cycles and is a bus master: COMMAND is fixed. */
    pci_put_le(lpc->pci.cfg + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
    memset(lpc->pci.wmask + PCI_COMMAND, 0, 2);
    lpc->pci.wmask[PCI_INTERRUPT_LINE] = 0;

    pci_put_le(lpc->pci.cfg + ICH9_LPC_PMBASE, pm_at_reset | 1u, 4); /* bit 0: I/O space */
    if (pm_at_reset != ICH9_LPC_PM_UNMAPPED) {
        lpc->pci.cfg[ICH9_LPC_ACPI_CNTL] = ICH9_LPC_ACPI_EN;
    }
    static const uint8_t pmbase_wmask[4] = {0x80, 0xff, 0, 0};
    pci_set_wmask(&lpc->pci, ICH9_LPC_PMBASE, pmbase_wmask, sizeof(pmbase_wmask));
    static const uint8_t acpi_cntl_wmask = ICH9_LPC_ACPI_EN | 0x07;
    pci_set_wmask(&lpc->pci, ICH9_LPC_ACPI_CNTL, &acpi_cntl_wmask, 1);
    /* PIRQx_ROUT: bit 7 IRQEN (1 = not routed), 3:0 the ISA IRQ. */
    static const uint8_t pirq_wmask[4] = {0x8f, 0x8f, 0x8f, 0x8f};
    memset(lpc->pci.cfg + ICH9_LPC_PIRQA_ROUT, 0x80, 4);
    memset(lpc->pci.cfg + ICH9_LPC_PIRQE_ROUT, 0x80, 4);
    pci_set_wmask(&lpc->pci, ICH9_LPC_PIRQA_ROUT, pirq_wmask, 4);
    pci_set_wmask(&lpc->pci, ICH9_LPC_PIRQE_ROUT, pirq_wmask, 4);
    static const uint8_t rcba_wmask[4] = {0x01, 0xc0, 0xff, 0xff};
    pci_set_wmask(&lpc->pci, ICH9_LPC_RCBA, rcba_wmask, sizeof(rcba_wmask));

    pci_dev_set_ops(&lpc->pci, &lpc_ops, lpc);
    pci_set_dev_cfg_range(&lpc->pci, ICH9_LPC_PMBASE, ICH9_LPC_ACPI_CNTL + 1);
    pci_dev_realize(&lpc->pci);
    lpc->pm_moved = pm_moved;
    lpc->opaque = opaque;
    lpc->pm_base = ICH9_LPC_PM_UNMAPPED;
    pm_update(lpc);
    return 0;
}

void ich9_lpc_destroy(struct ich9_lpc *lpc)
{
    if (lpc) {
        pci_dev_destroy(&lpc->pci);
    }
}

static uint64_t smi_read(void *opaque, uint64_t off, unsigned size)
{
    struct ich9_lpc *lpc = opaque;
    uint64_t v = 0;
    /* guest-controlled: the bus keeps off + size inside the 8 bytes */
    for (unsigned i = 0; i < size; i++) {
        unsigned b = (unsigned)off + i;
        uint8_t byte = b < 4 ? (uint8_t)((lpc->smi_en | ICH9_SMI_EN_APMC_EN) >> (8 * b)) : 0;
        v |= (uint64_t)byte << (8 * i);
    }
    return v;
}

static void smi_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct ich9_lpc *lpc = opaque;
    for (unsigned i = 0; i < size; i++) {
        unsigned b = (unsigned)off + i;
        if (b < 4) { /* SMI_STS bits are write-1-to-clear and never set: nothing to do */
            lpc->smi_en = (lpc->smi_en & ~(0xffu << (8 * b))) | (uint32_t)((val >> (8 * i)) & 0xff)
                                                                    << (8 * b);
        }
    }
}

const struct bus_ops ich9_lpc_smi_ops = {
    .read = smi_read,
    .write = smi_write,
    .min_size = 1,
    .max_size = 4,
};

void ich9_lpc_reset(struct ich9_lpc *lpc)
{
    pci_dev_reset(&lpc->pci);
    lpc->smi_en = 0;
    pm_update(lpc);
}

static int ich9_lpc_post_load(void *opaque)
{
    struct ich9_lpc *lpc = opaque;
    int r = pci_dev_vmstate.post_load(&lpc->pci);
    if (r == 0) {
        pm_update(lpc);
    }
    return r;
}

static const struct vmstate_field ich9_lpc_fields[] = {
    VMSTATE_ARRAY(struct ich9_lpc, pci.cfg),
    VMSTATE_FIELD(struct ich9_lpc, smi_en),
    VMSTATE_END,
};

const struct vmstate ich9_lpc_vmstate = {
    .name = "ich9-lpc",
    .version = 1,
    .fields = ich9_lpc_fields,
    .post_load = ich9_lpc_post_load,
};

static void ich9_lpc_reset_cb(void *opaque)
{
    ich9_lpc_reset(opaque);
}

struct device ich9_lpc_device(struct ich9_lpc *lpc)
{
    return (struct device){
        .name = "ich9-lpc",
        .opaque = lpc,
        .reset = ich9_lpc_reset_cb,
        .state = &ich9_lpc_vmstate,
    };
}
