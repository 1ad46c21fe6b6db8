// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Firmware boot: the BIOS ROM at the top of 4 GiB and at 0xE0000-0xFFFFF, shadow RAM that
 * follows the Q35 MCH's PAM0-6 registers (Intel 3 Series Chipset datasheet 5.1.18-5.1.24),
 * and the fw_cfg items SeaBIOS reads (docs/firmware.md).
 *
 * Each of the 13 PAM segments is one KVM memory slot whose kind follows its two attribute
 * bits: RE|WE shadow RAM, RE alone read-only RAM, neither the ROM alias (E/F segments) or
 * nothing (C/D segments, where option ROM BARs would decode). A write to a read-only slot
 * exits to the MMIO handler here, which drops it, or stores it to RAM when only WE is set.
 */
#include "vmm/firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/acpi.h"
#include "vmm/firmware_kernel.h"
#include "vmm/pci_machine.h"
#include "vmm/vm.h"

#define FW_SLOT_SEG0 20 /* segment slots 20-32; guest RAM uses 0-7, VRAM 16 */
#define FW_SLOT_ROM 33
#define FW_SLOT_VARS 34
#define PAM_RE 1u
#define PAM_WE 2u

uint64_t firmware_seg_base(unsigned i)
{
    return i == 0 ? 0xF0000 : 0xC0000 + (uint64_t)(i - 1) * 0x4000;
}

uint64_t firmware_seg_size(unsigned i)
{
    return i == 0 ? 0x10000 : 0x4000;
}

unsigned firmware_seg_attr(const uint8_t *pam, unsigned i)
{
    if (i == 0) {
        return (pam[0] >> 4) & 3; /* PAM0 bits 5:4: 0xF0000-0xFFFFF */
    }
    /* PAMn (n = 1..6): low nibble the lower 16 KiB, high nibble the upper. */
    unsigned reg = 1 + (i - 1) / 2;
    return (pam[reg] >> ((i - 1) % 2 ? 4 : 0)) & 3;
}

enum firmware_seg firmware_seg_kind(unsigned i, unsigned attr)
{
    if (attr & PAM_RE) {
        return attr & PAM_WE ? FW_SEG_RAM : FW_SEG_RAM_RO;
    }
    /* Reads go to the bus: the BIOS alias covers 0xE0000-0xFFFFF only. */
    return firmware_seg_base(i) >= 0xE0000 ? FW_SEG_ROM : FW_SEG_NONE;
}

/* A firmware volume header (UEFI PI spec vol. 3, 3.2.1): "_FVH" at offset 0x28. */
static bool is_fv(const uint8_t *p, size_t n)
{
    return n >= 0x30 && memcmp(p + 0x28, "_FVH", 4) == 0;
}

bool firmware_has_vars(const uint8_t *img, size_t n)
{
    /* EFI_SYSTEM_NV_DATA_FV_GUID {fff12b8d-7696-4c8b-a985-2747075b4f50}, as stored. */
    static const uint8_t nv_guid[16] = {0x8d, 0x2b, 0xf1, 0xff, 0x96, 0x76, 0x8b, 0x4c,
                                        0xa9, 0x85, 0x27, 0x47, 0x07, 0x5b, 0x4f, 0x50};
    return is_fv(img, n) && memcmp(img + 0x10, nv_guid, sizeof(nv_guid)) == 0;
}

static int read_file(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0) {
            return -EIO;
        }
        got += (size_t)r;
    }
    return 0;
}

