// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kernel loaders on synthetic images: PVH start info, vmlinux and bzImage zero pages
 * (Linux boot.rst / zero-page.rst), payload decompression, fallback, hostile headers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "tests/vmm/boot_images.h"
#include "vmm/boot.h"
#include "vmm/boot_internal.h"
#include "vmm/memory.h"

#define RAM_SIZE (64ull << 20)
#define FILL 0xaa

struct fix {
    uint8_t *ram;
    struct guest_mem mem;
    struct e820_map e820;
    struct boot_config cfg;
    struct boot_entry out;
    char err[256];
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    f->ram = malloc(RAM_SIZE);
    memset(f->ram, FILL, RAM_SIZE);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    e820_build(&f->e820, &f->mem);
    f->cfg = (struct boot_config){
        .kernel = "test-kernel",
        .cmdline = "console=ttyS0 root=/dev/vda",
        .e820 = &f->e820,
        .rsdp_gpa = ACPI_TABLES_ADDR,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static int load(struct fix *f, const uint8_t *img, size_t size, const struct boot_blob *initrd)
{
    memset(f->err, 0, sizeof(f->err));
    return boot_load_buffer(&f->mem, &f->cfg, img, size, initrd, &f->out, f->err, sizeof(f->err));
}

static uint8_t *gpa(struct fix *f, uint64_t addr)
{
    return f->ram + addr;
}

static struct boot_blob make_initrd(size_t size)
{
    uint8_t *d = malloc(size);
    for (size_t i = 0; i < size; i++) {
        d[i] = (uint8_t)(i * 13 + 5);
    }
    return (struct boot_blob){.name = "test-initrd", .data = d, .fd = -1, .size = size};
}

static void check_segments(struct fix *f, const struct img_elf *o)
{
    for (unsigned s = 0; s < o->nseg; s++) {
        const uint8_t *p = gpa(f, o->paddr[s]);
        for (uint64_t i = 0; i < o->filesz[s]; i++) {
            assert_int_equal(p[i], img_seg_byte(s, i));
        }
        for (uint64_t i = o->filesz[s]; i < o->memsz[s]; i++) {
            assert_int_equal(p[i], 0); /* bss zeroed over the FILL pattern */
        }
        /* Nothing written past memsz. */
        assert_int_equal(p[o->memsz[s]], FILL);
    }
}

static void check_initrd(struct fix *f, const struct boot_blob *b, uint64_t addr,
                         uint64_t kernel_end, uint64_t max)
{
    assert_int_equal(addr & 0xfff, 0);
    assert_true(addr >= kernel_end);
    assert_true(addr + b->size - 1 <= max);
    /* As high as possible: one more page up would cross the limit. */
    uint64_t limit = max + 1 < RAM_SIZE ? max + 1 : RAM_SIZE;
    assert_true(addr + 0x1000 + b->size > limit);
    assert_memory_equal(gpa(f, addr), b->data, b->size);
}

/* ---- PVH ---- */

static void test_pvh_start_info(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    struct boot_blob initrd = make_initrd(5000);

    assert_int_equal(load(f, img, size, &initrd), 0);
    assert_string_equal(f->err, "");
    assert_int_equal(f->out.mode, BOOT_PVH32);
    assert_int_equal(f->out.rip, o.pvh_entry);
    assert_int_equal(f->out.arg, BOOT_INFO_ADDR);
    assert_string_equal(f->out.format, "pvh-elf");
    check_segments(f, &o);

    struct pvh_start_info si;
    memcpy(&si, gpa(f, BOOT_INFO_ADDR), sizeof(si));
    assert_int_equal(si.magic, 0x336ec578);
    assert_int_equal(si.version, 1);
    assert_int_equal(si.flags, 0);
    assert_int_equal(si.rsdp_paddr, ACPI_TABLES_ADDR);
    assert_string_equal((char *)gpa(f, si.cmdline_paddr), f->cfg.cmdline);
    assert_int_equal(si.memmap_entries, f->e820.n);
    assert_true(si.memmap_paddr >= BOOT_INFO_ADDR + sizeof(si));
    assert_true(si.memmap_paddr + si.memmap_entries * 24 <= BOOT_INFO_ADDR + 4096);
    for (unsigned i = 0; i < f->e820.n; i++) {
        struct pvh_memmap_entry me;
        memcpy(&me, gpa(f, si.memmap_paddr + i * sizeof(me)), sizeof(me));
        assert_int_equal(me.addr, f->e820.e[i].addr);
        assert_int_equal(me.size, f->e820.e[i].size);
        assert_int_equal(me.type, f->e820.e[i].type);
    }
    assert_int_equal(si.nr_modules, 1);
    assert_true(si.modlist_paddr >= si.memmap_paddr + si.memmap_entries * 24);
    assert_true(si.modlist_paddr + 32 <= BOOT_INFO_ADDR + 4096);
    struct pvh_modlist_entry mod;
    memcpy(&mod, gpa(f, si.modlist_paddr), sizeof(mod));
    assert_int_equal(mod.size, 5000);
    assert_int_equal(mod.cmdline_paddr, 0);
    check_initrd(f, &initrd, mod.paddr, 0x202000, 0x37ffffff);

    free((void *)initrd.data);
    free(img);
}

static void test_pvh_no_initrd_8byte_note(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    o.pvh_desc = 8;
    f->cfg.cmdline = NULL;
    f->cfg.rsdp_gpa = 0;
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    assert_int_equal(load(f, img, size, NULL), 0);
    assert_int_equal(f->out.rip, o.pvh_entry);
    struct pvh_start_info si;
    memcpy(&si, gpa(f, BOOT_INFO_ADDR), sizeof(si));
    assert_int_equal(si.nr_modules, 0);
    assert_int_equal(si.modlist_paddr, 0);
    assert_int_equal(si.rsdp_paddr, 0);
    assert_string_equal((char *)gpa(f, si.cmdline_paddr), "");
    free(img);
}

static void test_pvh_default_e820(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    f->cfg.e820 = NULL; /* the loader builds the machine's map itself */
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    assert_int_equal(load(f, img, size, NULL), 0);
    struct pvh_start_info si;
    memcpy(&si, gpa(f, BOOT_INFO_ADDR), sizeof(si));
    assert_int_equal(si.memmap_entries, f->e820.n);
    struct pvh_memmap_entry me;
    memcpy(&me, gpa(f, si.memmap_paddr + (f->e820.n - 1) * sizeof(me)), sizeof(me));
    assert_int_equal(me.addr, f->e820.e[f->e820.n - 1].addr);
    free(img);
}

static void test_elf_truncated_every_length(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    for (size_t len = 0; len < size; len++) {
        /* A fresh heap copy of exactly len bytes, so ASan sees any overread. */
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, img, len);
        int r = load(f, cut, len, NULL);
        assert_true(r < 0);
        assert_true(strncmp(f->err, "test-kernel: ", 13) == 0);
        free(cut);
    }
    assert_int_equal(load(f, img, size, NULL), 0);
    free(img);
}

static void expect_elf_error(struct fix *f, const struct img_elf *o, const char *needle)
{
    size_t size;
    uint8_t *img = img_build_elf(o, &size);
    memset(f->ram, FILL, 4 << 20);
    assert_int_equal(load(f, img, size, NULL), -ENOEXEC);
    if (!strstr(f->err, needle)) {
        fail_msg("error \"%s\" does not mention \"%s\"", f->err, needle);
    }
    /* Validation runs before any copy: guest memory untouched. */
    assert_int_equal(*gpa(f, 0x100000), FILL);
    free(img);
}

static void test_elf_hostile(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    o.paddr[1] = RAM_SIZE - 0x1000; /* bss runs past the end of RAM */
    expect_elf_error(f, &o, "does not fit");

    o = img_default_pvh();
    o.paddr[1] = 0x9f000; /* low boot area */
    expect_elf_error(f, &o, "below 1 MiB");

    o = img_default_pvh();
    o.paddr[1] = 0xfffff000; /* wraps past 4 GiB */
    o.memsz[1] = 0x2000;
    expect_elf_error(f, &o, "does not fit");

    o = img_default_pvh();
    o.phoff_override = 1 << 20;
    expect_elf_error(f, &o, "program headers");

    o = img_default_pvh();
    o.phoff_override = UINT64_MAX - 8; /* offset + length overflows */
    expect_elf_error(f, &o, "program headers");

    o = img_default_pvh();
    o.pvh_entry = 0x300000;
    expect_elf_error(f, &o, "PVH entry");

    o = img_default_pvh();
    o.pvh_desc = 2;
    expect_elf_error(f, &o, "PVH entry note");

    o = img_default_pvh();
    o.filesz[0] = 0x400; /* filesz > memsz */
    expect_elf_error(f, &o, "filesz > memsz");

    o = img_default_vmlinux();
    o.entry = 0x5000000;
    expect_elf_error(f, &o, "entry");
}

static void test_elf_bad_header(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    Elf64_Ehdr eh;

    memcpy(&eh, img, sizeof(eh));
    eh.e_machine = EM_386;
    memcpy(img, &eh, sizeof(eh));
    assert_int_equal(load(f, img, size, NULL), -ENOEXEC);
    assert_non_null(strstr(f->err, "x86-64"));

    eh.e_machine = EM_X86_64;
    eh.e_phnum = 1000;
    memcpy(img, &eh, sizeof(eh));
    assert_int_equal(load(f, img, size, NULL), -ENOEXEC);

    eh.e_phnum = 3;
    eh.e_type = ET_REL;
    memcpy(img, &eh, sizeof(eh));
    assert_int_equal(load(f, img, size, NULL), -ENOEXEC);
    free(img);
}

/* ---- vmlinux ---- */

static struct linux_boot_params read_bp(struct fix *f)
{
    struct linux_boot_params bp;
    memcpy(&bp, gpa(f, BOOT_INFO_ADDR), sizeof(bp));
    return bp;
}

static void check_bp_common(struct fix *f, const struct linux_boot_params *bp)
{
    assert_int_equal(bp->hdr.boot_flag, 0xaa55);
    assert_int_equal(bp->hdr.header, 0x53726448);
    assert_int_equal(bp->hdr.type_of_loader, 0xff);
    assert_true(bp->hdr.loadflags & LINUX_LOADED_HIGH);
    assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
    assert_int_equal(bp->ext_cmd_line_ptr, 0);
    assert_string_equal((char *)gpa(f, bp->hdr.cmd_line_ptr), f->cfg.cmdline);
    assert_int_equal(bp->acpi_rsdp_addr, f->cfg.rsdp_gpa);
    assert_int_equal(bp->sentinel, 0);
    assert_int_equal(bp->e820_entries, f->e820.n);
    for (unsigned i = 0; i < f->e820.n; i++) {
        assert_int_equal(bp->e820_table[i].addr, f->e820.e[i].addr);
        assert_int_equal(bp->e820_table[i].size, f->e820.e[i].size);
        assert_int_equal(bp->e820_table[i].type, f->e820.e[i].type);
    }
    /* Byte offsets the kernel reads, checked on the raw page too. */
    const uint8_t *raw = gpa(f, BOOT_INFO_ADDR);
    assert_int_equal(raw[0x1e8], f->e820.n);
    uint64_t a;
    memcpy(&a, raw + 0x2d0 + 20, 8);
    assert_int_equal(a, f->e820.e[1].addr);
    uint32_t cl;
    memcpy(&cl, raw + 0x228, 4);
    assert_int_equal(cl, BOOT_CMDLINE_ADDR);
}

static void test_vmlinux(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_vmlinux();
    o.entry = 0xffffffff81000000ull; /* virtual: the loader converts it */
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    struct boot_blob initrd = make_initrd(3 << 20);
    assert_int_equal(load(f, img, size, &initrd), 0);
    assert_int_equal(f->out.mode, BOOT_LINUX64);
    assert_int_equal(f->out.rip, 0x1000000);
    assert_int_equal(f->out.arg, BOOT_INFO_ADDR);
    assert_string_equal(f->out.format, "vmlinux");
    check_segments(f, &o);
    struct linux_boot_params bp = read_bp(f);
    check_bp_common(f, &bp);
    assert_int_equal(bp.hdr.version, 0x020f);
    assert_int_equal(bp.hdr.loadflags, LINUX_LOADED_HIGH | LINUX_CAN_USE_HEAP);
    assert_int_equal(bp.hdr.ramdisk_size, initrd.size);
    assert_int_equal(bp.ext_ramdisk_image, 0);
    check_initrd(f, &initrd, bp.hdr.ramdisk_image, 0x1210000, 0x37ffffff);
    free((void *)initrd.data);
    free(img);
}

/* ---- compression ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* Compresses like the kernel build: one stream, then the le32 uncompressed size. */
static uint8_t *kernel_compress(enum boot_comp c, const uint8_t *in, size_t n, size_t *outlen)
{
    size_t cap = n + n / 2 + 65536;
    uint8_t *out = malloc(cap);
    size_t len = 0;
    switch (c) {
    case BOOT_COMP_GZIP: {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)n;
        zs.next_out = out;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        len = zs.total_out;
        deflateEnd(&zs);
        break;
    }
    case BOOT_COMP_XZ:
        assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, n, out, &len, cap),
                         LZMA_OK);
        break;
    case BOOT_COMP_ZSTD:
        len = ZSTD_compress(out, cap, in, n, 3);
        assert_false(ZSTD_isError(len));
        break;
    case BOOT_COMP_LZ4: {
        /* Legacy frame: magic, then (le32 size, block) per 8 MiB of input. */
        put_le32(out, 0x184c2102);
        len = 4;
        for (size_t done = 0; done < n;) {
            size_t chunk = n - done < (8u << 20) ? n - done : (8u << 20);
            int k = LZ4_compress_default((const char *)in + done, (char *)out + len + 4, (int)chunk,
                                         (int)(cap - len - 4));
            assert_true(k > 0);
            put_le32(out + len, (uint32_t)k);
            len += 4 + (size_t)k;
            done += chunk;
        }
        break;
    }
    default:
        fail();
    }
    put_le32(out + len, (uint32_t)n);
    *outlen = len + 4;
    return out;
}

