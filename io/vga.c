// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Standard VGA with Bochs VBE extensions (PCI 1234:1111). VRAM keeps four planes interleaved
 * (plane p of address a at vram[4 * a + p]), which makes chain-4 and the linear framebuffer
 * the same bytes. Text mode reads characters from plane 0 and attributes from plane 1 and
 * draws them with the built-in 8x16 font; graphics modes are drawn from the sequencer,
 * graphics controller, CRTC and attribute registers alone; planar window accesses go through
 * the graphics controller's latches and write/read modes. Register meanings: IBM VGA
 * Technical Reference; dispi: Bochs vbe.h. docs/display.md lists what is not modelled.
 */
#include "io/vga.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "display/font.h"
#include "vmm/device.h"

#define SEQ_CLOCKING 0x01
#define SEQ_MAP_MASK 0x02
#define SEQ_MEM_MODE 0x04
#define SEQ_DOT_CLOCK_HALF 0x08 /* in SEQ_CLOCKING */
#define SEQ_SCREEN_OFF 0x20     /* in SEQ_CLOCKING */
#define SEQ_CHAIN4 0x08         /* in SEQ_MEM_MODE */
#define SEQ_ODD_EVEN_OFF 0x04
#define GR_SET_RESET 0x00
#define GR_ENABLE_SET_RESET 0x01
#define GR_COLOR_COMPARE 0x02
#define GR_DATA_ROTATE 0x03
#define GR_READ_MAP 0x04
#define GR_MODE 0x05
#define GR_MISC 0x06
#define GR_COLOR_DONT_CARE 0x07
#define GR_BIT_MASK 0x08
#define GR_MODE_READ1 0x08     /* in GR_MODE: colour compare reads */
#define GR_MODE_ODD_EVEN 0x10  /* in GR_MODE: odd/even reads */
#define GR_MODE_SHIFT_CGA 0x20 /* in GR_MODE: 2 bits per pixel, interleaved */
#define GR_MODE_SHIFT_256 0x40 /* in GR_MODE: 8 bits per pixel */
#define AR_PLANE_ENABLE 0x12
#define CR_MODE 0x17
#define AR_MODE 0x10
#define AR_COLOR_SELECT 0x14
#define AR_PAS 0x20 /* palette address source: the display runs */
#define AR_BLINK 0x08
#define CR_PROTECT 0x80 /* in CR11: CR0-CR7 are read-only */

#define TEXT_MAX_COLS 132u
#define TEXT_MAX_ROWS 60u
#define VBE_BANK_SIZE 0x10000u

/* Frames of a 70 Hz display: the cursor toggles every 16, blinking text every 32. */
#define FRAME_NS (1000000000ull / 70)

/* ---- power-on registers: BIOS mode 3, 80x25 colour text ---------------------------------- */

static const uint8_t mode3_seq[5] = {0x03, 0x00, 0x03, 0x00, 0x02};
static const uint8_t mode3_cr[25] = {0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00,
                                     0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
                                     0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
static const uint8_t mode3_gr[9] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff};
static const uint8_t mode3_ar[21] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14,
                                     0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
                                     0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00};

/* DAC entries 0-63 as the BIOS loads them: the EGA palette, bits rgbRGB (low = 2/3 level). */
static void load_ega_palette(struct vga *vga)
{
    memset(vga->palette, 0, sizeof(vga->palette));
    for (unsigned i = 0; i < 64; i++) {
        for (unsigned c = 0; c < 3; c++) {
            unsigned primary = (i >> (2 - c)) & 1, secondary = (i >> (5 - c)) & 1;
            vga->palette[i * 3 + c] = (uint8_t)(primary * 0x2a + secondary * 0x15);
        }
    }
}

/* ---- dirty tracking ---------------------------------------------------------------------- */

static size_t dirty_words(const struct vga *vga)
{
    return (vga->vram_size / VGA_PAGE_SIZE + 63) / 64;
}

void vga_mark_dirty(struct vga *vga, uint64_t off, uint64_t len)
{
    if (len == 0 || off >= vga->vram_size) {
        return;
    }
    uint64_t last = off + len - 1 < vga->vram_size ? off + len - 1 : vga->vram_size - 1;
    for (uint64_t p = off / VGA_PAGE_SIZE; p <= last / VGA_PAGE_SIZE; p++) {
        vga->dirty[p / 64] |= 1ull << (p % 64);
    }
}

static bool range_dirty(const struct vga *vga, uint64_t off, uint64_t len)
{
    for (uint64_t p = off / VGA_PAGE_SIZE; p <= (off + len - 1) / VGA_PAGE_SIZE; p++) {
        if (vga->dirty[p / 64] & (1ull << (p % 64))) {
            return true;
        }
    }
    return false;
}

/* ---- VBE --------------------------------------------------------------------------------- */

static bool vbe_enabled(const struct vga *vga)
{
    return vga->vbe_regs[VBE_INDEX_ENABLE] & VBE_ENABLED;
}

