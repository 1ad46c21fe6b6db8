// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * X keysym to set 1 scancode. Printable keysyms equal their Latin-1 code: each row of the
 * US keyboard is one string, unshifted and shifted, whose characters take consecutive
 * scancodes from the row's first key. Function and editing keys come from a short table.
 */
#include "display/keymap.h"

#include <stddef.h>
#include <string.h>

struct key_row {
    unsigned first; /* set 1 code of the row's first key */
    const char *plain, *shifted;
};

static const struct key_row rows[] = {
    {0x02, "1234567890-=", "!@#$%^&*()_+"},
    {0x10, "qwertyuiop[]", "QWERTYUIOP{}"},
    {0x1e, "asdfghjkl;'`", "ASDFGHJKL:\"~"},
    {0x2b, "\\zxcvbnm,./", "|ZXCVBNM<>?"},
};

struct special {
    uint32_t keysym;
    uint16_t code;
};

/* keysymdef.h names in the comments. */
static const struct special specials[] = {
    {0x0020, 0x39},   /* space */
    {0xff08, 0x0e},   /* BackSpace */
    {0xff09, 0x0f},   /* Tab */
    {0xfe20, 0x0f},   /* ISO_Left_Tab (Shift+Tab) */
    {0xff0d, 0x1c},   /* Return */
    {0xff1b, 0x01},   /* Escape */
    {0xffff, 0xe053}, /* Delete */
    {0xff50, 0xe047}, /* Home */
    {0xff51, 0xe04b}, /* Left */
    {0xff52, 0xe048}, /* Up */
    {0xff53, 0xe04d}, /* Right */
    {0xff54, 0xe050}, /* Down */
    {0xff55, 0xe049}, /* Prior */
    {0xff56, 0xe051}, /* Next */
    {0xff57, 0xe04f}, /* End */
    {0xff63, 0xe052}, /* Insert */
    {0xff67, 0xe05d}, /* Menu */
    {0xff7f, 0x45},   /* Num_Lock */
    {0xff14, 0x46},   /* Scroll_Lock */
    {0xff8d, 0xe01c}, /* KP_Enter */
    {0xffaa, 0x37},   /* KP_Multiply */
    {0xffab, 0x4e},   /* KP_Add */
    {0xffad, 0x4a},   /* KP_Subtract */
    {0xffae, 0x53},   /* KP_Decimal */
    {0xffaf, 0xe035}, /* KP_Divide */
    {0xffe1, 0x2a},   /* Shift_L */
    {0xffe2, 0x36},   /* Shift_R */
    {0xffe3, 0x1d},   /* Control_L */
    {0xffe4, 0xe01d}, /* Control_R */
    {0xffe5, 0x3a},   /* Caps_Lock */
    {0xffe7, 0xe05b}, /* Meta_L */
    {0xffe9, 0x38},   /* Alt_L */
    {0xffea, 0xe038}, /* Alt_R */
    {0xfe03, 0xe038}, /* ISO_Level3_Shift (AltGr) */
    {0xffeb, 0xe05b}, /* Super_L */
    {0xffec, 0xe05c}, /* Super_R */
    {0x00a7, 0x56},   /* section: the 102nd key of ISO keyboards, as X maps it on de/fr */
};

/* KP_0..KP_9 (0xffb0 + n) in keypad order. */
static const uint8_t keypad_digits[10] = {0x52, 0x4f, 0x50, 0x51, 0x4b,
                                          0x4c, 0x4d, 0x47, 0x48, 0x49};

int keymap_keysym_to_set1(uint32_t keysym)
{
    if (keysym > 0x20 && keysym < 0x7f) {
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            const char *p = strchr(rows[r].plain, (int)keysym);
            if (!p) {
                p = strchr(rows[r].shifted, (int)keysym);
                if (p) {
                    return (int)(rows[r].first + (unsigned)(p - rows[r].shifted));
                }
                continue;
            }
            return (int)(rows[r].first + (unsigned)(p - rows[r].plain));
        }
    }
    if (keysym >= 0xffb0 && keysym <= 0xffb9) {
        return keypad_digits[keysym - 0xffb0];
    }
    if (keysym >= 0xffbe && keysym <= 0xffc7) { /* F1-F10 */
        return (int)(0x3b + keysym - 0xffbe);
    }
    if (keysym == 0xffc8 || keysym == 0xffc9) { /* F11, F12 */
        return (int)(0x57 + keysym - 0xffc8);
    }
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
        if (specials[i].keysym == keysym) {
            return specials[i].code;
        }
    }
    return -1;
}

/*
 * Set 1 codes without the E0 prefix equal evdev codes up to 0x58 (KEY_ESC = 1 ... KEY_F12 =
 * 88, KEY_102ND = 86), the way Linux's atkbd maps them; the E0 keys have codes of their own.
 */
static const struct {
    uint16_t set1;
    uint16_t evdev;
} e0_keys[] = {
    {0xe01c, 96},  /* KEY_KPENTER */
    {0xe01d, 97},  /* KEY_RIGHTCTRL */
    {0xe035, 98},  /* KEY_KPSLASH */
    {0xe038, 100}, /* KEY_RIGHTALT */
    {0xe047, 102}, /* KEY_HOME */
    {0xe048, 103}, /* KEY_UP */
    {0xe049, 104}, /* KEY_PAGEUP */
    {0xe04b, 105}, /* KEY_LEFT */
    {0xe04d, 106}, /* KEY_RIGHT */
    {0xe04f, 107}, /* KEY_END */
    {0xe050, 108}, /* KEY_DOWN */
    {0xe051, 109}, /* KEY_PAGEDOWN */
    {0xe052, 110}, /* KEY_INSERT */
    {0xe053, 111}, /* KEY_DELETE */
    {0xe05b, 125}, /* KEY_LEFTMETA */
    {0xe05c, 126}, /* KEY_RIGHTMETA */
    {0xe05d, 127}, /* KEY_COMPOSE */
};