static const enum boot_comp all_comps[] = {BOOT_COMP_GZIP, BOOT_COMP_XZ, BOOT_COMP_LZ4,
                                           BOOT_COMP_ZSTD};

static void test_decompress_roundtrip(void **state)
{
    (void)state;
    /* Compressible but not constant; lz4 gets over 8 MiB so it needs two legacy blocks. */
    size_t big = (9u << 20) + 123;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++) {
        data[i] = (uint8_t)((i / 64) * 31 + (i % 7));
    }
    for (size_t k = 0; k < sizeof(all_comps) / sizeof(all_comps[0]); k++) {
        enum boot_comp c = all_comps[k];
        size_t n = c == BOOT_COMP_LZ4 ? big : (300u << 10) + 17;
        size_t clen;
        uint8_t *z = kernel_compress(c, data, n, &clen);
        assert_int_equal(boot_comp_detect(z, clen), c);
        uint8_t *out;
        size_t outlen;
        /* No hint: the buffer must grow. */
        assert_int_equal(boot_decompress(c, z, clen, 0, 1u << 30, &out, &outlen), 0);
        assert_int_equal(outlen, n);
        assert_memory_equal(out, data, n);
        free(out);
        /* Output bound. */
        assert_int_equal(boot_decompress(c, z, clen, 0, n / 2, &out, &outlen), -EFBIG);
        assert_null(out);
        /* Truncated stream. */
        assert_true(boot_decompress(c, z, clen / 2, n, 1u << 30, &out, &outlen) < 0);
        assert_null(out);
        free(z);
    }
    uint8_t bz2[] = {'B', 'Z', 'h', '9', 0, 0, 0, 0};
    assert_int_equal(boot_comp_detect(bz2, sizeof(bz2)), BOOT_COMP_BZIP2);
    uint8_t *out;
    size_t outlen;
    assert_int_equal(boot_decompress(BOOT_COMP_BZIP2, bz2, sizeof(bz2), 0, 1u << 20, &out, &outlen),
                     -ENOTSUP);
    free(data);
}