static bool vbe_bpp_ok(unsigned bpp)
{
    return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

static unsigned vbe_bytes(unsigned bpp)
{
    return (bpp + 7) / 8;
}

static uint64_t vbe_line(const struct vga *vga)
{
    return (uint64_t)vga->vbe_regs[VBE_INDEX_VIRT_WIDTH] * vbe_bytes(vga->vbe_regs[VBE_INDEX_BPP]);
}

static uint64_t vbe_start(const struct vga *vga)
{
    return (uint64_t)vga->vbe_regs[VBE_INDEX_Y_OFFSET] * vbe_line(vga) +
           (uint64_t)vga->vbe_regs[VBE_INDEX_X_OFFSET] * vbe_bytes(vga->vbe_regs[VBE_INDEX_BPP]);
}

/* Does the visible mode lie wholly inside VRAM? The invariant of an enabled mode. */
static bool vbe_mode_fits(const struct vga *vga)
{
    const uint16_t *r = vga->vbe_regs;
    unsigned bpp = r[VBE_INDEX_BPP];
    if (!vbe_bpp_ok(bpp) || r[VBE_INDEX_XRES] == 0 || r[VBE_INDEX_XRES] > VBE_MAX_XRES ||
        r[VBE_INDEX_YRES] == 0 || r[VBE_INDEX_YRES] > VBE_MAX_YRES ||
        r[VBE_INDEX_VIRT_WIDTH] < r[VBE_INDEX_XRES]) {
        return false;
    }
    uint64_t end = vbe_start(vga) + (uint64_t)(r[VBE_INDEX_YRES] - 1) * vbe_line(vga) +
                   (uint64_t)r[VBE_INDEX_XRES] * vbe_bytes(bpp);
    return end <= vga->vram_size;
}

static void vbe_set_virt_height(struct vga *vga)
{
    uint64_t h = vga->vram_size / vbe_line(vga);
    vga->vbe_regs[VBE_INDEX_VIRT_HEIGHT] = (uint16_t)(h > 0xffff ? 0xffff : h);
}

static uint16_t vbe_read(struct vga *vga)
{
    unsigned i = vga->vbe_index;
    if (i >= VBE_INDEX_COUNT) { /* guest-controlled */
        return 0;
    }
    if (vga->vbe_regs[VBE_INDEX_ENABLE] & VBE_GETCAPS) {
        switch (i) {
        case VBE_INDEX_XRES:
            return VBE_MAX_XRES;
        case VBE_INDEX_YRES:
            return VBE_MAX_YRES;
        case VBE_INDEX_BPP:
            return VBE_MAX_BPP;
        default:
            break;
        }
    }
    if (i == VBE_INDEX_VIDEO_MEMORY_64K) {
        return (uint16_t)(vga->vram_size / VBE_BANK_SIZE);
    }
    return vga->vbe_regs[i];
}

uint32_t vga_window_linear(const struct vga *vga)
{
    if (vbe_enabled(vga) || !(vga->seq[SEQ_MEM_MODE] & SEQ_CHAIN4) ||
        (vga->seq[SEQ_MAP_MASK] & 0x0f) != 0x0f) {
        return 0;
    }
    switch ((vga->gr[GR_MISC] >> 2) & 3) {
    case 0:
        return 0x20000;
    case 1:
        return 0x10000;
    default:
        return 0;
    }
}

/* Tell the glue when the window can be (or no longer be) plain memory. */
static void window_check(struct vga *vga)
{
    uint32_t linear = vga_window_linear(vga);
    if (linear != vga->window_linear) {
        vga->window_linear = linear;
        if (vga->window_changed) {
            vga->window_changed(vga->sync_opaque);
        }
    }
}

/* The sequencer decides how CPU writes reach the planes, the graphics controller reads. */
static bool odd_even(const struct vga *vga, bool write)
{
    return write ? !(vga->seq[SEQ_MEM_MODE] & SEQ_ODD_EVEN_OFF)
                 : (vga->gr[GR_MODE] & GR_MODE_ODD_EVEN) != 0;
}

/*
 * Every dispi write is checked against VRAM before it takes effect (guest-controlled): a
 * value that would put the visible mode outside VRAM is refused and counted; the old value
 * stays and the display keeps running.
 */
static void vbe_write(struct vga *vga, uint16_t val)
{
    uint16_t *r = vga->vbe_regs;
    unsigned i = vga->vbe_index;
    uint16_t old;
    switch (i) {
    case VBE_INDEX_ID:
        if (val >= VBE_ID0 && val <= VBE_ID5) {
            r[i] = val;
        } else {
            vga->bad_vbe++;
        }
        return;
    case VBE_INDEX_XRES:
    case VBE_INDEX_YRES:
    case VBE_INDEX_BPP:
        /* Bochs: the mode is fixed while enabled. */
        if (vbe_enabled(vga) || val == 0 || (i == VBE_INDEX_XRES && val > VBE_MAX_XRES) ||
            (i == VBE_INDEX_YRES && val > VBE_MAX_YRES) ||
            (i == VBE_INDEX_BPP && !vbe_bpp_ok(val))) {
            vga->bad_vbe++;
            return;
        }
        r[i] = val;
        return;
    case VBE_INDEX_BANK:
        if ((uint32_t)val * VBE_BANK_SIZE >= vga->vram_size) {
            vga->bad_vbe++;
            return;
        }
        r[i] = val;
        return;
    case VBE_INDEX_ENABLE:
        if (!(val & VBE_ENABLED)) {
            r[i] = val & (VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED | VBE_NOCLEARMEM);
            vga->full_redraw = true;
            window_check(vga);
            return;
        }
        if (!vbe_enabled(vga)) {
            /* Entering a mode: the virtual screen starts as the visible one. */
            uint16_t saved[VBE_INDEX_COUNT];
            memcpy(saved, r, sizeof(saved));
            r[VBE_INDEX_VIRT_WIDTH] = r[VBE_INDEX_XRES];
            r[VBE_INDEX_X_OFFSET] = 0;
            r[VBE_INDEX_Y_OFFSET] = 0;
            if (!vbe_mode_fits(vga)) {
                memcpy(r, saved, sizeof(saved));
                vga->bad_vbe++;
                return;
            }
            vbe_set_virt_height(vga);
            if (!(val & VBE_NOCLEARMEM)) {
                memset(vga->vram, 0, vga->vram_size);
                vga_mark_dirty(vga, 0, vga->vram_size);
            }
        }
        r[i] = val & (VBE_ENABLED | VBE_GETCAPS | VBE_8BIT_DAC | VBE_LFB_ENABLED | VBE_NOCLEARMEM);
        vga->full_redraw = true;
        window_check(vga);
        return;
    case VBE_INDEX_VIRT_WIDTH:
    case VBE_INDEX_X_OFFSET:
    case VBE_INDEX_Y_OFFSET:
        old = r[i];
        r[i] = (i == VBE_INDEX_VIRT_WIDTH && val < r[VBE_INDEX_XRES]) ? r[VBE_INDEX_XRES] : val;
        if (vbe_enabled(vga) && !vbe_mode_fits(vga)) {
            r[i] = old;
            vga->bad_vbe++;
            return;
        }
        if (i == VBE_INDEX_VIRT_WIDTH && vbe_line(vga)) {
            vbe_set_virt_height(vga);
        }
        vga->full_redraw = true;
        return;
    default: /* VIRT_HEIGHT and VIDEO_MEMORY_64K are derived; unknown indices */
        vga->bad_vbe++;
        return;
    }
}

/* ---- VGA registers ----------------------------------------------------------------------- */

static uint8_t input_status1(struct vga *vga)
{
    /* Reading it resets the attribute flip-flop. Retrace toggles so polling loops end. */
    vga->ar_flip = 0;
    vga->feature ^= 0x80; /* bit 7 of feature is unused by guests: our toggle */
    return (vga->feature & 0x80) ? 0x09 : 0x00;
}

static uint8_t ioport_read(struct vga *vga, unsigned port)
{
    switch (port) {
    case 0x3c0:
        return vga->ar_index;
    case 0x3c1:
        return (vga->ar_index & 0x1f) < sizeof(vga->ar) ? vga->ar[vga->ar_index & 0x1f] : 0;
    case 0x3c2:
        return 0x10; /* input status 0: switch sense */
    case 0x3c4:
        return vga->seq_index;
    case 0x3c5:
        return vga->seq[vga->seq_index & 7];
    case 0x3c6:
        return vga->dac_mask;
    case 0x3c7:
        return vga->dac_state;
    case 0x3c8:
        return vga->dac_write;
    case 0x3c9: {
        uint8_t v = vga->palette[vga->dac_read * 3 + vga->dac_sub];
        if (++vga->dac_sub == 3) {
            vga->dac_sub = 0;
            vga->dac_read++;
        }
        return v;
    }
    case 0x3ca:
        return vga->feature & 0x7f;
    case 0x3cc:
        return vga->misc;
    case 0x3ce:
        return vga->gr_index;
    case 0x3cf:
        return vga->gr[vga->gr_index & 0x0f];
    case 0x3d4:
        return vga->cr_index;
    case 0x3d5:
        return vga->cr_index < sizeof(vga->cr) ? vga->cr[vga->cr_index] : 0xff;
    case 0x3da:
        return input_status1(vga);
    default:
        return 0xff;
    }
}

static void ioport_write(struct vga *vga, unsigned port, uint8_t v)
{
    unsigned i;
    switch (port) {
    case 0x3c0:
        if (!vga->ar_flip) {
            vga->ar_index = v & 0x3f;
        } else if ((i = vga->ar_index & 0x1f) < sizeof(vga->ar)) { /* guest-controlled */
            vga->ar[i] = v;
            vga->full_redraw = true;
        }
        vga->ar_flip ^= 1;
        return;
    case 0x3c2:
        vga->misc = v;
        return;
    case 0x3c4:
        vga->seq_index = v & 7;
        return;
    case 0x3c5:
        vga->seq[vga->seq_index & 7] = v;
        vga->full_redraw = true;
        window_check(vga);
        return;
    case 0x3c6:
        vga->dac_mask = v;
        vga->full_redraw = true;
        return;
    case 0x3c7:
        vga->dac_read = v;
        vga->dac_sub = 0;
        vga->dac_state = 0x03;
        return;
    case 0x3c8:
        vga->dac_write = v;
        vga->dac_sub = 0;
        vga->dac_state = 0x00;
        return;
    case 0x3c9:
        vga->dac_latch[vga->dac_sub] =
            (vga->vbe_regs[VBE_INDEX_ENABLE] & VBE_8BIT_DAC) ? v : (uint8_t)(v & 0x3f);
        if (++vga->dac_sub == 3) {
            memcpy(&vga->palette[vga->dac_write * 3], vga->dac_latch, 3);
            vga->dac_sub = 0;
            vga->dac_write++;
            vga->full_redraw = true;
        }
        return;
    case 0x3ce:
        vga->gr_index = v & 0x0f;
        return;
    case 0x3cf:
        vga->gr[vga->gr_index & 0x0f] = v;
        vga->full_redraw = true;
        window_check(vga);
        return;
    case 0x3d4:
        vga->cr_index = v;
        return;
    case 0x3d5:
        i = vga->cr_index;
        if (i >= sizeof(vga->cr)) { /* guest-controlled */
            vga->bad_access++;
            return;
        }
        if ((vga->cr[0x11] & CR_PROTECT) && i <= 7) {
            if (i == 7) { /* only the line compare bit stays writable */
                vga->cr[7] = (uint8_t)((vga->cr[7] & ~0x10) | (v & 0x10));
            }
            return;
        }
        vga->cr[i] = v;
        if (i != 0x0e && i != 0x0f) { /* cursor moves are cheap: no full repaint */
            vga->full_redraw = true;
        }
        return;
    case 0x3da:
        vga->feature = (uint8_t)((vga->feature & 0x80) | (v & 0x7f));
        return;
    default:
        return;
    }
}

static uint64_t ioport_bus_read(void *opaque, uint64_t off, unsigned size)
{
    return ioport_read(opaque, VGA_PORT_BASE + (unsigned)off);
}

static void ioport_bus_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    ioport_write(opaque, VGA_PORT_BASE + (unsigned)off, (uint8_t)val);
}