int firmware_load_image(const char *path, uint8_t **rom, size_t *size, enum firmware_kind *kind,
                        char *err, size_t errlen)
{
    *rom = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if (st.st_size < FIRMWARE_MIN_SIZE || st.st_size > FIRMWARE_UEFI_MAX_SIZE ||
        (st.st_size & 0xfff)) {
        snprintf(err, errlen,
                 "%s: not a BIOS image: %lld bytes (a multiple of 4 KiB: 128 to 256 KiB for a "
                 "BIOS, up to %u MiB for UEFI code)",
                 path, (long long)st.st_size, FIRMWARE_UEFI_MAX_SIZE >> 20);
        close(fd);
        return -EINVAL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    if (read_file(fd, p, n) < 0) {
        snprintf(err, errlen, "%s: read error", path);
        munmap(p, n);
        close(fd);
        return -EIO;
    }
    close(fd);
    /* Larger than a BIOS: only a UEFI code image, which starts with a firmware volume. */
    *kind = n > FIRMWARE_MAX_SIZE || is_fv(p, n) ? FIRMWARE_KIND_UEFI : FIRMWARE_KIND_BIOS;
    if (n > FIRMWARE_MAX_SIZE && !is_fv(p, n)) {
        snprintf(err, errlen,
                 "%s: not a BIOS image: %zu bytes is too large for a BIOS, and it is no UEFI "
                 "firmware volume (no _FVH header)",
                 path, n);
        munmap(p, n);
        return -EINVAL;
    }
    /* The reset vector (16 bytes below 4 GiB) must jump: far (EA) or near (E9/EB, maybe after
     * NOPs as OVMF does). */
    const uint8_t *rv = p + n - 16;
    bool jump = false;
    for (unsigned i = 0; i < 4 && !jump; i++) {
        jump = rv[i] == 0xea || rv[i] == 0xe9 || rv[i] == 0xeb;
        if (rv[i] != 0x90 && !jump) {
            break;
        }
    }
    /* OVMF's SEV-aware reset vector tests CR0 first (mov eax, cr0; test al, 1; jz; jmp). */
    for (unsigned i = 0; i < 16 && !jump && *kind == FIRMWARE_KIND_UEFI; i++) {
        jump = rv[i] == 0xe9 || rv[i] == 0xeb;
    }
    if (!jump) {
        snprintf(err, errlen, "%s: not a BIOS image: no jump at the reset vector", path);
        munmap(p, n);
        return -EINVAL;
    }
    *rom = p;
    *size = n;
    return 0;
}

/* Copy template into a new file at path (mode 0600): the first run of a VM's variable store. */
static int create_vars(const char *path, const char *template, char *err, size_t errlen)
{
    int in = open(template, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s (the variable store template)", template, strerror(e));
        return -e;
    }
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        close(in);
        return -e;
    }
    int r = 0;
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n == 0) {
            break;
        }
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            r = -EIO;
            break;
        }
    }
    if (r == 0 && fsync(out) < 0) {
        r = -errno;
    }
    close(in);
    close(out);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot copy %s into it: %s", path, template, strerror(-r));
        unlink(path);
    }
    return r;
}

int firmware_open_vars(const char *path, const char *template, uint8_t **buf, size_t *size,
                       int *fdp, char *err, size_t errlen)
{
    *buf = NULL;
    *size = 0;
    *fdp = -1;
    const char *file = path ? path : template;
    if (!file) {
        snprintf(err, errlen, "a UEFI image needs a variable store: --firmware FILE,vars=PATH");
        return -EINVAL;
    }
    int fd = open(file, (path ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && path && template) {
        int r = create_vars(path, template, err, errlen);
        if (r < 0) {
            return r;
        }
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", file, strerror(e));
        return -e;
    }
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < PFLASH_BLOCK_SIZE ||
        st.st_size > FIRMWARE_VARS_MAX_SIZE || (st.st_size % PFLASH_BLOCK_SIZE)) {
        snprintf(err, errlen,
                 "%s: not a UEFI variable store (a file of 4 KiB blocks, up to %u MiB)", file,
                 FIRMWARE_VARS_MAX_SIZE >> 20);
        r = -EINVAL;
        goto fail;
    }
    /* Two VMs writing one store would corrupt it. */
    if (path && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        r = -errno;
        snprintf(err, errlen, "%s: in use by another VM", path);
        goto fail;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *p;
    if (path) {
        p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } else {
        p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED && read_file(fd, p, n) < 0) {
            munmap(p, n);
            snprintf(err, errlen, "%s: read error", file);
            r = -EIO;
            goto fail;
        }
    }
    if (p == MAP_FAILED) {
        r = -errno;
        snprintf(err, errlen, "%s: %s", file, strerror(-r));
        goto fail;
    }
    if (!firmware_has_vars(p, n)) {
        snprintf(err, errlen, "%s: not a UEFI variable store (no NV firmware volume header)", file);
        munmap(p, n);
        r = -EINVAL;
        goto fail;
    }
    *buf = p;
    *size = n;
    if (path) {
        *fdp = fd;
    } else {
        close(fd);
    }
    return 0;
fail:
    close(fd);
    return r;
}