/* ---- bzImage ---- */

static void test_bzimage_fallback(void **state)
{
    struct fix *f = *state;
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(0x40 + i);
    }
    struct img_bz b = img_default_bz();
    b.payload = junk;
    b.payload_len = sizeof(junk);
    size_t size;
    uint8_t *img = img_build_bz(&b, &size);
    struct boot_blob initrd = make_initrd(100000);
    assert_int_equal(load(f, img, size, &initrd), 0);
    assert_string_equal(f->err, "");
    assert_int_equal(f->out.mode, BOOT_LINUX64);
    assert_int_equal(f->out.rip, b.pref_address + 0x200);
    assert_int_equal(f->out.arg, BOOT_INFO_ADDR);
    assert_string_equal(f->out.format, "bzImage");
    /* The protected-mode kernel, payload included, sits at pref_address. */
    size_t setup = (b.setup_sects + 1) * 512;
    assert_memory_equal(gpa(f, b.pref_address), img + setup, size - setup);

    struct linux_boot_params bp = read_bp(f);
    check_bp_common(f, &bp);
    /* Header copied from the file... */
    assert_memory_equal(&bp.hdr.setup_sects, img + 0x1f1, 0x210 - 0x1f1);
    assert_int_equal(bp.hdr.version, 0x020f);
    assert_int_equal(bp.hdr.pref_address, b.pref_address);
    assert_int_equal(bp.hdr.init_size, b.init_size);
    assert_int_equal(bp.hdr.cmdline_size, b.cmdline_size);
    assert_int_equal(bp.hdr.xloadflags, b.xloadflags);
    assert_int_equal(bp.hdr.payload_length, sizeof(junk));
    /* ...with the loader's fields set. */
    assert_int_equal(bp.hdr.code32_start, b.pref_address);
    assert_int_equal(bp.hdr.ramdisk_size, initrd.size);
    check_initrd(f, &initrd, bp.hdr.ramdisk_image, b.pref_address + b.init_size, RAM_SIZE);
    free((void *)initrd.data);
    free(img);
}