const struct bus_ops vga_ioport_ops = {
    .read = ioport_bus_read,
    .write = ioport_bus_write,
    .min_size = 1,
    .max_size = 1, /* a word write to 0x3C4/0x3CE/0x3D4 arrives as index, then data */
};

/* 0x1CE index, 0x1CF data (and its 0x1D0 alias, where a 16-bit access at 0x1CF ends). */
static uint64_t vbe_bus_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *vga = opaque;
    return off == 0 ? vga->vbe_index : vbe_read(vga);
}

static void vbe_bus_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vga *vga = opaque;
    if (off == 0) {
        vga->vbe_index = (uint16_t)val;
    } else {
        vbe_write(vga, (uint16_t)val);
    }
}

const struct bus_ops vga_vbe_ops = {
    .read = vbe_bus_read,
    .write = vbe_bus_write,
    .min_size = 1,
    .max_size = 2,
};

/* ---- the legacy window ------------------------------------------------------------------- */

/*
 * VRAM index for window offset off (from 0xA0000) and plane, or -1 when the window the
 * guest selected does not cover off.
 */
static int64_t legacy_index(const struct vga *vga, uint64_t off, bool write, unsigned *plane)
{
    if (vbe_enabled(vga)) {
        if (off >= VBE_BANK_SIZE) {
            return -1;
        }
        *plane = (unsigned)(off & 3);
        /* The bank was checked when written (and on load). */
        return (int64_t)vga->vbe_regs[VBE_INDEX_BANK] * VBE_BANK_SIZE + (int64_t)off;
    }
    switch ((vga->gr[GR_MISC] >> 2) & 3) {
    case 1:
        if (off >= 0x10000) {
            return -1;
        }
        break;
    case 2:
        if (off < 0x10000 || off >= 0x18000) {
            return -1;
        }
        off -= 0x10000;
        break;
    case 3:
        if (off < 0x18000) {
            return -1;
        }
        off -= 0x18000;
        break;
    default:
        break;
    }
    if (vga->seq[SEQ_MEM_MODE] & SEQ_CHAIN4) {
        *plane = (unsigned)(off & 3);
        return (int64_t)off;
    }
    if (odd_even(vga, write)) {
        /* Odd/even: even addresses in plane 0 (characters), odd ones in plane 1. */
        *plane = (unsigned)(off & 1) | (write ? 0 : (vga->gr[GR_READ_MAP] & 2));
        return (int64_t)(((off & ~1ull) << 1) | *plane);
    }
    *plane = write ? 0 : (vga->gr[GR_READ_MAP] & 3);
    return (int64_t)(off << 2) + *plane;
}

