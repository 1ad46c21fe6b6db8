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
#include "vmm/virtio_machine.h"

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

static void test_devices(void **state)
{
    struct cli_options o;
    char err[256] = "";
    assert_int_equal(PARSE(&o, err, "--device", "virtio-rng", "--device",
                           "virtio-console,chardev=file:/tmp/x", "--device", "virtio-console"),
                     0);
    assert_int_equal(o.ndevices, 3);
    assert_string_equal(o.devices[0], "virtio-rng");
    assert_string_equal(o.devices[1], "virtio-console,chardev=file:/tmp/x");

    struct virtio_spec s;
    assert_int_equal(virtio_spec_parse("virtio-console,chardev=file:/tmp/x", &s, err, sizeof(err)),
                     0);
    assert_int_equal(s.kind, VIRTIO_SPEC_CONSOLE);
    assert_string_equal(s.chardev, "file:/tmp/x");
    assert_int_equal(virtio_spec_parse("virtio-console", &s, err, sizeof(err)), 0);
    assert_string_equal(s.chardev, "stdio");
    assert_int_equal(virtio_spec_parse("virtio-console,chardev=null", &s, err, sizeof(err)), 0);
    assert_string_equal(s.chardev, "null");
    assert_int_equal(virtio_spec_parse("virtio-rng", &s, err, sizeof(err)), 0);
    assert_int_equal(s.kind, VIRTIO_SPEC_RNG);

    /* Unknown devices and options, bad chardevs, options a device does not have. */
    assert_int_equal(virtio_spec_parse("virtio-gpu", &s, err, sizeof(err)), -ENOENT);
    assert_int_equal(virtio_spec_parse("virtio-rngx", &s, err, sizeof(err)), -ENOENT);
    assert_int_equal(virtio_spec_parse("virtio-rng,chardev=stdio", &s, err, sizeof(err)), -EINVAL);
    assert_int_equal(virtio_spec_parse("virtio-console,chardev=tcp:1", &s, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(virtio_spec_parse("virtio-console,chardev=file:", &s, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(virtio_spec_parse("virtio-console,", &s, err, sizeof(err)), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--device", "virtio-net"), -EINVAL);
    assert_non_null(strstr(err, "virtio-net"));
    assert_int_equal(PARSE(&o, err, "--device"), -EINVAL);
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

static void test_display_and_vnc(void **state)
{
    struct cli_options o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--cpus", "1"), 0);
    assert_null(o.display);
    assert_null(o.vnc);
    assert_int_equal(PARSE(&o, err, "--vnc", "127.0.0.1:5900"), 0);
    assert_string_equal(o.display, "vga"); /* --vnc brings a VGA along */
    assert_string_equal(o.vnc, "127.0.0.1:5900");
    assert_int_equal(PARSE(&o, err, "--vnc", "unix:/tmp/deskvm.vnc"), 0);
    assert_int_equal(PARSE(&o, err, "--display", "vga"), 0);
    assert_string_equal(o.display, "vga");
    assert_int_equal(PARSE(&o, err, "--vnc", "0.0.0.0:5900,password=on"), 0);
    /* Beyond loopback without a password: refused, and the message says why. */
    assert_int_equal(PARSE(&o, err, "--vnc", "0.0.0.0:5900"), -EINVAL);
    assert_non_null(strstr(err, "password=on"));
    assert_int_equal(PARSE(&o, err, "--vnc", "localhost:5900"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--vnc", "127.0.0.1:65536"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--vnc", "127.0.0.1:59x"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--vnc", "unix:"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--vnc", "127.0.0.1:5900,share=on"), -EINVAL);
    assert_non_null(strstr(err, "share=on"));
    assert_int_equal(PARSE(&o, err, "--display", "none", "--vnc", "127.0.0.1:5900"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--display", "cirrus"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--display", "vga,vram=64"), 0);
    assert_string_equal(o.display, "vga");
    assert_int_equal(o.vga_vram, 64u << 20);
    assert_int_equal(PARSE(&o, err, "--display", "vga,vram=1"), 0);
    assert_int_equal(o.vga_vram, 1u << 20);
    assert_int_equal(PARSE(&o, err, "--display", "vga,vram=256"), 0);
    assert_int_equal(o.vga_vram, 256u << 20);
    const char *bad_vram[] = {
        "vga,vram=0",   "vga,vram=3", "vga,vram=512", "vga,vram=", "vga,vram=8x",
        "vga,vram=-16", "vga,size=8", "vgax",         "vga,",      "virtio-gpu,vram=8"};
    for (unsigned i = 0; i < sizeof(bad_vram) / sizeof(bad_vram[0]); i++) {
        assert_int_equal(PARSE(&o, err, "--display", bad_vram[i]), -EINVAL);
    }
    assert_int_equal(PARSE(&o, err, "--display", "virtio-gpu", "--vnc", "127.0.0.1:5900"), 0);
    assert_string_equal(o.display, "virtio-gpu");
}

static void test_net(void **state)
{
    struct cli_options o;
    char err[256] = "";
    assert_int_equal(PARSE(&o, err, "--memory", "64M"), 0);
    assert_int_equal(o.nnet, 0);
    assert_int_equal(PARSE(&o, err, "--memory", "64M", "--net", "user", "--net",
                           "user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-:53", "--net",
                           "tap,ifname=tap0,mac=52:54:00:aa:bb:cc"),
                     0);
    assert_int_equal(o.nnet, 3);
    assert_int_equal(o.net[0].kind, CLI_NET_USER);
    assert_int_equal(o.net[0].nhostfwd, 0);
    assert_memory_equal(o.net[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
    assert_memory_equal(o.net[1].mac, "\x52\x54\x00\x12\x34\x57", 6); /* 56 + n */
    assert_int_equal(o.net[1].nhostfwd, 2);
    assert_false(o.net[1].hostfwd[0].udp);
    assert_int_equal(o.net[1].hostfwd[0].host_port, 2222);
    assert_int_equal(o.net[1].hostfwd[0].guest_port, 22);
    assert_true(o.net[1].hostfwd[1].udp);
    assert_int_equal(o.net[1].hostfwd[1].host_port, 5353);
    assert_int_equal(o.net[2].kind, CLI_NET_TAP);
    assert_string_equal(o.net[2].ifname, "tap0");
    assert_memory_equal(o.net[2].mac, "\x52\x54\x00\xaa\xbb\xcc", 6);
    assert_int_equal(PARSE(&o, err, "--net", "tap"), 0);
    assert_string_equal(o.net[0].ifname, "");
}

static void test_net_errors(void **state)
{
    struct cli_options o;
    char err[256] = "";
    assert_int_equal(PARSE(&o, err, "--net", "bridge"), -EINVAL);
    assert_non_null(strstr(err, "expected user or tap"));
    assert_int_equal(PARSE(&o, err, "--net", "usertap"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--net", "user,ifname=tap0"), -EINVAL);
    assert_non_null(strstr(err, "unknown option 'ifname'"));
    assert_non_null(strstr(err, "hostfwd="));
    assert_int_equal(PARSE(&o, err, "--net", "tap,hostfwd=tcp::1-:2"), -EINVAL);
    assert_non_null(strstr(err, "unknown option 'hostfwd'"));
    assert_int_equal(PARSE(&o, err, "--net", "user,hostfwd=tcp::22"), -EINVAL);
    assert_non_null(strstr(err, "hostfwd=tcp::22"));
    assert_int_equal(PARSE(&o, err, "--net", "user,hostfwd=tcp::2222-:22,hostfwd=tcp::2222-:23"),
                     -EINVAL);
    assert_non_null(strstr(err, "2222 forwarded twice"));
    assert_int_equal(PARSE(&o, err, "--net", "user,mac=01:00:5e:00:00:01"), -EINVAL);
    assert_non_null(strstr(err, "unicast"));
    assert_int_equal(PARSE(&o, err, "--net", "user,mac=52:54:00:00:00:01,mac=52:54:00:00:00:02"),
                     -EINVAL);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(PARSE(&o, err, "--net", "user,mac"), -EINVAL);
    assert_non_null(strstr(err, "KEY=VALUE"));
    assert_int_equal(PARSE(&o, err, "--net", "user,"), -EINVAL);
    assert_int_equal(PARSE(&o, err, "--net", "tap,ifname=a-name-much-too-long"), -EINVAL);
    assert_non_null(strstr(err, "ifname"));
    /* Two cards with one MAC. */
    assert_int_equal(PARSE(&o, err, "--net", "user,mac=52:54:00:12:34:57", "--net", "user"),
                     -EINVAL);
    assert_non_null(strstr(err, "same MAC"));
    assert_int_equal(PARSE(&o, err, "--net", "user", "--net", "user", "--net", "user", "--net",
                           "user", "--net", "user", "--net", "user", "--net", "user", "--net",
                           "user", "--net", "user"),
                     -EINVAL);
    assert_non_null(strstr(err, "at most 8"));
}

static void test_disk(void **state)
{
    struct cli_options o;
    char err[256] = "";
    assert_int_equal(PARSE(&o, err, "--disk", "file=a.img"), 0);
    assert_int_equal(o.ndisks, 1);
    assert_string_equal(o.disks[0].file, "a.img");
    assert_int_equal(o.disks[0].format, BLOCK_FORMAT_AUTO);
    assert_false(o.disks[0].readonly);
    assert_int_equal(o.disks[0].cache, BLOCK_CACHE_WRITEBACK);
    assert_int_equal(o.disks[0].queues, 1);
    cli_options_free(&o);
    assert_int_equal(o.ndisks, 0);

    /* Repeatable, keys in any order, ",," is a comma inside the path. */
    assert_int_equal(PARSE(&o, err, "--disk", "format=qcow2,file=/x/b,,c.qcow2,readonly=on",
                           "--disk", "file=r.raw,cache=none,queues=4,format=raw,readonly=off",
                           "--disk", "file=w,cache=writethrough"),
                     0);
    assert_int_equal(o.ndisks, 3);
    assert_string_equal(o.disks[0].file, "/x/b,c.qcow2");
    assert_int_equal(o.disks[0].format, BLOCK_FORMAT_QCOW2);
    assert_true(o.disks[0].readonly);
    assert_string_equal(o.disks[1].file, "r.raw");
    assert_int_equal(o.disks[1].format, BLOCK_FORMAT_RAW);
    assert_int_equal(o.disks[1].cache, BLOCK_CACHE_NONE);
    assert_int_equal(o.disks[1].queues, 4);
    assert_false(o.disks[1].readonly);
    assert_int_equal(o.disks[2].cache, BLOCK_CACHE_WRITETHROUGH);
    cli_options_free(&o);
}

static void test_disk_errors(void **state)
{
    struct cli_options o;
    char err[256];
    static const struct {
        const char *arg, *needle;
    } bad[] = {
        {"x.img", "not KEY=VALUE"},
        {"", "file=PATH is missing"},
        {"format=raw", "file=PATH is missing"},
        {"file=", "empty"},
        {"file=a,format=vmdk", "format=vmdk"},
        {"file=a,readonly=maybe", "readonly=maybe"},
        {"file=a,cache=unsafe", "cache=unsafe"},
        {"file=a,queues=0", "1 to 16"},
        {"file=a,queues=17", "1 to 16"},
        {"file=a,queues=2x", "queues=2x"},
        {"file=a,queues=", "queues="},
        {"file=a,file=b", "file given twice"},
        {"file=a,size=1G", "unknown key 'size'"},
        {"file=a,cache=none,format=qcow2", "raw images only"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(PARSE(&o, err, "--disk", bad[i].arg), -EINVAL);
        if (strstr(err, bad[i].needle) == NULL) {
            fail_msg("--disk %s: error '%s' lacks '%s'", bad[i].arg, err, bad[i].needle);
        }
        assert_int_equal(o.ndisks, 0);
    }
    /* ",," at the end is a comma in the path, not an empty item. */
    assert_int_equal(PARSE(&o, err, "--disk", "file=a,,"), 0);
    assert_string_equal(o.disks[0].file, "a,");
    cli_options_free(&o);

    /* A good disk followed by a bad option: nothing is kept (and nothing leaks under ASan). */
    assert_int_equal(PARSE(&o, err, "--disk", "file=a", "--cpus", "0"), -EINVAL);
    assert_int_equal(o.ndisks, 0);
    assert_int_equal(PARSE(&o, err, "--disk"), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));

    /* At most CLI_MAX_DISKS. */
    char *argv[2 * CLI_MAX_DISKS + 4];
    int argc = 0;
    argv[argc++] = (char *)"deskvm-vm";
    for (int i = 0; i <= CLI_MAX_DISKS; i++) {
        argv[argc++] = (char *)"--disk";
        argv[argc++] = (char *)"file=d";
    }
    argv[argc] = NULL;
    assert_int_equal(cli_parse(&o, argc, argv, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most 16"));
    assert_int_equal(cli_parse(&o, argc - 2, argv, err, sizeof(err)), 0);
    assert_int_equal(o.ndisks, CLI_MAX_DISKS);
    cli_options_free(&o);
}

static void test_sata_cdrom_boot(void **state)
{
    struct cli_options o;
    char err[256] = "";
    assert_int_equal(PARSE(&o, err, "--disk", "file=a.img,bus=sata", "--disk",
                           "file=b.img,bus=virtio", "--cdrom", "x.iso", "--firmware", "bios",
                           "--boot", "cdrom,disk"),
                     0);
    assert_true(o.disks[0].sata);
    assert_false(o.disks[1].sata);
    assert_string_equal(o.cdrom, "x.iso");
    assert_int_equal(o.nboot, 2);
    assert_int_equal(o.boot[0], CLI_BOOT_CDROM);
    assert_int_equal(o.boot[1], CLI_BOOT_DISK);
    cli_options_free(&o);

    static const struct {
        const char *a[6];
        const char *needle;
    } bad[] = {
        {{"--disk", "file=a,bus=scsi"}, "bus=scsi"},
        {{"--cdrom", "a.iso", "--cdrom", "b.iso"}, "given twice"},
        {{"--cdrom", "a.iso", "--boot", "cdrom"}, "needs --firmware"},
        {{"--firmware", "bios", "--boot", "cdrom"}, "needs --cdrom"},
        {{"--firmware", "bios", "--boot", "disk"}, "needs a --disk"},
        {{"--firmware", "bios", "--cdrom", "a", "--boot", "floppy"}, "cdrom and disk"},
        {{"--firmware", "bios", "--cdrom", "a", "--boot", "cdrom,cdrom"}, "given twice"},
        {{"--firmware", "bios", "--cdrom", "a", "--boot", ""}, "empty"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[8] = {(char *)"deskvm-vm"};
        int argc = 1;
        while (argc - 1 < 6 && bad[i].a[argc - 1]) {
            argv[argc] = (char *)bad[i].a[argc - 1];
            argc++;
        }
        err[0] = '\0';
        assert_int_equal(cli_parse(&o, argc, argv, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].needle)) {
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].needle);
        }
        cli_options_free(&o);
    }
}

static void test_restore(void **state)
{
    struct cli_options o;
    char err[256];
    assert_int_equal(PARSE(&o, err, "--restore", "vm.dvs", "-S"), 0);
    assert_string_equal(o.restore, "vm.dvs");
    assert_true(o.start_paused);
    assert_false(o.no_async_teardown); /* the helper is the default */
    cli_options_free(&o);
    assert_int_equal(PARSE(&o, err, "--restore", "vm.dvs", "--no-async-teardown"), 0);
    assert_true(o.no_async_teardown);
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
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_net),
        cmocka_unit_test(test_net_errors),
        cmocka_unit_test(test_disk),
        cmocka_unit_test(test_disk_errors),
        cmocka_unit_test(test_display_and_vnc),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_sata_cdrom_boot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