static void test_bzimage_corrupt_payload_falls_back(void **state)
{
    struct fix *f = *state;
    for (size_t k = 0; k < sizeof(all_comps) / sizeof(all_comps[0]); k++) {
        struct img_elf o = img_default_vmlinux();
        size_t esize, zlen;
        uint8_t *elf = img_build_elf(&o, &esize);
        uint8_t *z = kernel_compress(all_comps[k], elf, esize, &zlen);
        for (size_t i = 8; i < zlen - 4; i += 3) {
            z[i] ^= 0x5a;
        }
        struct img_bz b = img_default_bz();
        b.payload = z;
        b.payload_len = zlen;
        size_t size;
        uint8_t *img = img_build_bz(&b, &size);
        assert_int_equal(load(f, img, size, NULL), 0);
        assert_string_equal(f->out.format, "bzImage");
        assert_int_equal(f->out.rip, b.pref_address + 0x200);
        assert_string_equal(f->err, "");
        free(img);
        free(z);
        free(elf);
    }
}

static void test_bzimage_payload_decompressed(void **state)
{
    struct fix *f = *state;
    static const char *const names[] = {"bzImage+gzip", "bzImage+xz", "bzImage+lz4",
                                        "bzImage+zstd"};
    for (size_t k = 0; k < sizeof(all_comps) / sizeof(all_comps[0]); k++) {
        memset(f->ram, FILL, RAM_SIZE);
        struct img_elf o = img_default_vmlinux();
        /* The vmlinux inside a bzImage carries the PVH note too; startup_64 still wins. */
        o.pvh = k % 2;
        o.pvh_desc = 8;
        o.pvh_entry = 0x1000100;
        size_t esize, zlen;
        uint8_t *elf = img_build_elf(&o, &esize);
        uint8_t *z = kernel_compress(all_comps[k], elf, esize, &zlen);
        struct img_bz b = img_default_bz();
        b.payload = z;
        b.payload_len = zlen;
        size_t size;
        uint8_t *img = img_build_bz(&b, &size);
        struct boot_blob initrd = make_initrd(4096 * 3 + 1);
        assert_int_equal(load(f, img, size, &initrd), 0);
        assert_string_equal(f->out.format, names[k]);
        assert_int_equal(f->out.mode, BOOT_LINUX64);
        assert_int_equal(f->out.rip, o.entry);
        check_segments(f, &o);
        struct linux_boot_params bp = read_bp(f);
        check_bp_common(f, &bp);
        assert_int_equal(bp.hdr.setup_sects, b.setup_sects);
        assert_int_equal(bp.hdr.version, b.version);
        assert_int_equal(bp.hdr.payload_length, zlen);
        assert_int_equal(bp.hdr.init_size, b.init_size);
        /* Initrd above the kernel's init_size footprint, not just the ELF end. */
        check_initrd(f, &initrd, bp.hdr.ramdisk_image, 0x1000000 + b.init_size, RAM_SIZE);
        free((void *)initrd.data);
        /*
         * The kernel's init_size footprint (16 + 32 MiB) is kept free of the initrd even
         * though the ELF itself ends near 16 MiB.
         */
        free(img);
        b.init_size = 0x2000000;
        img = img_build_bz(&b, &size);
        initrd = make_initrd(30u << 20);
        assert_int_equal(load(f, img, size, &initrd), -ENOSPC);
        free((void *)initrd.data);
        free(img);
        free(z);
        free(elf);
    }
}