/* A 4-bit plane set as a 32-bit mask: byte p is 0xff where bit p is set (vram[4a + p]). */
static uint32_t plane_bytes(unsigned bits)
{
    uint32_t v = 0;
    for (unsigned p = 0; p < 4; p++) {
        if (bits & (1u << p)) {
            v |= 0xffu << (8 * p);
        }
    }
    return v;
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/*
 * A planar read loads the four latches; read mode 0 returns the plane GR04 selects, read
 * mode 1 the colour compare: bit set where every plane in GR07 matches GR02.
 */
static uint8_t planar_read(struct vga *vga, int64_t i)
{
    vga->latch = load32(&vga->vram[i]);
    if (!(vga->gr[GR_MODE] & GR_MODE_READ1)) {
        return (uint8_t)(vga->latch >> (8 * (vga->gr[GR_READ_MAP] & 3)));
    }
    uint32_t diff = (vga->latch ^ plane_bytes(vga->gr[GR_COLOR_COMPARE])) &
                    plane_bytes(vga->gr[GR_COLOR_DONT_CARE]);
    return (uint8_t) ~(diff | diff >> 8 | diff >> 16 | diff >> 24);
}

/*
 * What write modes 0, 2 and 3 put on the planes: mode 0 the CPU byte rotated by GR03 with
 * set/reset GR00 on the planes GR01 enables, mode 2 the CPU byte's low nibble as the
 * colour, mode 3 set/reset as the colour with the rotated byte ANDed into the bit mask;
 * then the logical function against the latches and the bit mask (masked-off bits come
 * from the latches).
 */
static uint32_t gc_write_data(const struct vga *vga, uint8_t val)
{
    const uint8_t *gr = vga->gr;
    unsigned rot = gr[GR_DATA_ROTATE] & 7;
    uint8_t rotated = (uint8_t)((val >> rot) | (val << ((8 - rot) & 7)));
    uint32_t bit_mask = gr[GR_BIT_MASK], data;
    if ((gr[GR_MODE] & 3) == 0) {
        uint32_t sr_enable = plane_bytes(gr[GR_ENABLE_SET_RESET]);
        data = (rotated * 0x01010101u & ~sr_enable) | (plane_bytes(gr[GR_SET_RESET]) & sr_enable);
    } else if ((gr[GR_MODE] & 3) == 2) {
        data = plane_bytes(val);
    } else {
        bit_mask &= rotated;
        data = plane_bytes(gr[GR_SET_RESET]);
    }
    switch ((gr[GR_DATA_ROTATE] >> 3) & 3) {
    case 1:
        data &= vga->latch;
        break;
    case 2:
        data |= vga->latch;
        break;
    case 3:
        data ^= vga->latch;
        break;
    default:
        break;
    }
    bit_mask *= 0x01010101u;
    return (data & bit_mask) | (vga->latch & ~bit_mask);
}

/* A planar write: write mode 1 stores the latches as they are; the map mask SR02 picks the
 * planes written. */
static void planar_write(struct vga *vga, int64_t i, uint8_t val)
{
    uint32_t data = (vga->gr[GR_MODE] & 3) == 1 ? vga->latch : gc_write_data(vga, val);
    uint32_t planes = plane_bytes(vga->seq[SEQ_MAP_MASK]);
    uint32_t v = (load32(&vga->vram[i]) & ~planes) | (data & planes);
    memcpy(&vga->vram[i], &v, 4);
    vga_mark_dirty(vga, (uint64_t)i, 4);
}

/* True when accesses at this window offset go to one plane byte (chain-4, odd/even, VBE). */
static bool legacy_direct(const struct vga *vga, bool write)
{
    if (vbe_enabled(vga) || (vga->seq[SEQ_MEM_MODE] & SEQ_CHAIN4)) {
        return true;
    }
    return odd_even(vga, write);
}

static uint64_t legacy_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *vga = opaque;
    unsigned plane;
    int64_t i = legacy_index(vga, off, false, &plane);
    if (i < 0) {
        return 0xff;
    }
    return legacy_direct(vga, false) ? vga->vram[i] : planar_read(vga, i - plane);
}

static void legacy_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vga *vga = opaque;
    unsigned plane;
    int64_t i = legacy_index(vga, off, true, &plane);
    if (i < 0) {
        return;
    }
    if (!legacy_direct(vga, true)) {
        planar_write(vga, i - plane, (uint8_t)val);
        return;
    }
    if (vbe_enabled(vga) || (vga->seq[SEQ_MAP_MASK] & (1u << plane))) {
        vga->vram[i] = (uint8_t)val;
        vga_mark_dirty(vga, (uint64_t)i, 1);
    }
}

const struct bus_ops vga_legacy_ops = {
    .read = legacy_read,
    .write = legacy_write,
    .min_size = 1,
    .max_size = 1,
};