static int set_slot(struct firmware *fw, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
                    bool readonly)
{
    struct kvm_userspace_memory_region kr = {
        .slot = slot,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)hva,
    };
    if (ioctl(fw->vm->fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
        return -errno;
    }
    return 0;
}

static void apply_seg(struct firmware *fw, unsigned i, enum firmware_seg kind)
{
    if (fw->seg[i] == kind) {
        return;
    }
    uint64_t gpa = firmware_seg_base(i);
    uint64_t size = firmware_seg_size(i);
    unsigned slot = FW_SLOT_SEG0 + i;
    int r = 0;
    if (fw->seg[i] != FW_SEG_NONE) {
        r = set_slot(fw, slot, gpa, 0, NULL, false); /* KVM changes flags only by delete+add */
    }
    void *ram = fw->vm->mem.base + gpa; /* below 3 GiB the memfd offset is the address */
    void *rom = fw->rom + fw->rom_size - FIRMWARE_ALIAS_SIZE + (gpa - 0xE0000);
    if (r == 0 && kind != FW_SEG_NONE) {
        r = set_slot(fw, slot, gpa, size, kind == FW_SEG_ROM ? rom : ram, kind != FW_SEG_RAM);
    }
    if (r < 0) {
        if (fw->slot_errors++ == 0) {
            fprintf(stderr, "deskvm-vm: cannot remap 0x%llx for the PAM registers: %s\n",
                    (unsigned long long)gpa, strerror(-r));
        }
        kind = FW_SEG_NONE;
    }
    fw->seg[i] = kind;
}

/* The host bridge's PAM hook: runs in the guest's config write, under the device lock. */
static void pam_changed(void *opaque, const uint8_t pam[Q35_PAM_COUNT])
{
    struct firmware *fw = opaque;
    memcpy(fw->pam, pam, Q35_PAM_COUNT);
    for (unsigned i = 0; i < FIRMWARE_PAM_SEGS; i++) {
        apply_seg(fw, i, firmware_seg_kind(i, firmware_seg_attr(pam, i)));
    }
}

static unsigned seg_of(uint64_t gpa)
{
    return gpa >= 0xF0000 ? 0 : 1 + (unsigned)((gpa - 0xC0000) / 0x4000);
}

/* Exits in 0xC0000-0xFFFFF: reads where no slot decodes, writes to read-only slots. */
static uint64_t shadow_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)off;
    return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static void shadow_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct firmware *fw = opaque;
    uint64_t gpa = MEM_SHADOW_START + off;
    /* guest-controlled: the bus keeps off + size inside the range; a write may straddle two
     * segments only if misaligned, and then the first segment's attribute decides. */
    if (!(firmware_seg_attr(fw->pam, seg_of(gpa)) & PAM_WE) || gpa + size > MEM_SHADOW_END) {
        return; /* ROM or write-protected shadow: dropped, as the hardware does */
    }
    memcpy(fw->vm->mem.base + gpa, &val, size);
}