static void test_bzimage_old_protocols(void **state)
{
    struct fix *f = *state;
    /* 2.05: no relocation, no 64-bit entry, cmdline limited to 255 bytes. */
    struct img_bz b = img_default_bz();
    b.version = 0x0205;
    size_t size;
    uint8_t *img = img_build_bz(&b, &size);
    assert_int_equal(load(f, img, size, NULL), 0);
    assert_int_equal(f->out.mode, BOOT_LINUX32);
    assert_int_equal(f->out.rip, 0x100000);
    assert_memory_equal(gpa(f, 0x100000), img + 5 * 512, IMG_BZ_PM_HEAD);
    struct linux_boot_params bp = read_bp(f);
    assert_int_equal(bp.hdr.code32_start, 0x100000);
    char longline[300];
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    f->cfg.cmdline = longline;
    assert_int_equal(load(f, img, size, NULL), -E2BIG);
    assert_non_null(strstr(f->err, "255"));
    free(img);

    /* 2.12 without XLF_KERNEL_64: 32-bit entry at pref_address. */
    f->cfg.cmdline = "quiet";
    b = img_default_bz();
    b.version = 0x020c;
    b.xloadflags = 0;
    img = img_build_bz(&b, &size);
    assert_int_equal(load(f, img, size, NULL), 0);
    assert_int_equal(f->out.mode, BOOT_LINUX32);
    assert_int_equal(f->out.rip, b.pref_address);
    free(img);

    /* Before 2.02: refused. */
    b = img_default_bz();
    b.version = 0x0201;
    img = img_build_bz(&b, &size);
    assert_int_equal(load(f, img, size, NULL), -ENOEXEC);
    assert_non_null(strstr(f->err, "too old"));
    free(img);
}