/* ---- BAR0 (VRAM without a KVM slot) and BAR2 (MMIO registers) ---------------------------- */

static uint64_t vram_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *vga = opaque;
    uint64_t v = 0;
    if (off + size <= vga->vram_size) { /* the BAR is vram_size long; checked anyway */
        memcpy(&v, vga->vram + off, size);
    }
    return v;
}

static void vram_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vga *vga = opaque;
    if (off + size <= vga->vram_size) {
        memcpy(vga->vram + off, &val, size);
        vga_mark_dirty(vga, off, size);
    }
}

const struct bus_ops vga_vram_ops = {
    .read = vram_read,
    .write = vram_write,
    .min_size = 1,
    .max_size = 8,
};

/* BAR2: 0x400-0x41F the VGA ports 0x3C0-0x3DF, 0x500-0x515 the dispi registers (QEMU). */
static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct vga *vga = opaque;
    if (off >= 0x400 && off + size <= 0x420) {
        uint64_t v = 0;
        for (unsigned b = 0; b < size; b++) {
            v |= (uint64_t)ioport_read(vga, VGA_PORT_BASE + (unsigned)(off - 0x400) + b) << (8 * b);
        }
        return v;
    }
    if (off >= 0x500 && off < 0x500 + 2 * VBE_INDEX_COUNT && size == 2 && !(off & 1)) {
        uint16_t saved = vga->vbe_index;
        vga->vbe_index = (uint16_t)((off - 0x500) / 2);
        uint16_t v = vbe_read(vga);
        vga->vbe_index = saved;
        return v;
    }
    return 0; /* 0x600: no QEMU extended registers (size 0) */
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct vga *vga = opaque;
    if (off >= 0x400 && off + size <= 0x420) {
        for (unsigned b = 0; b < size; b++) {
            ioport_write(vga, VGA_PORT_BASE + (unsigned)(off - 0x400) + b,
                         (uint8_t)(val >> (8 * b)));
        }
        return;
    }
    if (off >= 0x500 && off < 0x500 + 2 * VBE_INDEX_COUNT && size == 2 && !(off & 1)) {
        uint16_t saved = vga->vbe_index;
        vga->vbe_index = (uint16_t)((off - 0x500) / 2);
        vbe_write(vga, (uint16_t)val);
        vga->vbe_index = saved;
        return;
    }
    vga->bad_access++;
}

const struct bus_ops vga_mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
    .min_size = 1,
    .max_size = 2,
};

/* ---- rendering --------------------------------------------------------------------------- */

enum vga_mode vga_current_mode(const struct vga *vga)
{
    if (vbe_enabled(vga)) {
        return VGA_MODE_VBE;
    }
    if (!(vga->ar_index & AR_PAS) || (vga->seq[SEQ_CLOCKING] & SEQ_SCREEN_OFF)) {
        return VGA_MODE_BLANK;
    }
    return (vga->gr[GR_MISC] & 1) ? VGA_MODE_GRAPHICS : VGA_MODE_TEXT;
}

static uint32_t dac_color(const struct vga *vga, unsigned index, bool eight_bit)
{
    const uint8_t *p = &vga->palette[(index & 0xff) * 3];
    if (eight_bit) {
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    }
    /* 6 to 8 bits as QEMU's VGA does (bit 0 fills the two new bits): screendumps of the
     * same guest are byte-identical on both. */
    uint32_t c = 0;
    for (unsigned k = 0; k < 3; k++) {
        uint32_t v = p[k] & 0x3f;
        c = c << 8 | v << 2 | (v & 1) * 3;
    }
    return c;
}

/* A 4-bit pixel or text colour (0-15) through the attribute controller to the DAC. */
static uint32_t attr_color(const struct vga *vga, unsigned c)
{
    unsigned v = vga->ar[c & 0x0f];
    if (vga->ar[AR_MODE] & 0x80) {
        v = (v & 0x0f) | ((vga->ar[AR_COLOR_SELECT] & 0x03) << 4);
    } else {
        v &= 0x3f;
    }
    v |= (vga->ar[AR_COLOR_SELECT] & 0x0c) << 4;
    return dac_color(vga, v & vga->dac_mask, false);
}

static void update_text(struct vga *vga, struct display *d)
{
    const uint8_t *cr = vga->cr;
    unsigned cols = cr[0x01] + 1u;
    unsigned lines = cr[0x12] | ((cr[0x07] & 0x02u) << 7) | ((cr[0x07] & 0x40u) << 3);
    lines += 1;
    unsigned cheight = (cr[0x09] & 0x1fu) + 1;
    if (cr[0x09] & 0x80) {
        lines /= 2;
    }
    unsigned rows = lines / cheight;
    /* guest-controlled: the geometry */
    if (cols > TEXT_MAX_COLS) {
        cols = TEXT_MAX_COLS;
    }
    if (rows > TEXT_MAX_ROWS) {
        rows = TEXT_MAX_ROWS;
    }
    if (rows == 0) {
        rows = 1;
    }
    if (cols != vga->text_cols || rows != vga->text_rows || vga->shown != VGA_MODE_TEXT) {
        if (display_resize(d, cols * VGA_FONT_WIDTH, rows * VGA_FONT_HEIGHT) < 0) {
            return;
        }
        vga->text_cols = cols;
        vga->text_rows = rows;
        vga->full_redraw = true;
    }
    unsigned start = (unsigned)cr[0x0c] << 8 | cr[0x0d];
    unsigned pitch = cr[0x13] * 2u;
    unsigned cursor_addr = (unsigned)cr[0x0e] << 8 | cr[0x0f];
    uint64_t frame = vga->clock_ns / FRAME_NS;
    bool cursor_on = !(cr[0x0a] & 0x20) && ((frame >> 4) & 1) == 0;
    bool blink_en = vga->ar[AR_MODE] & AR_BLINK;
    bool blink_phase = (frame >> 5) & 1;
    int cs = (int)(cr[0x0a] & 0x1f) * VGA_FONT_HEIGHT / (int)cheight;
    int ce = (int)(cr[0x0b] & 0x1f) * VGA_FONT_HEIGHT / (int)cheight;
    if (ce >= VGA_FONT_HEIGHT) {
        ce = VGA_FONT_HEIGHT - 1;
    }
    if (blink_phase != vga->blink_phase) {
        vga->blink_phase = blink_phase;
        vga->full_redraw = true; /* blinking cells change: cheap enough to redraw all */
    }
    uint32_t colors[16];
    for (unsigned c = 0; c < 16; c++) {
        colors[c] = attr_color(vga, c);
    }
    int cursor_cell = -1;
    for (unsigned row = 0; row < rows; row++) {
        for (unsigned col = 0; col < cols; col++) {
            unsigned addr = (start + row * pitch + col) & 0xffffu;
            /* addr < 64 Ki cells: 256 KiB of VRAM at most, below VGA_VRAM_MIN */
            uint8_t ch = vga->vram[addr * 4u];
            uint8_t attr = vga->vram[addr * 4u + 1];
            unsigned cell = row * cols + col;
            bool is_cursor = cursor_on && addr == cursor_addr;
            uint16_t shadow = (uint16_t)(ch | attr << 8);
            if (!vga->full_redraw && vga->text_shadow[cell] == shadow && !is_cursor &&
                vga->cursor_drawn != (int)cell) {
                continue;
            }
            vga->text_shadow[cell] = shadow;
            unsigned fg = attr & 0x0f, bg = attr >> 4;
            if (blink_en) {
                bg &= 7;
                if ((attr & 0x80) && blink_phase) {
                    fg = bg;
                }
            }
            display_text_cell(d, col, row, ch, colors[fg], colors[bg], is_cursor ? cs : 1,
                              is_cursor ? ce : 0);
            if (is_cursor) {
                cursor_cell = (int)cell;
            }
        }
    }
    vga->cursor_drawn = cursor_cell;
}