static const struct bus_ops shadow_ops = {
    .read = shadow_read,
    .write = shadow_write,
    .min_size = 1,
    .max_size = 8,
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static struct acpi_config acpi_cfg(const struct vm *vm)
{
    uint64_t ecam = vm->pci->host.ecam_base;
    return (struct acpi_config){
        .ncpus = vm->ncpus,
        .pci = true,
        .ecam_base = ecam == PCI_BAR_UNMAPPED ? 0 : ecam,
    };
}

/*
 * The guest selected etc/acpi/tables: rebuild them for ECAM where the firmware has put it
 * (SeaBIOS and OVMF both move it to 0xB0000000 long before they load ACPI tables). The
 * size does not depend on the ECAM base.
 */
static void refresh_acpi(void *opaque, uint8_t *data, uint32_t len)
{
    struct firmware *fw = opaque;
    struct acpi_config cfg = acpi_cfg(fw->vm);
    struct acpi_fw_tables t;
    if (acpi_build_fw_tables(&cfg, &t) == 0 && t.tables_len == len) {
        memcpy(data, t.tables, len);
    }
    acpi_fw_tables_free(&t);
}

/* The ACPI tables of vmm/acpi.c through QEMU's table-loader files. */
static int add_acpi(struct firmware *fw)
{
    struct acpi_config cfg = acpi_cfg(fw->vm);
    struct acpi_fw_tables t;
    int r = acpi_build_fw_tables(&cfg, &t);
    if (r == 0) {
        r = fw_cfg_add_file(&fw->cfg, ACPI_FILE_RSDP, t.rsdp, sizeof(t.rsdp));
    }
    if (r == 0) {
        r = fw_cfg_add_file(&fw->cfg, ACPI_FILE_TABLES, t.tables, (uint32_t)t.tables_len);
    }
    if (r == 0) {
        r = fw_cfg_add_file(&fw->cfg, ACPI_FILE_LOADER, t.loader,
                            t.nloader * ACPI_LOADER_ENTRY_LEN);
    }
    if (r == 0) {
        r = fw_cfg_set_select_hook(&fw->cfg, ACPI_FILE_TABLES, refresh_acpi, fw);
    }
    acpi_fw_tables_free(&t);
    return r;
}

static int add_items(struct firmware *fw)
{
    struct vm *vm = fw->vm;
    struct fw_cfg *f = &fw->cfg;
    int r;
    if ((r = fw_cfg_add_i64(f, FW_CFG_RAM_SIZE, vm->mem.size)) < 0 ||
        (r = fw_cfg_add_i16(f, FW_CFG_NB_CPUS, (uint16_t)vm->ncpus)) < 0 ||
        (r = fw_cfg_add_i16(f, FW_CFG_MAX_CPUS, (uint16_t)vm->ncpus)) < 0 ||
        (r = fw_cfg_add_i16(f, FW_CFG_NOGRAPHIC, 0)) < 0 ||
        (r = fw_cfg_add_i64(f, FW_CFG_NUMA, 0)) < 0 ||
        (r = fw_cfg_add_i16(f, FW_CFG_BOOT_MENU, 0)) < 0) {
        return r;
    }
    /* etc/e820: { le64 address, le64 length, le32 type } per entry, RAM only; the firmware
     * reserves its own areas (EBDA, BIOS, ECAM) itself. */
    uint8_t e820[2 * 20];
    unsigned n = 0;
    put_le(e820, 0, 8);
    put_le(e820 + 8, guest_mem_low_top(&vm->mem), 8);
    put_le(e820 + 16, 1, 4);
    n++;
    if (guest_mem_high_size(&vm->mem)) {
        put_le(e820 + 20, MEM_4G, 8);
        put_le(e820 + 28, guest_mem_high_size(&vm->mem), 8);
        put_le(e820 + 36, 1, 4);
        n++;
    }
    if ((r = fw_cfg_add_file(f, "etc/e820", e820, n * 20)) < 0) {
        return r;
    }
    if ((r = add_acpi(fw)) < 0) {
        return r;
    }
    /* SeaBIOS's serial console (sercon): BIOS text output also goes to COM1. */
    uint8_t port[2];
    put_le(port, 0x3f8, 2);
    return fw_cfg_add_file(f, "etc/sercon-port", port, sizeof(port));
}

/* The variable store's flash left or entered read-array mode: map or unmap its contents. */
static void vars_array_changed(void *opaque, bool array)
{
    struct firmware *fw = opaque;
    if (fw->vars_mapped == array) {
        return; /* a state load repeats what is mapped already */
    }
    uint64_t base = MEM_4G - fw->rom_size - fw->vars_size;
    int r = array ? set_slot(fw, FW_SLOT_VARS, base, fw->vars_size, fw->vars, true)
                  : set_slot(fw, FW_SLOT_VARS, base, 0, NULL, false);
    if (r < 0) {
        if (fw->slot_errors++ == 0) {
            fprintf(stderr, "deskvm-vm: cannot remap the UEFI variable store: %s\n", strerror(-r));
        }
        return;
    }
    fw->vars_mapped = array;
}

/* UEFI: the variable store as CFI flash right below the code. */
static int init_flash(struct firmware *fw, char *err, size_t errlen)
{
    struct vm *vm = fw->vm;
    int r = firmware_open_vars(vm->cfg.firmware_vars, vm->cfg.firmware_vars_template, &fw->vars,
                               &fw->vars_size, &fw->vars_fd, err, errlen);
    if (r < 0) {
        return r;
    }
    if (fw->rom_size + fw->vars_size > FIRMWARE_UEFI_MAX_SIZE + FIRMWARE_VARS_MAX_SIZE) {
        snprintf(err, errlen, "the UEFI code and variable store are too large together");
        return -EINVAL;
    }
    uint64_t base = MEM_4G - fw->rom_size - fw->vars_size;
    if ((r = pflash_init(&fw->flash, fw->vars, fw->vars_size, vars_array_changed, fw)) < 0 ||
        (r = bus_register(&vm->mmio, base, fw->vars_size, &pflash_ops, &fw->flash, "pflash")) < 0) {
        snprintf(err, errlen, "cannot set up the UEFI variable store: %s", strerror(-r));
        return r;
    }
    vars_array_changed(fw, true);
    if (fw->slot_errors) {
        snprintf(err, errlen, "cannot map the UEFI variable store below the code");
        return -EIO;
    }
    return 0;
}

int firmware_init(struct vm *vm, const char *path, char *err, size_t errlen)
{
    if (!vm->pci) {
        snprintf(err, errlen, "--firmware needs the PCI host bridge");
        return -EINVAL;
    }
    if (guest_mem_low_top(&vm->mem) <= MEM_SHADOW_END || !vm->mem.shadow) {
        snprintf(err, errlen, "--firmware needs more than 1 MiB of RAM");
        return -EINVAL;
    }
    struct firmware *fw = calloc(1, sizeof(*fw));
    if (!fw) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    fw->vm = vm;
    fw->vars_fd = -1;
    vm->fw = fw;
    int r = firmware_load_image(path, &fw->rom, &fw->rom_size, &fw->kind, err, errlen);
    if (r < 0) {
        return r;
    }
    r = set_slot(fw, FW_SLOT_ROM, MEM_4G - fw->rom_size, fw->rom_size, fw->rom, true);
    if (r < 0) {
        snprintf(err, errlen, "cannot map the firmware below 4 GiB: %s", strerror(-r));
        return r;
    }
    /*
     * A UEFI image that carries its own variable store (Debian's unified OVMF.fd) runs
     * read-only without vars=, as under QEMU's -bios: OVMF finds no flash and keeps its
     * variables in RAM until the VM stops.
     */
    bool rom_only = fw->kind == FIRMWARE_KIND_UEFI && !vm->cfg.firmware_vars &&
                    !vm->cfg.firmware_vars_template && firmware_has_vars(fw->rom, fw->rom_size);
    if (fw->kind == FIRMWARE_KIND_UEFI && !rom_only && (r = init_flash(fw, err, errlen)) < 0) {
        return r;
    }
    r = bus_register(&vm->mmio, MEM_SHADOW_START, MEM_SHADOW_END - MEM_SHADOW_START, &shadow_ops,
                     fw, "bios-shadow");
    if (r < 0) {
        snprintf(err, errlen, "cannot register the BIOS area: %s", strerror(-r));
        return r;
    }
    for (unsigned i = 0; i < FIRMWARE_PAM_SEGS; i++) {
        fw->seg[i] = FW_SEG_NONE;
    }
    pci_host_set_pam_hook(&vm->pci->host, pam_changed, fw);
    if (fw->slot_errors) {
        snprintf(err, errlen, "cannot map the BIOS at 0xE0000");
        return -EIO;
    }

    r = fw_cfg_init(&fw->cfg, &vm->mem);
    if (r == 0) {
        r = add_items(fw);
    }
    if (r < 0) {
        snprintf(err, errlen, "cannot build the fw_cfg items: %s", strerror(-r));
        return r;
    }
    /* --kernel with --firmware: the firmware loads it from fw_cfg (vmm/firmware_kernel.c). */
    if (vm->cfg.kernel && !vm->cfg.kernel_buf &&
        (r = firmware_add_kernel(vm, vm->cfg.kernel, vm->cfg.initrd, vm->cfg.cmdline, err,
                                 errlen)) < 0) {
        return r;
    }
    r = bus_register(&vm->pio, FW_CFG_PORT_BASE, FW_CFG_PORT_LEN, &fw_cfg_ops, &fw->cfg, "fw-cfg");
    if (r < 0) {
        snprintf(err, errlen, "cannot register fw_cfg: %s", strerror(-r));
        return r;
    }
    return 0;
}

void firmware_destroy(struct vm *vm)
{
    struct firmware *fw = vm ? vm->fw : NULL;
    if (!fw) {
        return;
    }
    fw_cfg_destroy(&fw->cfg);
    if (fw->rom) {
        munmap(fw->rom, fw->rom_size);
    }
    if (fw->vars) {
        munmap(fw->vars, fw->vars_size); /* a shared mapping: the page cache has the writes */
    }
    if (fw->vars_fd >= 0) {
        close(fw->vars_fd);
    }
    free(fw);
    vm->fw = NULL;
}

int firmware_read_file(const char *path, const char *what, uint64_t min, uint64_t max,
                       uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size < min || (uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: not %s (%llu to %llu bytes)", path, what,
                 (unsigned long long)min, (unsigned long long)max);
        r = -EINVAL;
        goto out;
    }
    size_t n = (size_t)st.st_size;
    *buf = malloc(n);
    if (!*buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        r = -ENOMEM;
        goto out;
    }
    for (size_t got = 0; got < n;) {
        ssize_t k = read(fd, *buf + got, n - got);
        if (k <= 0) {
            snprintf(err, errlen, "%s: read error", path);
            free(*buf);
            *buf = NULL;
            r = -EIO;
            goto out;
        }
        got += (size_t)k;
    }
    *len = n;
out:
    close(fd);
    return r;
}