static void expect_bz_error(struct fix *f, const struct img_bz *b, int err, const char *needle)
{
    size_t size;
    uint8_t *img = img_build_bz(b, &size);
    assert_int_equal(load(f, img, size, NULL), err);
    if (!strstr(f->err, needle)) {
        fail_msg("error \"%s\" does not mention \"%s\"", f->err, needle);
    }
    free(img);
}

static void test_bzimage_hostile(void **state)
{
    struct fix *f = *state;
    uint8_t junk[32] = {0};
    struct img_bz b = img_default_bz();
    b.boot_flag = 0x1234;
    expect_bz_error(f, &b, -ENOEXEC, "boot_flag");

    b = img_default_bz();
    b.loadflags = 0;
    expect_bz_error(f, &b, -ENOEXEC, "zImage");

    b = img_default_bz();
    b.syssize_extra = 1000;
    expect_bz_error(f, &b, -ENOEXEC, "truncated");

    b = img_default_bz();
    b.payload = junk;
    b.payload_len = sizeof(junk);
    b.payload_offset_extra = 0xfffff000u; /* far past the end of the file */
    expect_bz_error(f, &b, -ENOEXEC, "payload");

    b = img_default_bz();
    b.pref_address = RAM_SIZE - 0x1000;
    expect_bz_error(f, &b, -ENOEXEC, "beyond guest RAM");

    b = img_default_bz();
    b.pref_address = 0x8000; /* would overwrite the boot information */
    expect_bz_error(f, &b, -ENOEXEC, "below 1 MiB");

    b = img_default_bz();
    b.init_size = 0xffffffff;
    expect_bz_error(f, &b, -ENOEXEC, "beyond guest RAM");

    b = img_default_bz();
    b.cmdline_size = 8;
    expect_bz_error(f, &b, -E2BIG, "command line");

    /* setup_sects pointing past the end of the file. */
    b = img_default_bz();
    size_t size;
    uint8_t *img = img_build_bz(&b, &size);
    img[0x1f1] = 0xff;
    assert_int_equal(load(f, img, size, NULL), -ENOEXEC);
    assert_non_null(strstr(f->err, "setup_sects"));
    img[0x1f1] = b.setup_sects;
    /* A 64-bit kernel shorter than its entry offset (syssize agreeing with the file). */
    img_put32(img + 0x1f4, 0x100 / 16);
    assert_int_equal(load(f, img, 5 * 512 + 0x100, NULL), -ENOEXEC);
    assert_non_null(strstr(f->err, "too short"));
    img_put32(img + 0x1f4, IMG_BZ_PM_HEAD / 16);
    /* Every truncation of the header is refused cleanly. */
    for (size_t len = 0; len < 5 * 512; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, img, len);
        assert_true(load(f, cut, len, NULL) < 0);
        free(cut);
    }
    free(img);
}