bool vga_can_compare(const struct vga *vga)
{
    return vga_current_mode(vga) == VGA_MODE_VBE && vga->vbe_regs[VBE_INDEX_BPP] == 32;
}

static void update_vbe(struct vga *vga, struct display *d, bool compare)
{
    const uint16_t *r = vga->vbe_regs;
    unsigned w = r[VBE_INDEX_XRES], h = r[VBE_INDEX_YRES], bpp = r[VBE_INDEX_BPP];
    enum display_format fmt;
    if (!vbe_mode_fits(vga) || display_format_from_bpp(bpp, &fmt) < 0) {
        return; /* never true for an enabled mode: checked on every write and on load */
    }
    if (w != d->width || h != d->height || vga->shown != VGA_MODE_VBE) {
        if (display_resize(d, w, h) < 0) {
            return;
        }
        vga->full_redraw = true;
    }
    uint32_t palette[256];
    if (fmt == DISPLAY_FMT_C8) {
        bool eight = r[VBE_INDEX_ENABLE] & VBE_8BIT_DAC;
        for (unsigned i = 0; i < 256; i++) {
            palette[i] = dac_color(vga, i & vga->dac_mask, eight);
        }
    }
    uint64_t line = vbe_line(vga), start = vbe_start(vga);
    uint64_t bytes = (uint64_t)w * vbe_bytes(bpp);
    /* Runs of dirty lines become one blit each. */
    unsigned run = 0;
    for (unsigned y = 0; y <= h; y++) {
        bool dirty = y < h && (vga->full_redraw || range_dirty(vga, start + y * line, bytes));
        if (dirty && compare && !vga->full_redraw && fmt == DISPLAY_FMT_X8R8G8B8 &&
            memcmp(vga->vram + start + y * line, d->data + (size_t)y * d->width, bytes) == 0) {
            dirty = false; /* rewritten with the same pixels */
        }
        if (dirty) {
            run++;
            continue;
        }
        if (run) {
            display_blit(d, fmt, vga->vram + start, line, 0, y - run, w, run, palette);
            run = 0;
        }
    }
}

/* ---- graphics modes ---- */

/* The CRTC's vertical display end (CR12 with overflow bits 8 and 9 in CR07) plus one. */
static unsigned crtc_lines(const uint8_t *cr)
{
    return (cr[0x12] | ((cr[0x07] & 0x02u) << 7) | ((cr[0x07] & 0x40u) << 3)) + 1u;
}

/* Line compare: CR18, bit 8 in CR07 bit 4, bit 9 in CR09 bit 6. */
static unsigned crtc_line_compare(const uint8_t *cr)
{
    return cr[0x18] | ((cr[0x07] & 0x10u) << 4) | ((cr[0x09] & 0x40u) << 3);
}

/* The 256 KiB a standard VGA's CRTC addresses (64 Ki addresses of four planes). */
#define GFX_ADDR_MASK 0x3ffffu

/*
 * Decode one line of character clocks at VRAM byte addr (4 bytes, one per plane, per
 * clock) into out, as the sequencer's shift registers and the attribute controller do:
 * 256-colour (each plane byte one pixel, two dot clocks each), CGA interleave (2 bits per
 * pixel, planes 0/1 then 2/3 bits), or four planes of one bit per pixel. dots doubles
 * every pixel when the dot clock is halved (SR01 bit 3).
 */
static void gfx_line(const struct vga *vga, uint32_t addr, unsigned clocks, unsigned dots,
                     const uint32_t *pal16, const uint32_t *pal256, uint32_t *out)
{
    unsigned shift = vga->gr[GR_MODE] & (GR_MODE_SHIFT_CGA | GR_MODE_SHIFT_256);
    uint32_t plane_enable = plane_bytes(vga->ar[AR_PLANE_ENABLE]);
    for (unsigned c = 0; c < clocks; c++) {
        uint32_t v = load32(&vga->vram[(addr + 4u * c) & GFX_ADDR_MASK]);
        uint32_t px[8];
        if (shift & GR_MODE_SHIFT_256) {
            for (unsigned k = 0; k < 4; k++) {
                px[2 * k] = px[2 * k + 1] = pal256[(v >> (8 * k)) & 0xff];
            }
        } else if (shift & GR_MODE_SHIFT_CGA) {
            v &= plane_enable;
            for (unsigned k = 0; k < 8; k++) {
                unsigned lo = (v >> (8 * (k >> 2))) & 0xff, hi = (v >> (16 + 8 * (k >> 2))) & 0xff;
                unsigned sh = 6 - 2 * (k & 3);
                px[k] = pal16[((lo >> sh) & 3) | (((hi >> sh) & 3) << 2)];
            }
        } else {
            v &= plane_enable;
            for (unsigned k = 0; k < 8; k++) {
                unsigned bit = 7 - k, idx = 0;
                for (unsigned p = 0; p < 4; p++) {
                    idx |= ((v >> (8 * p + bit)) & 1u) << p;
                }
                px[k] = pal16[idx];
            }
        }
        for (unsigned k = 0; k < 8; k++) {
            for (unsigned r = 0; r < dots; r++) {
                *out++ = px[k];
            }
        }
    }
}

