// SPDX-License-Identifier: GPL-2.0-or-later
/* Reset control register (0xCF9): RST_CPU resets, reads never show it, odd accesses ignored. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io/reset_port.h"
#include "vmm/acpi.h"

struct fixture {
    struct reset_port rp;
    unsigned resets;
};

static void on_reset(void *opaque)
{
    struct fixture *f = opaque;
    f->resets++;
}

static void test_reset_sequences(void **state)
{
    struct fixture f = {0};
    reset_port_init(&f.rp, on_reset, &f);
    assert_int_equal(reset_port_ops.read(&f.rp, 0, 1), 0);

    /* SYS_RST alone selects the kind of reset, it does not reset. */
    reset_port_ops.write(&f.rp, 0, RESET_PORT_SYS_RST, 1);
    assert_int_equal(f.resets, 0);
    assert_int_equal(reset_port_ops.read(&f.rp, 0, 1), RESET_PORT_SYS_RST);

    /* 0x04 after 0x02: reset; the register keeps SYS_RST from the new value (clear). */
    reset_port_ops.write(&f.rp, 0, RESET_PORT_RST_CPU, 1);
    assert_int_equal(f.resets, 1);
    assert_int_equal(reset_port_ops.read(&f.rp, 0, 1), 0);

    /* The FADT's value 0x06 resets at once; RST_CPU never reads back. */
    reset_port_ops.write(&f.rp, 0, ACPI_RESET_VALUE, 1);
    assert_int_equal(f.resets, 2);
    assert_int_equal(reset_port_ops.read(&f.rp, 0, 1), RESET_PORT_SYS_RST);

    /* Unknown bits are dropped; FULL_RST is kept. */
    reset_port_ops.write(&f.rp, 0, 0xf9 & ~RESET_PORT_RST_CPU, 1);
    assert_int_equal(f.resets, 2);
    assert_int_equal(reset_port_ops.read(&f.rp, 0, 1), RESET_PORT_FULL_RST);

    /* No callback wired: nothing happens, no crash. */
    struct reset_port lone;
    reset_port_init(&lone, NULL, NULL);
    reset_port_ops.write(&lone, 0, 0x06, 1);
    assert_int_equal(reset_port_ops.read(&lone, 0, 1), RESET_PORT_SYS_RST);
}

static void test_odd_accesses(void **state)
{
    struct fixture f = {0};
    reset_port_init(&f.rp, on_reset, &f);
    reset_port_ops.write(&f.rp, 0, RESET_PORT_SYS_RST, 1);
    static const struct {
        uint64_t off;
        unsigned size;
    } cases[] = {{1, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 0}, {UINT64_MAX, 1}, {3, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned s = cases[i].size;
        assert_int_equal(reset_port_ops.read(&f.rp, cases[i].off, s),
                         s >= 8 ? UINT64_MAX : (1ull << (8 * s)) - 1);
        reset_port_ops.write(&f.rp, cases[i].off, 0x06, s);
    }
    assert_int_equal(f.resets, 0);
    assert_int_equal(f.rp.bad_access, 2 * 7);
    assert_int_equal(reset_port_ops.read(&f.rp, 0, 1), RESET_PORT_SYS_RST);
}

static void test_device_and_state(void **state)
{
    struct fixture f = {0};
    reset_port_init(&f.rp, on_reset, &f);
    reset_port_ops.write(&f.rp, 0, RESET_PORT_SYS_RST | RESET_PORT_FULL_RST, 1);

    size_t n = vmstate_size(&reset_port_vmstate);
    uint8_t a[32], b[32];
    assert_true(n <= sizeof(a));
    assert_int_equal(vmstate_save(&reset_port_vmstate, &f.rp, a, n), (long)n);
    struct reset_port rp2;
    reset_port_init(&rp2, on_reset, &f);
    for (int cycle = 0; cycle < 3; cycle++) {
        assert_int_equal(vmstate_load(&reset_port_vmstate, &rp2, a, n), 0);
        assert_int_equal(vmstate_save(&reset_port_vmstate, &rp2, b, n), (long)n);
        assert_memory_equal(a, b, n);
    }
    assert_int_equal(reset_port_ops.read(&rp2, 0, 1), RESET_PORT_SYS_RST | RESET_PORT_FULL_RST);

    /* A state with RST_CPU (or unknown bits) set is refused, the device is untouched. */
    struct reset_port bad = rp2;
    bad.value = RESET_PORT_RST_CPU;
    uint8_t c[32];
    assert_int_equal(vmstate_save(&reset_port_vmstate, &bad, c, n), (long)n);
    assert_int_equal(vmstate_load(&reset_port_vmstate, &rp2, c, n), -EINVAL);
    assert_int_equal(rp2.value, RESET_PORT_SYS_RST | RESET_PORT_FULL_RST);

    struct device d = reset_port_device(&rp2);
    assert_string_equal(d.name, "reset-port");
    assert_ptr_equal(d.state, &reset_port_vmstate);
    d.reset(d.opaque);
    assert_int_equal(reset_port_ops.read(&rp2, 0, 1), 0);
    assert_int_equal(f.resets, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_sequences),
        cmocka_unit_test(test_odd_accesses),
        cmocka_unit_test(test_device_and_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