static void test_initrd_placement_limits(void **state)
{
    struct fix *f = *state;
    struct img_bz b = img_default_bz();
    b.initrd_addr_max = 0x2ffffff; /* 48 MiB - 1 */
    size_t size;
    uint8_t *img = img_build_bz(&b, &size);
    struct boot_blob initrd = make_initrd(0x123457);
    assert_int_equal(load(f, img, size, &initrd), 0);
    struct linux_boot_params bp = read_bp(f);
    check_initrd(f, &initrd, bp.hdr.ramdisk_image, b.pref_address + b.init_size, 0x2ffffff);

    /* No room between the kernel's footprint and initrd_addr_max. */
    b.init_size = 0x1f00000;
    free(img);
    img = img_build_bz(&b, &size);
    assert_int_equal(load(f, img, size, &initrd), -ENOSPC);
    assert_true(strncmp(f->err, "test-initrd: ", 13) == 0);
    free((void *)initrd.data);

    /* More than half of RAM. */
    initrd = make_initrd(RAM_SIZE / 2 + 1);
    assert_int_equal(load(f, img, size, &initrd), -EFBIG);
    assert_non_null(strstr(f->err, "test-initrd"));
    free((void *)initrd.data);

    /* Empty. */
    initrd.size = 0;
    initrd.data = (const uint8_t *)"";
    assert_int_equal(load(f, img, size, &initrd), -EINVAL);
    free(img);
}

static void test_cmdline_limit(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    char *line = malloc(BOOT_CMDLINE_MAX + 1);
    memset(line, 'a', BOOT_CMDLINE_MAX);
    line[BOOT_CMDLINE_MAX] = '\0';
    f->cfg.cmdline = line;
    assert_int_equal(load(f, img, size, NULL), -E2BIG);
    line[BOOT_CMDLINE_MAX - 1] = '\0'; /* longest that fits with its NUL */
    assert_int_equal(load(f, img, size, NULL), 0);
    assert_int_equal(strlen((char *)gpa(f, BOOT_CMDLINE_ADDR)), BOOT_CMDLINE_MAX - 1);
    free(line);
    free(img);
}

static void test_not_a_kernel(void **state)
{
    struct fix *f = *state;
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(load(f, junk, sizeof(junk), NULL), -ENOEXEC);
    assert_string_equal(f->err, "test-kernel: not a PVH ELF, vmlinux or bzImage kernel");
    assert_int_equal(load(f, junk, 0, NULL), -ENOEXEC);
    assert_string_equal(f->err, "test-kernel: kernel file is empty");
}