/*
 * The graphics modes, from the register state alone (no mode numbers): width from CR01
 * (8 dots per character clock, twice that with SR01 bit 3), height from the vertical
 * display end. The row scan counter runs from 0 to CR09's maximum scan line, one step per
 * scan line (per two with CR09's double scan); at its end the address advances by the
 * offset register (CR13, 8 bytes of this VRAM layout per unit). CR17 bits 0/1 clear put
 * row scan bits 0/1 into address bits 13/14 (the CGA and Hercules banks), and the line
 * compare restarts at address 0.
 * Only lines whose VRAM changed are drawn unless everything must be.
 */
static void update_graphics(struct vga *vga, struct display *d)
{
    const uint8_t *cr = vga->cr;
    unsigned clocks = cr[0x01] + 1u, height = crtc_lines(cr);
    unsigned dots = (vga->seq[SEQ_CLOCKING] & SEQ_DOT_CLOCK_HALF) ? 2 : 1;
    unsigned width = clocks * 8 * dots;
    if (width != d->width || height != d->height || vga->shown != VGA_MODE_GRAPHICS) {
        if (display_resize(d, width, height) < 0) {
            return;
        }
        vga->full_redraw = true;
    }
    uint32_t pal16[16], pal256[256];
    for (unsigned c = 0; c < 16; c++) {
        pal16[c] = attr_color(vga, c);
    }
    for (unsigned c = 0; c < 256; c++) {
        pal256[c] = dac_color(vga, c & vga->dac_mask, false);
    }
    unsigned double_scan = cr[0x09] >> 7, max_scan = cr[0x09] & 0x1fu;
    unsigned line_compare = crtc_line_compare(cr);
    /* Bits 13 and 14 of the CRTC's address (in byte or word mode) as bits of this layout. */
    unsigned bank_bit = 14 + ((cr[CR_MODE] >> 6) & 1);
    uint32_t pitch = cr[0x13] * 8u;
    uint32_t row_addr = ((uint32_t)cr[0x0c] << 8 | cr[0x0d]) * 4u;
    uint32_t bytes = clocks * 4u;
    unsigned row_scan = 0, run = 0;
    for (unsigned y = 0; y <= height; y++) {
        bool dirty = false;
        if (y < height) {
            uint32_t addr = row_addr;
            if (!(cr[CR_MODE] & 1)) { /* row scan bit 0 replaces address bit 13 */
                addr = (addr & ~(1u << bank_bit)) | ((row_scan & 1u) << bank_bit);
            }
            if (!(cr[CR_MODE] & 2)) { /* row scan bit 1 replaces address bit 14 */
                addr = (addr & ~(2u << bank_bit)) | ((row_scan & 2u) << bank_bit);
            }
            addr &= GFX_ADDR_MASK;
            dirty = vga->full_redraw || addr + bytes > GFX_ADDR_MASK + 1 ||
                    range_dirty(vga, addr, bytes);
            if (dirty) {
                gfx_line(vga, addr, clocks, dots, pal16, pal256, d->data + (size_t)y * d->width);
            }
            /* The row scan counter counts every scan line, every second with double scan. */
            if (!double_scan || (y & 1)) {
                if (row_scan++ >= max_scan) {
                    row_scan = 0;
                    row_addr += pitch;
                }
            }
            if (y == line_compare) {
                row_addr = 0;
                row_scan = 0;
            }
        }
        if (dirty) {
            run++;
        } else if (run) {
            display_damage(d, 0, y - run, width, run);
            run = 0;
        }
    }
}

static void vga_update(void *opaque, struct display *d)
{
    struct vga *vga = opaque;
    int sync = vga->sync_dirty ? vga->sync_dirty(vga->sync_opaque, vga->dirty) : -1;
    if (sync < 0) {
        memset(vga->dirty, 0xff, dirty_words(vga) * sizeof(uint64_t));
    }
    enum vga_mode mode = vga_current_mode(vga);
    switch (mode) {
    case VGA_MODE_TEXT:
        update_text(vga, d);
        break;
    case VGA_MODE_GRAPHICS:
        update_graphics(vga, d);
        break;
    case VGA_MODE_VBE:
        update_vbe(vga, d, sync == VGA_SYNC_COMPARE);
        break;
    case VGA_MODE_BLANK:
        if (vga->shown != VGA_MODE_BLANK || vga->full_redraw) {
            display_fill(d, 0, 0, d->width, d->height, 0);
        }
        break;
    }
    vga->shown = mode;
    vga->full_redraw = false;
    memset(vga->dirty, 0, dirty_words(vga) * sizeof(uint64_t));
}

const struct display_hw_ops vga_display_ops = {
    .update = vga_update,
};

/* ---- life cycle and state ---------------------------------------------------------------- */

