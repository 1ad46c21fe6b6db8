// SPDX-License-Identifier: GPL-2.0-or-later
/* deskvm-vm command line: sizes, CPU counts, bad input gives one clear error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/cli.h"

#define ARGV(...) ((char **)(const char *[]){"deskvm-vm", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((const char *[]){"deskvm-vm", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(opt, err, ...) cli_parse(opt, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, sizeof(err))

static void test_sizes(void **state)
{
    uint64_t v;
    assert_int_equal(cli_parse_size("512M", &v), 0);
    assert_int_equal(v, 512ull << 20);
    assert_int_equal(cli_parse_size("2G", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(cli_parse_size("1.5G", &v), 0);
    assert_int_equal(v, 3ull << 29);
    assert_int_equal(cli_parse_size("128", &v), 0);
    assert_int_equal(v, 128ull << 20);
    assert_int_equal(cli_parse_size("64MiB", &v), 0);
    assert_int_equal(v, 64ull << 20);
    assert_int_equal(cli_parse_size("", &v), -EINVAL);
    assert_int_equal(cli_parse_size("abc", &v), -EINVAL);
    assert_int_equal(cli_parse_size("12X", &v), -EINVAL);
    assert_int_equal(cli_parse_size("-1G", &v), -EINVAL);
    assert_int_equal(cli_parse_size("0", &v), -EINVAL);
    assert_int_equal(cli_parse_size("99999999999999999T", &v), -EINVAL);
}

static void test_defaults_and_values(void **state)
{
    struct cli_options o;
    char err[256] = "";
    assert_int_equal(PARSE(&o, err, "--memory", "64M"), 0);
    assert_null(o.kernel);
    assert_int_equal(o.ncpus, 1);
    assert_string_equal(o.serial, "stdio");
    assert_int_equal(PARSE(&o, err, "--kernel", "k", "--append", "console=ttyS0", "--cpus", "2",
                           "--qmp", "unix:/tmp/q.sock", "-S"),
                     0);
    assert_string_equal(o.kernel, "k");
    assert_string_equal(o.cmdline, "console=ttyS0");
    assert_int_equal(o.ncpus, 2);
    assert_string_equal(o.qmp_path, "/tmp/q.sock");
    assert_true(o.start_paused);
}

static void test_bad_input(void **state)
{
    struct cli_options o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--cpus", "0"), -EINVAL);
    assert_non_null(strstr(err, "--cpus"));
    assert_int_equal(PARSE(&o, err, "--cpus", "two"), -EINVAL);
    /* Above the limit: the message gives the limit, not just "a whole number". */
    assert_int_equal(PARSE(&o, err, "--cpus", "100000"), -EINVAL);
    assert_non_null(strstr(err, "1 to 255"));
    assert_int_equal(PARSE(&o, err, "--cpus", "256"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--cpus", "255"), 0);
    assert_int_equal(o.ncpus, 255);
    assert_int_equal(PARSE(&o, err, "--memory", "lots"), -EINVAL);
    assert_non_null(strstr(err, "--memory"));
    assert_int_equal(PARSE(&o, err, "--memory", "1M"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--memory", "1000000G"), -EINVAL);
    assert_non_null(strstr(err, "RAM"));
    assert_int_equal(PARSE(&o, err, "--qmp", "/tmp/x"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--bogus"), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(PARSE(&o, err, "--kernel"), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(PARSE(&o, err, "--initrd", "x"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "stray"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--vnc", "127.0.0.1:0"), -EINVAL);
    assert_non_null(strstr(err, "--vnc"));
}

static void test_restore(void **state)
{
    struct cli_options o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--restore", "vm.dvs", "-S"), 0);
    assert_string_equal(o.restore, "vm.dvs");
    assert_true(o.start_paused);
    /* The machine comes from the checkpoint: options that shape it are refused. */
    const char *clash[][2] = {
        {"--memory", "512M"}, {"--cpus", "2"},   {"--kernel", "k"},
        {"--append", "x"},    {"--initrd", "i"},
    };
    for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
        assert_int_equal(PARSE(&o, err, "--restore", "vm.dvs", clash[i][0], clash[i][1]), -EINVAL);
        assert_non_null(strstr(err, "--restore"));
    }
    assert_int_equal(PARSE(&o, err, "--restore"), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