/* ---- the file front end ---- */

static char *write_temp(const void *data, size_t size)
{
    char *path = strdup("/tmp/deskvm-test-boot-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
    return path;
}

static void test_boot_load_files(void **state)
{
    struct fix *f = *state;
    struct img_elf o = img_default_pvh();
    size_t size;
    uint8_t *img = img_build_elf(&o, &size);
    struct boot_blob initrd = make_initrd(70000);
    char *kpath = write_temp(img, size);
    char *ipath = write_temp(initrd.data, initrd.size);
    char *empty = write_temp("", 0);

    f->cfg.kernel = kpath;
    f->cfg.initrd = ipath;
    assert_int_equal(boot_load(&f->mem, &f->cfg, &f->out, f->err, sizeof(f->err)), 0);
    assert_int_equal(f->out.rip, o.pvh_entry);
    check_segments(f, &o);
    struct pvh_start_info si;
    memcpy(&si, gpa(f, BOOT_INFO_ADDR), sizeof(si));
    struct pvh_modlist_entry mod;
    memcpy(&mod, gpa(f, si.modlist_paddr), sizeof(mod));
    assert_int_equal(mod.size, initrd.size);
    assert_memory_equal(gpa(f, mod.paddr), initrd.data, initrd.size);

    f->cfg.initrd = "/nonexistent/initrd.img";
    assert_int_equal(boot_load(&f->mem, &f->cfg, &f->out, f->err, sizeof(f->err)), -ENOENT);
    assert_true(strncmp(f->err, "/nonexistent/initrd.img: ", 25) == 0);

    f->cfg.initrd = NULL;
    f->cfg.kernel = "/nonexistent/vmlinuz";
    assert_int_equal(boot_load(&f->mem, &f->cfg, &f->out, f->err, sizeof(f->err)), -ENOENT);
    assert_true(strncmp(f->err, "/nonexistent/vmlinuz: ", 22) == 0);
    assert_null(strchr(f->err, '\n'));

    f->cfg.kernel = "/tmp";
    assert_int_equal(boot_load(&f->mem, &f->cfg, &f->out, f->err, sizeof(f->err)), -EINVAL);
    assert_non_null(strstr(f->err, "/tmp: "));

    /* Over 512 MiB: refused from its size alone (a sparse file, nothing is read). */
    char *huge = write_temp("", 0);
    assert_int_equal(truncate(huge, (512 << 20) + 1), 0);
    f->cfg.kernel = huge;
    assert_int_equal(boot_load(&f->mem, &f->cfg, &f->out, f->err, sizeof(f->err)), -EFBIG);
    assert_true(strncmp(f->err, huge, strlen(huge)) == 0);
    assert_non_null(strstr(f->err, "512 MiB"));
    unlink(huge);
    free(huge);

    f->cfg.kernel = empty;
    assert_int_equal(boot_load(&f->mem, &f->cfg, &f->out, f->err, sizeof(f->err)), -ENOEXEC);
    assert_non_null(strstr(f->err, "empty"));

    /* A tiny err buffer is still NUL-terminated and never overrun. */
    char small[8];
    memset(small, 'z', sizeof(small));
    f->cfg.kernel = "/nonexistent/vmlinuz";
    assert_true(boot_load(&f->mem, &f->cfg, &f->out, small, 4) < 0);
    assert_int_equal(strlen(small), 3);
    assert_int_equal(small[4], 'z');

    unlink(kpath);
    unlink(ipath);
    unlink(empty);
    free(kpath);
    free(ipath);
    free(empty);
    free((void *)initrd.data);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pvh_start_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pvh_no_initrd_8byte_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pvh_default_e820, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_truncated_every_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmlinux, setup, teardown),
        cmocka_unit_test(test_decompress_roundtrip),
        cmocka_unit_test_setup_teardown(test_bzimage_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_corrupt_payload_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_payload_decompressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_old_protocols, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initrd_placement_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmdline_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_kernel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot_load_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