void vga_reset(struct vga *vga)
{
    vga->misc = 0x67;
    vga->feature = 0;
    memset(vga->seq, 0, sizeof(vga->seq));
    memcpy(vga->seq, mode3_seq, sizeof(mode3_seq));
    memset(vga->gr, 0, sizeof(vga->gr));
    memcpy(vga->gr, mode3_gr, sizeof(mode3_gr));
    memcpy(vga->ar, mode3_ar, sizeof(mode3_ar));
    memcpy(vga->cr, mode3_cr, sizeof(mode3_cr));
    vga->seq_index = vga->gr_index = vga->cr_index = 0;
    vga->ar_index = AR_PAS; /* the BIOS leaves the display running */
    vga->ar_flip = 0;
    vga->dac_read = vga->dac_write = vga->dac_sub = vga->dac_state = 0;
    vga->dac_mask = 0xff;
    vga->latch = 0;
    memset(vga->dac_latch, 0, sizeof(vga->dac_latch));
    load_ega_palette(vga);
    vga->vbe_index = 0;
    memset(vga->vbe_regs, 0, sizeof(vga->vbe_regs));
    vga->vbe_regs[VBE_INDEX_ID] = VBE_ID5;
    vga->vbe_regs[VBE_INDEX_XRES] = 640;
    vga->vbe_regs[VBE_INDEX_YRES] = 480;
    vga->vbe_regs[VBE_INDEX_BPP] = 8;
    /* A blank screen of grey-on-black spaces, as after the BIOS cleared it. */
    for (unsigned i = 0; i < 80 * 25; i++) {
        vga->vram[i * 4] = ' ';
        vga->vram[i * 4 + 1] = 0x07;
    }
    vga->full_redraw = true;
    vga->cursor_drawn = -1;
    vga_mark_dirty(vga, 0, vga->vram_size);
    window_check(vga);
}

static void vga_reset_cb(void *opaque)
{
    vga_reset(opaque);
}

int vga_init(struct vga *vga, uint8_t *vram, uint32_t vram_size)
{
    memset(vga, 0, sizeof(*vga));
    if (!vram || vram_size < VGA_VRAM_MIN || vram_size > VGA_VRAM_MAX ||
        (vram_size & (vram_size - 1))) {
        return -EINVAL;
    }
    vga->vram = vram;
    vga->vram_size = vram_size;
    vga->state_vram = vram_size; /* a version 1 state (16 MiB only then) keeps it */
    vga->dirty = calloc(dirty_words(vga), sizeof(uint64_t));
    vga->text_shadow = calloc(TEXT_MAX_COLS * TEXT_MAX_ROWS, sizeof(uint16_t));
    if (!vga->dirty || !vga->text_shadow) {
        vga_destroy(vga);
        return -ENOMEM;
    }
    int r =
        pci_dev_init(&vga->pci, "vga", VGA_PCI_VENDOR, VGA_PCI_DEVICE, 0x030000, 2, PCI_INTX_NONE);
    if (r == 0) {
        pci_dev_set_subsystem(&vga->pci, 0x1af4, 0x1100);
        r = pci_dev_set_bar(&vga->pci, VGA_VRAM_BAR, PCI_BAR_MEM32, vram_size, true);
    }
    if (r == 0) {
        r = pci_dev_set_bar(&vga->pci, VGA_MMIO_BAR, PCI_BAR_MEM32, VGA_MMIO_BAR_SIZE, false);
    }
    if (r < 0) {
        vga_destroy(vga);
        return r;
    }
    pci_dev_realize(&vga->pci);
    vga->shown = VGA_MODE_BLANK;
    vga_reset(vga);
    return 0;
}

void vga_destroy(struct vga *vga)
{
    if (!vga) {
        return;
    }
    free(vga->dirty);
    free(vga->text_shadow);
    vga->dirty = NULL;
    vga->text_shadow = NULL;
    pci_dev_destroy(&vga->pci);
}

/* Saved state is hostile input: every dispi value must describe a mode inside VRAM. */
static int vga_post_load(void *opaque)
{
    struct vga *vga = opaque;
    const uint16_t *r = vga->vbe_regs;
    if (vga->state_vram != vga->vram_size) {
        return -EMEDIUMTYPE; /* saved with another --display vga,vram= size */
    }
    if (vga->dac_sub >= 3 || vga->ar_flip > 1 ||
        (uint32_t)r[VBE_INDEX_BANK] * VBE_BANK_SIZE >= vga->vram_size ||
        (vbe_enabled(vga) && !vbe_mode_fits(vga)) ||
        (r[VBE_INDEX_BPP] && !vbe_bpp_ok(r[VBE_INDEX_BPP])) || r[VBE_INDEX_XRES] > VBE_MAX_XRES ||
        r[VBE_INDEX_YRES] > VBE_MAX_YRES) {
        return -EINVAL;
    }
    vga->full_redraw = true;
    vga->cursor_drawn = -1;
    vga_mark_dirty(vga, 0, vga->vram_size);
    window_check(vga);
    return 0;
}

static const struct vmstate_field vga_fields[] = {
    VMSTATE_FIELD(struct vga, misc),
    VMSTATE_FIELD(struct vga, feature),
    VMSTATE_FIELD(struct vga, seq_index),
    VMSTATE_ARRAY(struct vga, seq),
    VMSTATE_FIELD(struct vga, gr_index),
    VMSTATE_ARRAY(struct vga, gr),
    VMSTATE_FIELD(struct vga, ar_index),
    VMSTATE_ARRAY(struct vga, ar),
    VMSTATE_FIELD(struct vga, ar_flip),
    VMSTATE_FIELD(struct vga, cr_index),
    VMSTATE_ARRAY(struct vga, cr),
    VMSTATE_FIELD(struct vga, dac_read),
    VMSTATE_FIELD(struct vga, dac_write),
    VMSTATE_FIELD(struct vga, dac_sub),
    VMSTATE_FIELD(struct vga, dac_state),
    VMSTATE_FIELD(struct vga, dac_mask),
    VMSTATE_ARRAY(struct vga, dac_latch),
    VMSTATE_ARRAY(struct vga, palette),
    VMSTATE_FIELD(struct vga, vbe_index),
    VMSTATE_ARRAY(struct vga, vbe_regs),
    VMSTATE_FIELD_V(struct vga, latch, 2),
    VMSTATE_FIELD_V(struct vga, state_vram, 2),
    VMSTATE_END,
};

const struct vmstate vga_vmstate = {
    .name = "vga",
    .version = 2,
    .fields = vga_fields,
    .post_load = vga_post_load,
};

void vga_device(struct vga *vga, struct device *out)
{
    *out = (struct device){
        .name = "vga",
        .opaque = vga,
        .reset = vga_reset_cb,
        .state = &vga_vmstate,
    };
}