int keymap_set1_to_evdev(int set1)
{
    if (set1 > 0 && set1 <= 0x58 && set1 != 0x54 && set1 != 0x55) {
        return set1;
    }
    for (size_t i = 0; i < sizeof(e0_keys) / sizeof(e0_keys[0]); i++) {
        if (e0_keys[i].set1 == set1) {
            return e0_keys[i].evdev;
        }
    }
    return -1;
}

int keymap_keysym_to_evdev(uint32_t keysym)
{
    int set1 = keymap_keysym_to_set1(keysym);
    return set1 < 0 ? -1 : keymap_set1_to_evdev(set1);
}

/* QEMU's QKeyCode names (qapi/ui.json) with a key on the PC/AT keyboard. */
struct qcode {
    const char *name;
    uint16_t code;
};

static const struct qcode qcodes[] = {
    {"shift", 0x2a},
    {"shift_r", 0x36},
    {"alt", 0x38},
    {"alt_r", 0xe038},
    {"ctrl", 0x1d},
    {"ctrl_r", 0xe01d},
    {"menu", 0xe05d},
    {"esc", 0x01},
    {"1", 0x02},
    {"2", 0x03},
    {"3", 0x04},
    {"4", 0x05},
    {"5", 0x06},
    {"6", 0x07},
    {"7", 0x08},
    {"8", 0x09},
    {"9", 0x0a},
    {"0", 0x0b},
    {"minus", 0x0c},
    {"equal", 0x0d},
    {"backspace", 0x0e},
    {"tab", 0x0f},
    {"q", 0x10},
    {"w", 0x11},
    {"e", 0x12},
    {"r", 0x13},
    {"t", 0x14},
    {"y", 0x15},
    {"u", 0x16},
    {"i", 0x17},
    {"o", 0x18},
    {"p", 0x19},
    {"bracket_left", 0x1a},
    {"bracket_right", 0x1b},
    {"ret", 0x1c},
    {"a", 0x1e},
    {"s", 0x1f},
    {"d", 0x20},
    {"f", 0x21},
    {"g", 0x22},
    {"h", 0x23},
    {"j", 0x24},
    {"k", 0x25},
    {"l", 0x26},
    {"semicolon", 0x27},
    {"apostrophe", 0x28},
    {"grave_accent", 0x29},
    {"backslash", 0x2b},
    {"z", 0x2c},
    {"x", 0x2d},
    {"c", 0x2e},
    {"v", 0x2f},
    {"b", 0x30},
    {"n", 0x31},
    {"m", 0x32},
    {"comma", 0x33},
    {"dot", 0x34},
    {"slash", 0x35},
    {"asterisk", 0x37},
    {"spc", 0x39},
    {"caps_lock", 0x3a},
    {"f1", 0x3b},
    {"f2", 0x3c},
    {"f3", 0x3d},
    {"f4", 0x3e},
    {"f5", 0x3f},
    {"f6", 0x40},
    {"f7", 0x41},
    {"f8", 0x42},
    {"f9", 0x43},
    {"f10", 0x44},
    {"num_lock", 0x45},
    {"scroll_lock", 0x46},
    {"kp_divide", 0xe035},
    {"kp_multiply", 0x37},
    {"kp_subtract", 0x4a},
    {"kp_add", 0x4e},
    {"kp_enter", 0xe01c},
    {"kp_decimal", 0x53},
    {"kp_0", 0x52},
    {"kp_1", 0x4f},
    {"kp_2", 0x50},
    {"kp_3", 0x51},
    {"kp_4", 0x4b},
    {"kp_5", 0x4c},
    {"kp_6", 0x4d},
    {"kp_7", 0x47},
    {"kp_8", 0x48},
    {"kp_9", 0x49},
    {"less", 0x56},
    {"f11", 0x57},
    {"f12", 0x58},
    {"home", 0xe047},
    {"pgup", 0xe049},
    {"pgdn", 0xe051},
    {"end", 0xe04f},
    {"left", 0xe04b},
    {"up", 0xe048},
    {"down", 0xe050},
    {"right", 0xe04d},
    {"insert", 0xe052},
    {"delete", 0xe053},
    {"meta_l", 0xe05b},
    {"meta_r", 0xe05c},
};

int keymap_qcode_to_set1(const char *name)
{
    for (size_t i = 0; i < sizeof(qcodes) / sizeof(qcodes[0]); i++) {
        if (strcmp(qcodes[i].name, name) == 0) {
            return qcodes[i].code;
        }
    }
    return -1;
}

int keymap_qnum_to_set1(int64_t qnum)
{
    /* QEMU's key numbers: set 1 make codes, 0x80 set for E0-prefixed keys. */
    if (qnum <= 0 || qnum > 0xff || qnum == 0x80) {
        return -1;
    }
    return qnum < 0x80 ? (int)qnum : (int)(0xe000 | (qnum & 0x7f));
}

const char *keymap_qcode_name(size_t i)
{
    return i < sizeof(qcodes) / sizeof(qcodes[0]) ? qcodes[i].name : NULL;
}