int firmware_add_rom_file(struct vm *vm, const char *name, const char *path, char *err,
                          size_t errlen)
{
    if (!vm->fw) {
        snprintf(err, errlen, "%s: no firmware to give it to", path);
        return -EINVAL;
    }
    uint8_t *buf;
    size_t len;
    int r = firmware_read_file(path, "an option ROM", 512, FIRMWARE_OPTION_ROM_MAX, &buf, &len, err,
                               errlen);
    if (r < 0) {
        return r;
    }
    if (buf[0] != 0x55 || buf[1] != 0xaa) { /* PCI 3.0 6.3.1: the ROM header signature */
        snprintf(err, errlen, "%s: no 55 AA option ROM signature", path);
        r = -EINVAL;
    } else if ((r = fw_cfg_add_file(&vm->fw->cfg, name, buf, (uint32_t)len)) < 0) {
        snprintf(err, errlen, "%s: cannot add it to fw_cfg: %s", path, strerror(-r));
    }
    free(buf);
    return r;
}

int firmware_set_bootorder(struct vm *vm, const char *const *paths, unsigned n, char *err,
                           size_t errlen)
{
    char buf[1024];
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        int w = snprintf(buf + len, sizeof(buf) - len, "%s\n", paths[i]);
        if (w < 0 || (size_t)w >= sizeof(buf) - len) {
            snprintf(err, errlen, "boot order too long");
            return -E2BIG;
        }
        len += (size_t)w;
    }
    int r = vm->fw ? fw_cfg_add_file(&vm->fw->cfg, "bootorder", buf, (uint32_t)len + 1) : -EINVAL;
    if (r < 0) {
        snprintf(err, errlen, "cannot add fw_cfg bootorder: %s", strerror(-r));
    }
    return r;
}
