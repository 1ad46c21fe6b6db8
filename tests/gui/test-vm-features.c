// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The front end's later features without a display: re-attaching to engines that outlived the
 * app (docs/gui.md "Running VMs outlive the app"), with the real deskvm-vm demo guest when
 * /dev/kvm is usable; the snapshot page's tree model from query-snapshots answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gui/dv-error.h"
#include "gui/library.h"
#include "gui/new-vm.h"
#include "gui/perf.h"
#include "gui/snapshot-stopped.h"
#include "gui/snapshot-tree.h"
#include "gui/vm-settings.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Whether PROGRAM is on PATH. */
static bool have_program(const char *program)
{
    g_autofree char *path = g_find_program_in_path(program);
    return path != NULL;
}

static char *tmp_root;

static char *lib_root(const char *name)
{
    return g_build_filename(tmp_root, "data", "deskvm", name, NULL);
}

static gboolean wait_state(DvVm *vm, DvVmState want, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (dv_vm_get_state(vm) != want && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return dv_vm_get_state(vm) == want;
}

/* Run the main loop until the VM's serial scrollback holds @text. */
static gboolean wait_serial(DvVm *vm, const char *text, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    for (;;) {
        g_autoptr(GBytes) b = dv_engine_get_serial_scrollback(dv_vm_get_engine(vm));
        gsize n;
        const void *p = g_bytes_get_data(b, &n); /* NULL while nothing came yet */
        if (p != NULL && memmem(p, n, text, strlen(text)) != NULL) {
            return TRUE;
        }
        if (g_get_monotonic_time() >= end) {
            return FALSE;
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

/* How often @text occurs in @path. */
static guint count_in_file(const char *path, const char *text)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    guint n = 0;
    if (g_file_get_contents(path, &data, &len, NULL)) {
        for (const char *p = data; (p = memmem(p, len - (gsize)(p - data), text, strlen(text)));
             p++) {
            n++;
        }
    }
    return n;
}

/* Run the main loop until an asynchronous callback has stored a result in *slot. */
static void wait_set(gpointer *slot, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (*slot == NULL && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    assert_non_null(*slot);
}

static gboolean kvm_usable(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return FALSE;
    }
    close(fd);
    return g_getenv("DESKVM_VM") != NULL;
}

/* A /proc/PID/cmdline is deskvm-vm's only with that binary name and that QMP socket. */
static void test_cmdline_matches(void **state)
{
    static const char good[] = "/usr/bin/deskvm-vm\0--memory\0064M\0--qmp\0unix:/run/u/a.qmp\0";
    static const char eq[] = "deskvm-vm\0--qmp=unix:/run/u/a.qmp\0";
    static const char other_sock[] = "/usr/bin/deskvm-vm\0--qmp\0unix:/run/u/b.qmp\0";
    static const char other_bin[] = "/usr/bin/qemu-system-x86_64\0--qmp\0unix:/run/u/a.qmp\0";
    static const char as_value[] = "/usr/bin/deskvm-vm\0--append\0unix:/run/u/a.qmp\0";
    static const char unterminated[] = {'d', 'e', 's', 'k', 'v', 'm', '-', 'v', 'm'};
    const char *qmp = "/run/u/a.qmp";
    assert_true(dv_engine_cmdline_matches(good, sizeof(good) - 1, qmp));
    assert_true(dv_engine_cmdline_matches(eq, sizeof(eq) - 1, qmp));
    assert_false(dv_engine_cmdline_matches(other_sock, sizeof(other_sock) - 1, qmp));
    assert_false(dv_engine_cmdline_matches(other_bin, sizeof(other_bin) - 1, qmp));
    assert_false(dv_engine_cmdline_matches(as_value, sizeof(as_value) - 1, qmp));
    assert_false(dv_engine_cmdline_matches(unterminated, sizeof(unterminated), qmp));
    assert_false(dv_engine_cmdline_matches("", 0, qmp));
}

/* COM1's socket on an engine's command line: the last --serial, only when it is unix:. */
static void test_cmdline_serial_socket(void **state)
{
    static const char sock[] = "deskvm-vm\0--qmp\0unix:/q\0--serial\0unix:/run/u/a.serial\0";
    static const char eq[] = "deskvm-vm\0--serial=unix:/run/u/b.serial\0";
    static const char pty[] = "deskvm-vm\0--qmp\0unix:/q\0--serial\0stdio\0";
    static const char last[] = "deskvm-vm\0--serial\0unix:/a\0--serial\0null\0";
    static const char none[] = "deskvm-vm\0--qmp\0unix:/q\0";
    static const char empty[] = "deskvm-vm\0--serial\0unix:\0";
    g_autofree char *a = dv_engine_cmdline_serial_socket(sock, sizeof(sock) - 1);
    assert_string_equal(a, "/run/u/a.serial");
    g_autofree char *b = dv_engine_cmdline_serial_socket(eq, sizeof(eq) - 1);
    assert_string_equal(b, "/run/u/b.serial");
    assert_null(dv_engine_cmdline_serial_socket(pty, sizeof(pty) - 1));
    assert_null(dv_engine_cmdline_serial_socket(last, sizeof(last) - 1));
    assert_null(dv_engine_cmdline_serial_socket(none, sizeof(none) - 1));
    assert_null(dv_engine_cmdline_serial_socket(empty, sizeof(empty) - 1));
    assert_null(dv_engine_cmdline_serial_socket(sock, sizeof(sock) - 2)); /* unterminated */
}

static gsize overlap(const char *seen, const char *replay)
{
    return dv_engine_replay_overlap((const guint8 *)seen, strlen(seen), (const guint8 *)replay,
                                    strlen(replay));
}

/* The part of a replayed history the console already showed: the longest start of the replay
 * that ends what was seen. */
static void test_replay_overlap(void **state)
{
    assert_int_equal(overlap("banner\r\n12:00", "banner\r\n12:00\r12:01"), 13);
    assert_int_equal(overlap("old stuff banner", "banner and more"), 6);
    assert_int_equal(overlap("abc", "xyz"), 0);
    assert_int_equal(overlap("", "xyz"), 0);
    assert_int_equal(overlap("abc", ""), 0);
    /* Repetitive output: the longest match wins, not the first. */
    assert_int_equal(overlap("\r01\r01\r01", "\r01\r01\r01\r02"), 9);
    assert_int_equal(overlap("aaaa", "aaaaaa"), 4);
    assert_int_equal(overlap("xaaaa", "aab"), 2);
    /* Only a start of the replay counts, not a match inside it. */
    assert_int_equal(overlap("hello", "ohello"), 1);
    /* A replay shorter than what was seen, wholly at its end. */
    assert_int_equal(overlap("0123456789", "789"), 3);
    assert_int_equal(overlap("0123456789", "678"), 0);
}

static DvVm *make_demo(DvLibrary *lib, const char *name)
{
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup(name);
    cfg->demo = true;
    cfg->memory_mib = 64;
    DvVm *vm = dv_library_create(lib, cfg, NULL);
    dv_vm_config_free(cfg);
    assert_non_null(vm);
    return vm;
}

static char *pid_file(DvVm *vm)
{
    g_autofree char *file = g_strdup_printf("%s.pid", dv_vm_get_config(vm)->uuid);
    return g_build_filename(g_get_user_runtime_dir(), "deskvm", file, NULL);
}

/* A pid file naming a process that is not this VM's engine is stale: not adopted, removed. */
static void test_adopt_stale(void **state)
{
    g_autofree char *root = lib_root("stale");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    DvVm *vm = make_demo(lib, "stale");
    g_autofree char *pidfile = pid_file(vm);
    g_autofree char *rdir = g_path_get_dirname(pidfile);
    g_mkdir_with_parents(rdir, 0700);
    static const char *const bad[] = {"", "garbage\n", "-5\n", "99999999999\n", NULL};
    for (const char *const *b = bad; *b != NULL; b++) {
        assert_true(g_file_set_contents(pidfile, *b, -1, NULL));
        assert_false(dv_vm_adopt(vm));
        assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
    }
    /* A live process, but this test is not deskvm-vm. */
    g_autofree char *self_pid = g_strdup_printf("%d\n", (int)getpid());
    assert_true(g_file_set_contents(pidfile, self_pid, -1, NULL));
    assert_false(dv_vm_adopt(vm));
    assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STOPPED);
    assert_null(dv_vm_get_engine(vm));
    /* No pid file at all: nothing to adopt. */
    assert_int_equal(dv_library_adopt_running(lib), 0);
}

/* The app ends while a VM runs (its objects go, the engine is detached as at quit, or simply
 * left behind as after SIGKILL): the next library adopts the engine, sees it running, reaches
 * it over QMP and its serial console (the scrollback and serial.log go on where they were,
 * nothing repeated) and can force it off; the pid file goes with the engine. */
static void test_adopt_real_engine(void **state)
{
    if (!kvm_usable()) {
        skip();
    }
    g_autofree char *root = lib_root("adopt");
    g_autofree char *pidfile = NULL;
    GPid pid;
    {
        g_autoptr(DvLibrary) first = dv_library_new(root);
        assert_true(dv_library_load(first, NULL));
        DvVm *vm = make_demo(first, "outlives");
        pidfile = pid_file(vm);
        g_autoptr(GError) e = NULL;
        assert_true(dv_vm_start(vm, &e));
        assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
        pid = dv_engine_get_pid(dv_vm_get_engine(vm));
        assert_true(pid > 0);
        assert_true(g_file_test(pidfile, G_FILE_TEST_EXISTS));
        assert_true(wait_serial(vm, "deskvm demo guest", 20000));
        dv_engine_serial_write(dv_vm_get_engine(vm), "abc", 3);
        assert_true(wait_serial(vm, "abc", 10000));
        dv_library_detach_all(first);
    }                                  /* the first "app" is gone */
    assert_int_equal(kill(pid, 0), 0); /* the engine runs on */

    g_autoptr(DvLibrary) second = dv_library_new(root);
    assert_true(dv_library_load(second, NULL));
    assert_int_equal(dv_library_adopt_running(second), 1);
    DvVm *vm = dv_library_lookup(second, "outlives");
    assert_non_null(vm);
    assert_true(dv_engine_is_adopted(dv_vm_get_engine(vm)));
    assert_int_equal(dv_engine_get_pid(dv_vm_get_engine(vm)), pid);
    assert_non_null(dv_vm_get_display_path(vm));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    /* The console shows the earlier output at once and works both ways again. */
    assert_true(wait_serial(vm, "abc", 0));
    dv_engine_serial_write(dv_vm_get_engine(vm), "xyz", 3);
    assert_true(wait_serial(vm, "xyz", 10000));
    g_autofree char *transcript = g_build_filename(dv_vm_get_dir(vm), "serial.log", NULL);
    assert_int_equal(count_in_file(transcript, "deskvm demo guest"), 1);
    assert_int_equal(count_in_file(transcript, "abc"), 1);
    assert_int_equal(count_in_file(transcript, "xyz"), 1);
    /* Commands reach it: pause and resume over the new QMP connection. */
    assert_true(dv_vm_pause(vm, NULL));
    assert_true(wait_state(vm, DV_VM_PAUSED, 10000));
    assert_true(dv_vm_resume(vm, NULL));
    assert_true(wait_state(vm, DV_VM_RUNNING, 10000));
    /* Adopting twice does nothing. */
    assert_int_equal(dv_library_adopt_running(second), 0);
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
    assert_null(dv_vm_get_error(vm));
    assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
}

/* Start @name in a library that then goes away detached; adopt it in @next. */
static DvVm *start_and_readopt(const char *root, const char *name, DvLibrary *next)
{
    {
        g_autoptr(DvLibrary) first = dv_library_new(root);
        assert_true(dv_library_load(first, NULL));
        DvVm *vm = dv_library_lookup(first, name);
        if (vm == NULL) {
            vm = make_demo(first, name);
        }
        assert_true(dv_vm_start(vm, NULL));
        assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
        dv_library_detach_all(first);
    }
    assert_true(dv_library_load(next, NULL));
    assert_int_equal(dv_library_adopt_running(next), 1);
    DvVm *vm = dv_library_lookup(next, name);
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    return vm;
}

/* How an adopted engine's end is told without its exit status: announced by SHUTDOWN (QMP
 * quit) it is a clean stop; killed from outside it is a crash, with the log. */
static void test_adopt_end(void **state)
{
    if (!kvm_usable()) {
        skip();
    }
    g_autofree char *root = lib_root("adopt-end");
    g_autoptr(DvLibrary) second = dv_library_new(root);
    DvVm *vm = start_and_readopt(root, "quits", second);
    dv_engine_command(dv_vm_get_engine(vm), "quit");
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
    assert_null(dv_vm_get_error(vm));

    g_autoptr(DvLibrary) third = dv_library_new(root);
    vm = start_and_readopt(root, "quits", third);
    assert_int_equal(kill(dv_engine_get_pid(dv_vm_get_engine(vm)), SIGKILL), 0);
    assert_true(wait_state(vm, DV_VM_CRASHED, 10000));
    assert_non_null(dv_vm_get_error(vm));
    assert_non_null(strstr(dv_vm_get_error(vm)->message, "exit status is unknown"));
}

/* Without detach (a test, a failed start), dropping the VM kills its engine. */
static void test_no_detach_kills(void **state)
{
    if (!kvm_usable()) {
        skip();
    }
    g_autofree char *root = lib_root("nodetach");
    GPid pid;
    {
        g_autoptr(DvLibrary) lib = dv_library_new(root);
        assert_true(dv_library_load(lib, NULL));
        DvVm *vm = make_demo(lib, "dies-with-app");
        assert_true(dv_vm_start(vm, NULL));
        assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
        pid = dv_engine_get_pid(dv_vm_get_engine(vm));
    }
    /* SIGKILL was sent: the process is gone or a zombie waiting for GLib's child watch. */
    g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", (int)pid);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    gboolean dead = FALSE;
    while (!dead && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_autofree char *stat = NULL;
        const char *paren = NULL;
        dead = !g_file_get_contents(stat_path, &stat, NULL, NULL) ||
               ((paren = strrchr(stat, ')')) != NULL && paren[1] == ' ' && paren[2] == 'Z');
        g_usleep(10000);
    }
    assert_true(dead);
}

static char *make_file(const char *name, gsize size)
{
    char *path = g_build_filename(tmp_root, name, NULL);
    g_autofree char *zeros = g_malloc0(size);
    g_assert_true(g_file_set_contents(path, zeros, (gssize)size, NULL));
    return path;
}

static void expect_invalid(const struct dv_vm_config *cfg, const char *want_field)
{
    const char *field = NULL;
    g_autoptr(GError) e = NULL;
    assert_false(dv_vm_settings_validate(cfg, 4096, &field, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_INVALID));
    assert_string_equal(field, want_field);
}

/* Each field's rule, the one field at fault named. */
static void test_settings_validate(void **state)
{
    g_autofree char *disk = make_file("v-disk.img", 1 << 20);
    g_autofree char *iso = make_file("v.iso", 4096);
    g_autofree char *tiny = make_file("tiny.iso", 100);
    struct dv_vm_config *base = dv_vm_config_new();
    base->name = g_strdup("v");
    base->memory_mib = 512;
    base->vcpus = 2;
    base->firmware = g_strdup("bios");
    base->cdrom = g_strdup(iso);
    base->boot = g_strdup("cdrom,disk");
    dv_vm_config_add_disk(base, disk, "raw", false)->bus = g_strdup("sata");
    dv_vm_config_add_net(base, "tap", "tap0", "52:54:00:00:00:01");
    base->vnc = true;
    assert_true(dv_vm_settings_validate(base, 4096, NULL, NULL));

    struct dv_vm_config *c;
#define CASE(field, stmt)                                                                          \
    do {                                                                                           \
        c = dv_vm_config_copy(base);                                                               \
        stmt;                                                                                      \
        expect_invalid(c, field);                                                                  \
        dv_vm_config_free(c);                                                                      \
    } while (0)
    CASE("memory", c->memory_mib = 8);
    CASE("memory", c->memory_mib = 8192); /* more than the (given) host RAM */
    CASE("vcpus", c->vcpus = 0);
    CASE("vcpus", c->vcpus = DV_VCPUS_MAX + 1);
    CASE("display", g_free(c->display); c->display = g_strdup("cirrus"));
    CASE("disk", dv_vm_config_add_disk(c, "/nonexistent/x.img", NULL, false));
    CASE("disk", dv_vm_config_add_disk(c, "relative.img", NULL, false));
    CASE("disk", dv_vm_config_add_disk(c, disk, NULL, false)); /* twice */
    CASE("disk", g_free(((struct dv_disk *)g_ptr_array_index(c->disks, 0))->format);
         ((struct dv_disk *)g_ptr_array_index(c->disks, 0))->format = g_strdup("vmdk"));
    CASE("disk", g_free(((struct dv_disk *)g_ptr_array_index(c->disks, 0))->bus);
         ((struct dv_disk *)g_ptr_array_index(c->disks, 0))->bus = g_strdup("ide"));
    CASE("cdrom", g_free(c->cdrom); c->cdrom = g_strdup("/nonexistent.iso"));
    CASE("cdrom", g_free(c->cdrom); c->cdrom = g_strdup(tiny));
    CASE("boot", g_clear_pointer(&c->cdrom, g_free)); /* boot order names the CD-ROM */
    CASE("boot", g_ptr_array_set_size(c->disks, 0));  /* ... and a disk */
    CASE("boot", g_free(c->boot); c->boot = g_strdup("disk,disk"));
    CASE("boot", g_free(c->boot); c->boot = g_strdup("floppy"));
    CASE("boot", g_clear_pointer(&c->firmware, g_free));
    CASE("net", dv_vm_config_add_net(c, "bridge", NULL, NULL));
    CASE("net", dv_vm_config_add_net(c, "tap", "a-name-far-too-long", NULL));
    CASE("net", dv_vm_config_add_net(c, "tap", "../x", NULL));
    CASE("net", dv_vm_config_add_net(c, "user", NULL, "01:00:5e:00:00:01")); /* multicast */
    CASE("net", dv_vm_config_add_net(c, "user", NULL, "52:54:00:00:00:1"));
    CASE("net", dv_vm_config_add_net(c, "user", NULL, "52:54:00:00:00:01")); /* same MAC */
    CASE("vnc-listen", c->vnc_listen = g_strdup("::1"));
    CASE("vnc-listen", c->vnc_listen = g_strdup("localhost"));
    CASE("vnc-port", c->vnc_port = 70000);
    CASE("vnc-password", c->vnc_password = g_strdup("123456789"));
    CASE("vnc-password", c->vnc_listen = g_strdup("0.0.0.0"));
#undef CASE
    /* Beyond loopback with a password is fine; VNC off ignores its fields. */
    c = dv_vm_config_copy(base);
    c->vnc_listen = g_strdup("0.0.0.0");
    c->vnc_password = g_strdup("secret");
    assert_true(dv_vm_settings_validate(c, 4096, NULL, NULL));
    c->vnc = false;
    c->vnc_port = 99999;
    assert_true(dv_vm_settings_validate(c, 4096, NULL, NULL));
    dv_vm_config_free(c);
    dv_vm_config_free(base);
}

/* Saved settings reach domain.xml (through libvirt-gconfig, read back by the same parser) and
 * the engine's command line; the old file is kept as .bak. */
static void test_settings_save(void **state)
{
    g_autofree char *root = lib_root("settings");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    DvVm *vm = make_demo(lib, "edited");
    g_autofree char *disk = g_build_filename(tmp_root, "edited.qcow2", NULL);
    g_autofree char *iso = make_file("edited.iso", 8192);
    gboolean have_qemu_img = have_program("qemu-img");
    const char *fmt = have_qemu_img ? "qcow2" : "raw";
    assert_true(dv_disk_image_create(disk, fmt, 64 << 20, NULL));
    assert_string_equal(dv_disk_image_probe(disk, NULL), fmt);
    assert_int_equal(dv_disk_image_size(disk, NULL), 64 << 20);
    g_autoptr(GError) e = NULL;
    assert_false(dv_disk_image_create(disk, fmt, 64 << 20, &e)); /* exists */
    g_clear_error(&e);
    assert_true(dv_disk_image_resize(disk, 128 << 20, NULL));
    assert_int_equal(dv_disk_image_size(disk, NULL), 128 << 20);
    assert_false(dv_disk_image_resize(disk, 32 << 20, &e)); /* never shrinks */
    assert_non_null(strstr(e->message, "not shrink"));
    g_clear_error(&e);
    assert_int_equal(dv_disk_image_size(disk, NULL), 128 << 20);

    struct dv_vm_config *c = dv_vm_config_copy(dv_vm_get_config(vm));
    c->memory_mib = 96;
    c->vcpus = 3;
    c->display = g_strdup("virtio-gpu");
    dv_vm_config_add_disk(c, disk, fmt, false)->bus = g_strdup("sata");
    c->cdrom = g_strdup(iso);
    dv_vm_config_add_net(c, "tap", "tap7", "52:54:00:00:00:07");
    dv_vm_config_add_net(c, "user", NULL, NULL);
    c->vnc = true;
    c->vnc_listen = g_strdup("127.0.0.2");
    c->vnc_port = 5907;
    c->vnc_password = g_strdup("pw");
    assert_true(dv_vm_settings_save(vm, c, &e));
    dv_vm_config_free(c);
    g_autofree char *xml_path = dv_vm_get_xml_path(vm);
    g_autofree char *bak = g_strconcat(xml_path, ".bak", NULL);
    assert_true(g_file_test(bak, G_FILE_TEST_EXISTS));
    GStatBuf st;
    assert_int_equal(g_stat(xml_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* it holds the VNC password */
    g_autofree char *xml = NULL;
    assert_true(g_file_get_contents(xml_path, &xml, NULL, NULL));
    assert_non_null(strstr(xml, "<memory unit=\"KiB\">98304</memory>"));
    assert_non_null(strstr(xml, "type=\"ethernet\""));
    assert_non_null(strstr(xml, "<target dev=\"tap7\"/>"));
    assert_non_null(strstr(xml, "listen=\"127.0.0.2\""));
    assert_non_null(strstr(xml, "device=\"cdrom\""));

    /* A fresh load sees the same; the demo mark survived. */
    g_autoptr(DvVm) again = dv_vm_load(dv_vm_get_dir(vm));
    const struct dv_vm_config *r = dv_vm_get_config(again);
    assert_non_null(r);
    assert_true(r->demo);
    assert_int_equal(r->memory_mib, 96);
    assert_int_equal(r->vcpus, 3);
    assert_string_equal(dv_vm_config_display(r), "virtio-gpu");
    assert_string_equal(r->cdrom, iso);
    assert_int_equal(r->disks->len, 1);
    assert_string_equal(((struct dv_disk *)g_ptr_array_index(r->disks, 0))->bus, "sata");
    assert_int_equal(r->nets->len, 2);
    assert_string_equal(((struct dv_net *)g_ptr_array_index(r->nets, 0))->type, "tap");
    assert_string_equal(((struct dv_net *)g_ptr_array_index(r->nets, 0))->ifname, "tap7");
    assert_true(r->vnc);
    assert_int_equal(r->vnc_port, 5907);
    assert_string_equal(r->vnc_listen, "127.0.0.2");
    assert_string_equal(r->vnc_password, "pw");
    g_auto(GStrv) args = dv_vm_config_engine_args(r, "/q", "/s", NULL, NULL);
    g_autofree char *joined = g_strjoinv(" ", args);
    g_autofree char *want_disk = g_strdup_printf("--disk file=%s,format=%s,bus=sata", disk, fmt);
    assert_non_null(strstr(joined, want_disk));
    assert_non_null(strstr(joined, "--display virtio-gpu"));
    assert_non_null(strstr(joined, "--vnc 127.0.0.2:5907,password=on"));
    assert_null(strstr(joined, "pw")); /* the password goes over QMP, not argv */
    assert_non_null(strstr(joined, "--net tap,ifname=tap7,mac=52:54:00:00:00:07 --net user"));

    /* Invalid settings are not written. */
    c = dv_vm_config_copy(r);
    c->vcpus = 0;
    assert_false(dv_vm_settings_save(vm, c, &e));
    g_clear_error(&e);
    g_free(c->name);
    c->name = g_strdup("other");
    c->vcpus = 1;
    assert_false(dv_vm_settings_save(vm, c, &e)); /* not this VM */
    g_clear_error(&e);
    dv_vm_config_free(c);
    assert_int_equal(dv_vm_get_config(vm)->vcpus, 3);
}

static void medium_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    GError **out = data;
    if (!dv_vm_settings_change_cdrom_finish(DV_VM(src), res, out) && *out == NULL) {
        g_set_error(out, DV_ERROR, DV_ERROR_QMP, "failed without an error");
    }
    if (*out == NULL) {
        *out = g_error_new(DV_ERROR, 0, "ok"); /* done marker */
    }
}

static GError *change_cdrom(DvVm *vm, const char *iso)
{
    GError *result = NULL;
    dv_vm_settings_change_cdrom(vm, iso, FALSE, NULL, medium_cb, &result);
    wait_set((gpointer *)&result, 20000);
    return result;
}

/* While it runs: hardware changes are refused, the CD-ROM medium changes over QMP and is
 * recorded in domain.xml. */
static void test_settings_running(void **state)
{
    if (!kvm_usable()) {
        skip();
    }
    g_autofree char *root = lib_root("running");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    DvVm *vm = make_demo(lib, "cd");
    g_autofree char *iso1 = make_file("one.iso", 4096);
    g_autofree char *iso2 = make_file("two.iso", 8192);
    struct dv_vm_config *c = dv_vm_config_copy(dv_vm_get_config(vm));
    c->cdrom = g_strdup(iso1);
    assert_true(dv_vm_settings_save(vm, c, NULL));
    assert_true(dv_vm_start(vm, NULL));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    g_autoptr(GError) e = NULL;
    c->vcpus = 2;
    assert_false(dv_vm_settings_save(vm, c, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_BUSY));
    g_clear_error(&e);
    dv_vm_config_free(c);

    e = change_cdrom(vm, iso2);
    assert_string_equal(e->message, "ok");
    g_clear_error(&e);
    assert_string_equal(dv_vm_get_config(vm)->cdrom, iso2);
    e = change_cdrom(vm, "/nonexistent.iso"); /* refused before QMP */
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_INVALID));
    g_clear_error(&e);
    e = change_cdrom(vm, NULL); /* eject */
    assert_string_equal(e->message, "ok");
    g_clear_error(&e);
    assert_null(dv_vm_get_config(vm)->cdrom);
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
    e = change_cdrom(vm, iso1); /* stopped: that is the settings' job */
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_BUSY));
}

static void expect_new_vm_invalid(const struct dv_new_vm *m, DvLibrary *lib, const char *want)
{
    const char *field = NULL;
    g_autoptr(GError) e = NULL;
    assert_false(dv_new_vm_validate(m, lib, &field, &e));
    assert_non_null(e);
    assert_string_equal(field, want);
}

static char *args_of(DvVm *vm)
{
    g_auto(GStrv) args = dv_vm_config_engine_args(dv_vm_get_config(vm), "/q", "/s", NULL, NULL);
    return g_strjoinv(" ", args);
}

/* The assistant's ISO install: validation, then a VM that SeaBIOS boots from the CD-ROM and
 * then from its new qcow2 disk on SATA. */
static void test_new_vm_iso(void **state)
{
    g_autofree char *root = lib_root("assistant");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    struct dv_new_vm m;
    dv_new_vm_init_defaults(&m, lib);
    assert_true(m.disk_gib >= 1 && m.disk_gib <= 20);
    assert_string_equal(dv_new_vm_method(&m), "demo");
    g_autofree char *iso = make_file("install.iso", 4 * 2048);
    g_autofree char *odd = make_file("odd.iso", 3000);
    m.iso = g_strdup("");
    assert_string_equal(dv_new_vm_method(&m), "iso");
    expect_new_vm_invalid(&m, lib, "iso");
    g_free(m.iso);
    m.iso = g_strdup("/nonexistent/x.iso");
    expect_new_vm_invalid(&m, lib, "iso");
    g_free(m.iso);
    m.iso = g_strdup("install.iso"); /* relative */
    expect_new_vm_invalid(&m, lib, "iso");
    g_free(m.iso);
    m.iso = g_strdup(odd);
    expect_new_vm_invalid(&m, lib, "iso");
    g_free(m.iso);
    m.iso = g_strdup(iso);
    m.disk_gib = 0;
    expect_new_vm_invalid(&m, lib, "disk");
    m.disk_gib = 2;
    if (!have_program("qemu-img")) {
        dv_new_vm_clear(&m);
        skip();
    }
    const char *field = NULL;
    g_autoptr(GError) e = NULL;
    DvVm *vm = dv_new_vm_create(&m, lib, &field, &e);
    assert_non_null(vm);
    const struct dv_vm_config *c = dv_vm_get_config(vm);
    assert_string_equal(c->firmware, "bios");
    assert_string_equal(c->cdrom, iso);
    assert_string_equal(c->boot, "cdrom,disk");
    assert_int_equal(c->disks->len, 1);
    const struct dv_disk *d = g_ptr_array_index(c->disks, 0);
    assert_int_equal(dv_disk_image_size(d->path, NULL), 2ull << 30);
    assert_string_equal(dv_disk_image_probe(d->path, NULL), "qcow2");
    g_autofree char *joined = args_of(vm);
    g_autofree char *want = g_strdup_printf("--firmware bios --boot cdrom,disk --cdrom %s ", iso);
    assert_non_null(strstr(joined, want));
    g_autofree char *want_disk = g_strdup_printf("--disk file=%s,format=qcow2,bus=sata", d->path);
    assert_non_null(strstr(joined, want_disk));
    assert_true(dv_vm_config_check_runnable(c, NULL));
    /* The name is now taken. */
    expect_new_vm_invalid(&m, lib, "name");

    /* A disk that cannot be made leaves no VM behind (no qemu-img on PATH). */
    g_free(m.name);
    m.name = g_strdup("nodisk");
    g_autofree char *old_path = g_strdup(g_getenv("PATH"));
    g_setenv("PATH", "/nonexistent", TRUE);
    g_clear_error(&e);
    assert_null(dv_new_vm_create(&m, lib, &field, &e));
    g_setenv("PATH", old_path, TRUE);
    assert_non_null(e);
    assert_string_equal(field, "disk");
    assert_null(dv_library_lookup(lib, "nodisk"));
    g_autofree char *gone = g_build_filename(root, "nodisk", NULL);
    assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));
    dv_new_vm_clear(&m);
}

/* An existing image: linked (qcow2 overlay; the image is not written), copied or used. */
static void test_new_vm_image(void **state)
{
    g_autofree char *root = lib_root("images");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    g_autofree char *img = make_file("base.img", 4 << 20);
    struct dv_new_vm m;
    dv_new_vm_init_defaults(&m, lib);
    m.image = g_strdup("/nonexistent.img");
    expect_new_vm_invalid(&m, lib, "image");
    g_free(m.image);
    m.image = g_strdup(img);
    static const struct {
        DvImageMode mode;
        const char *name, *format;
    } cases[] = {{DV_IMAGE_COPY, "copied", "raw"},
                 {DV_IMAGE_USE, "used", "raw"},
                 {DV_IMAGE_LINK, "linked", "qcow2"}};
    gboolean have_qemu_img = have_program("qemu-img");
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        if (cases[i].mode == DV_IMAGE_LINK && !have_qemu_img) {
            continue;
        }
        g_free(m.name);
        m.name = g_strdup(cases[i].name);
        m.image_mode = cases[i].mode;
        g_autoptr(GError) e = NULL;
        DvVm *vm = dv_new_vm_create(&m, lib, NULL, &e);
        assert_non_null(vm);
        const struct dv_vm_config *c = dv_vm_get_config(vm);
        assert_string_equal(c->firmware, "bios");
        assert_string_equal(c->boot, "disk");
        assert_null(c->cdrom);
        assert_int_equal(c->disks->len, 1);
        const struct dv_disk *d = g_ptr_array_index(c->disks, 0);
        assert_string_equal(d->format, cases[i].format);
        assert_string_equal(d->bus, "sata");
        assert_int_equal(dv_disk_image_size(d->path, NULL), 4 << 20);
        if (cases[i].mode == DV_IMAGE_USE) {
            assert_string_equal(d->path, img);
        } else {
            assert_true(g_str_has_prefix(d->path, dv_vm_get_dir(vm)));
        }
        assert_true(dv_vm_config_check_runnable(c, NULL));
    }
    dv_new_vm_clear(&m);
}

/* The /proc parsers: thread names with spaces and parentheses, malformed lines refused. */
static void test_perf_parsers(void **state)
{
    char comm[16];
    guint64 ticks = 0;
    static const char stat[] = "4242 (vcpu0) S 1 4242 4242 0 -1 4194368 100 0 0 0 250 31 0 0 20 "
                               "0 3 0 12345 1000000 500 18446744073709551615\n";
    assert_true(dv_perf_parse_task_stat(stat, comm, sizeof(comm), &ticks));
    assert_string_equal(comm, "vcpu0");
    assert_int_equal(ticks, 281);
    static const char odd[] = "7 (a) b (c) R 1 1 1 0 -1 0 0 0 0 0 9 1 0 0 20 0 1 0 1 1 1\n";
    assert_true(dv_perf_parse_task_stat(odd, comm, sizeof(comm), &ticks));
    assert_string_equal(comm, "a) b (c");
    assert_int_equal(ticks, 10);
    assert_false(dv_perf_parse_task_stat("4242 (vcpu0) S 1 2 3", comm, sizeof(comm), &ticks));
    assert_false(dv_perf_parse_task_stat("no parens", comm, sizeof(comm), &ticks));
    assert_false(dv_perf_parse_task_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 x9 1 0 0 20 0 1 0 1 1 1",
                                         comm, sizeof(comm), &ticks));
    guint64 rss = 0;
    assert_true(dv_perf_parse_statm("1000 250 30 1 0 500 0\n", 4096, &rss));
    assert_int_equal(rss, 250 * 4096);
    assert_false(dv_perf_parse_statm("1000", 4096, &rss));
    assert_false(dv_perf_parse_statm("1000 x 3", 4096, &rss));
    guint64 rd = 0, wr = 0;
    assert_true(dv_perf_parse_io("rchar: 5\nwchar: 6\nsyscr: 1\nread_bytes: 4096\n"
                                 "write_bytes: 8192\ncancelled_write_bytes: 0\n",
                                 &rd, &wr));
    assert_int_equal(rd, 4096);
    assert_int_equal(wr, 8192);
    assert_false(dv_perf_parse_io("rchar: 5\n", &rd, &wr));
    assert_false(dv_perf_parse_io("read_bytes: 1\nwrite_bytes: z\n", &rd, &wr));
}

/* Rates: CPU as a share of all vCPUs, counters that went back give 0, no network without two
 * netstats answers. */
static void test_perf_rates(void **state)
{
    struct dv_perf_sample a = {.time_us = 0,
                               .vcpu_ticks = 1000,
                               .nvcpus = 2,
                               .rss_bytes = 0,
                               .disk_read = 0,
                               .disk_write = 100,
                               .net_rx = 10,
                               .net_tx = 0,
                               .have_net = TRUE};
    struct dv_perf_sample b = {.time_us = 2 * G_USEC_PER_SEC,
                               .vcpu_ticks = 1200,
                               .nvcpus = 2,
                               .rss_bytes = 64 << 20,
                               .disk_read = 4096,
                               .disk_write = 50,
                               .net_rx = 2058,
                               .net_tx = 1000,
                               .have_net = TRUE};
    struct dv_perf_rates r;
    dv_perf_rates(&a, &b, 100, &r);
    /* 200 ticks in 2 s at 100 Hz = 1 CPU-second per second, of 2 vCPUs: 50 %. */
    assert_true(fabs(r.cpu_percent - 50.0) < 0.01);
    assert_true(fabs(r.rss_mib - 64.0) < 0.01);
    assert_true(fabs(r.disk_read_bps - 2048.0) < 0.01);
    assert_true(r.disk_write_bps == 0.0); /* went back */
    assert_true(fabs(r.net_rx_bps - 1024.0) < 0.01);
    assert_true(fabs(r.net_tx_bps - 500.0) < 0.01);
    a.have_net = FALSE;
    b.vcpu_ticks = 100000; /* more than the wall time allows: clamped */
    dv_perf_rates(&a, &b, 100, &r);
    assert_true(r.net_rx_bps == 0.0);
    assert_true(r.cpu_percent == 100.0);
    /* Disk bytes from /proc then from query-blockstats: no rate across the switch, then one. */
    b.disk_from_engine = TRUE;
    dv_perf_rates(&a, &b, 100, &r);
    assert_true(r.disk_read_bps == 0.0);
    a.disk_from_engine = TRUE;
    dv_perf_rates(&a, &b, 100, &r);
    assert_true(fabs(r.disk_read_bps - 2048.0) < 0.01);
}

static void qmp_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    JsonNode **out = data;
    *out = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, NULL);
    if (*out == NULL) {
        *out = json_node_new(JSON_NODE_NULL);
    }
}

static JsonNode *qmp_sync(DvVm *vm, const char *command)
{
    JsonNode *ret = NULL;
    dv_qmp_client_execute_async(dv_engine_get_qmp(dv_vm_get_engine(vm)), command, NULL, NULL,
                                qmp_cb, &ret);
    wait_set((gpointer *)&ret, 10000);
    return ret;
}

static void updated_cb(DvPerfMonitor *m, gpointer data)
{
    (*(int *)data)++;
}

/* The real engine: the monitor finds its vCPU thread, its memory, and its NIC's counters over
 * QMP query-netstats. */
static void test_perf_real_engine(void **state)
{
    if (!kvm_usable()) {
        skip();
    }
    g_autofree char *root = lib_root("perf");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    DvVm *vm = make_demo(lib, "measured");
    struct dv_vm_config *c = dv_vm_config_copy(dv_vm_get_config(vm));
    dv_vm_config_add_net(c, "user", NULL, NULL);
    assert_true(dv_vm_settings_save(vm, c, NULL));
    dv_vm_config_free(c);
    assert_true(dv_vm_start(vm, NULL));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    GPid pid = dv_engine_get_pid(dv_vm_get_engine(vm));
    /* query-netstats: one entry for the one NIC, its counters as integers. */
    g_autoptr(JsonNode) stats = qmp_sync(vm, "query-netstats");
    assert_true(JSON_NODE_HOLDS_ARRAY(stats));
    JsonArray *list = json_node_get_array(stats);
    assert_int_equal(json_array_get_length(list), 1);
    JsonObject *nic = json_array_get_object_element(list, 0);
    assert_int_equal(json_object_get_int_member(nic, "index"), 0);
    assert_true(json_object_has_member(nic, "rx-bytes") && json_object_has_member(nic, "tx-bytes"));
    assert_true(json_object_get_int_member(nic, "tx-bytes") >= 0);
    struct dv_perf_sample s;
    assert_true(dv_perf_read_proc(pid, &s, NULL));
    assert_int_equal(s.nvcpus, 1);
    assert_true(s.rss_bytes > 0);

    g_autoptr(DvPerfMonitor) mon = dv_perf_monitor_new(0); /* no timer: sampled by hand */
    int updates = 0;
    g_signal_connect(mon, "updated", G_CALLBACK(updated_cb), &updates);
    dv_perf_monitor_set_vm(mon, vm);
    guint n = 99;
    dv_perf_monitor_get_series(mon, DV_PERF_CPU, &n);
    assert_int_equal(n, 0); /* one sample is no rate yet */
    for (int i = 0; i < 3; i++) {
        gint64 end = g_get_monotonic_time() + 300 * 1000; /* let the netstats answer arrive */
        while (g_get_monotonic_time() < end) {
            g_main_context_iteration(NULL, FALSE);
            g_usleep(1000);
        }
        dv_perf_monitor_sample(mon);
    }
    const double *cpu = dv_perf_monitor_get_series(mon, DV_PERF_CPU, &n);
    assert_int_equal(n, 3);
    assert_true(updates >= 3);
    for (guint i = 0; i < n; i++) {
        assert_true(cpu[i] >= 0.0 && cpu[i] <= 100.0);
    }
    const double *mem = dv_perf_monitor_get_series(mon, DV_PERF_MEMORY, &n);
    assert_true(mem[n - 1] > 1.0);
    /* The guest sends nothing on its NIC: the rates are 0, the counters were read. */
    const double *tx = dv_perf_monitor_get_series(mon, DV_PERF_NET_TX, &n);
    assert_true(tx[n - 1] == 0.0);
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
    dv_perf_monitor_set_vm(mon, vm); /* stopped: the history is dropped */
    dv_perf_monitor_get_series(mon, DV_PERF_CPU, &n);
    assert_int_equal(n, 0);
}

/* A query-snapshots entry as the engine answers it. */
#define QS(id, parent, name, t, thumb)                                                             \
    "{\"id\": \"" id "\", \"parent\": " parent ", \"name\": \"" name "\", \"description\": "       \
    "\"d\", \"created\": " t ", \"checkpoint\": \"/v/snap-" id ".dvs\", \"disks\": [], "           \
    "\"thumbnail\": " thumb ", \"current\": false}"

static GPtrArray *parse(const char *json, const char *thumb_dir, GError **error)
{
    g_autoptr(JsonNode) n = json_from_string(json, NULL);
    assert_non_null(n);
    return dv_snapshot_parse_tree(n, thumb_dir, NULL, error);
}

/* Damaged answers are refused whole, with DV_ERROR_CORRUPT. */
static void test_snapshot_parse_tree(void **state)
{
    const char *bad[] = {
        "{}",
        "[1]",
        "[" QS("1", "null", "a", "1", "null") ", " QS("1", "null", "b", "2", "null") "]",
        "[" QS("2", "\"7\"", "a", "1", "null") "]",
        "[" QS("1", "\"2\"", "a", "1", "null") ", " QS("2", "\"1\"", "b", "2", "null") "]",
        "[" QS("1", "\"1\"", "a", "1", "null") "]",
        "[" QS("01", "null", "a", "1", "null") "]",
        "[" QS("../1", "null", "a", "1", "null") "]",
        "[" QS("1234567890", "null", "a", "1", "null") "]",
        "[" QS("1", "null", "", "1", "null") "]",
        "[" QS("1", "null", "a\\u0001", "1", "null") "]",
        "[" QS("1", "null", "a", "-1", "null") "]",
        "[" QS("1", "null", "a", "\"1\"", "null") "]",
        "[" QS("1", "null", "a", "1", "\"rel.png\"") "]", /* an answer's paths are absolute */
        "[" QS("1", "null", "a", "1", "7") "]",
        "[" QS("1", "5", "a", "1", "null") "]",
        "[{\"id\": \"1\", \"name\": \"a\", \"created\": 1, \"current\": \"yes\"}]",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *e = NULL;
        assert_null(parse(bad[i], NULL, &e));
        assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_CORRUPT));
        g_error_free(e);
    }
    /* In snapshots.json a thumbnail is a file name in the directory, never a path. */
    GError *e = NULL;
    assert_null(parse("[" QS("1", "null", "a", "1", "\"../x.png\"") "]", "/v", &e));
    g_clear_error(&e);
    g_autoptr(GPtrArray) ok = parse("[" QS("1", "null", "a", "1", "\"snap-1.png\"") "]", "/v", &e);
    assert_non_null(ok);
    assert_string_equal(dv_snapshot_get_thumbnail(g_ptr_array_index(ok, 0)), "/v/snap-1.png");
    /* Minimal entries (no parent, description, checkpoint, thumbnail, current) are fine. */
    g_autoptr(GPtrArray) min =
        parse("[{\"id\": \"3\", \"name\": \"m\", \"created\": 0}]", NULL, &e);
    assert_non_null(min);
    assert_null(dv_snapshot_get_thumbnail(g_ptr_array_index(min, 0)));
    assert_string_equal(dv_snapshot_get_description(g_ptr_array_index(min, 0)), "");
    g_autoptr(GPtrArray) empty = parse("[]", NULL, &e);
    assert_int_equal(empty->len, 0);

    /* A linear history 5000 deep (listed newest first) comes out oldest first, and fills a
     * GtkTreeStore that deep. */
    enum { DEEP = 5000 };
    GString *chain = g_string_new("[");
    for (int i = DEEP; i >= 1; i--) {
        g_autofree char *parent = i > 1 ? g_strdup_printf("\"%d\"", i - 1) : g_strdup("null");
        g_string_append_printf(chain,
                               "%s{\"id\": \"%d\", \"parent\": %s, \"name\": \"s%d\", "
                               "\"created\": %d}",
                               i < DEEP ? ", " : "", i, parent, i, i);
    }
    g_string_append(chain, "]");
    g_autofree char *chain_text = g_string_free(chain, FALSE);
    g_autoptr(GPtrArray) deep = parse(chain_text, NULL, &e);
    assert_non_null(deep);
    assert_int_equal(deep->len, DEEP);
    assert_string_equal(dv_snapshot_get_id(g_ptr_array_index(deep, 0)), "1");
    assert_string_equal(dv_snapshot_get_id(g_ptr_array_index(deep, DEEP - 1)), "5000");
    g_autoptr(GListStore) list = g_list_store_new(DV_TYPE_SNAPSHOT);
    g_list_store_splice(list, 0, 0, deep->pdata, deep->len);
    g_autoptr(GtkTreeStore) tree = dv_snapshot_tree_new();
    dv_snapshot_tree_fill(tree, G_LIST_MODEL(list));
    GtkTreeIter it;
    assert_true(dv_snapshot_tree_find(tree, "5000", FALSE, &it));
    g_autoptr(GtkTreePath) path = gtk_tree_model_get_path(GTK_TREE_MODEL(tree), &it);
    assert_int_equal(gtk_tree_path_get_depth(path), DEEP);
}

static void tree_row(GtkTreeModel *m, GtkTreeIter *it, const char *want_id, gboolean want_pic)
{
    g_autoptr(DvSnapshot) s = NULL;
    g_autoptr(GdkPixbuf) pb = NULL;
    g_autofree char *markup = NULL;
    gtk_tree_model_get(m, it, DV_SNAPSHOT_COL_SNAPSHOT, &s, DV_SNAPSHOT_COL_THUMBNAIL, &pb,
                       DV_SNAPSHOT_COL_MARKUP, &markup, -1);
    assert_non_null(s);
    assert_string_equal(dv_snapshot_get_id(s), want_id);
    assert_non_null(strstr(markup, dv_snapshot_get_name(s)));
    if (want_pic) {
        assert_non_null(pb);
        assert_int_equal(gdk_pixbuf_get_width(pb), 160);
        assert_int_equal(gdk_pixbuf_get_height(pb), 100);
    } else {
        assert_null(pb);
    }
}

/* query-snapshots -> DvSnapshotStore's order -> GtkTreeStore: children under their parents,
 * siblings oldest first, thumbnails loaded from the engine's PNGs. */
static void test_snapshot_tree_model(void **state)
{
    g_autofree char *png = g_build_filename(tmp_root, "snap-1.png", NULL);
    g_autoptr(GdkPixbuf) pic = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, 160, 100);
    gdk_pixbuf_fill(pic, 0x336699ff);
    assert_true(gdk_pixbuf_save(pic, png, "png", NULL, NULL));
    g_autofree char *thumb = g_strdup_printf("\"%s\"", png);
    g_autofree char *missing = g_strdup_printf("\"%s/gone.png\"", tmp_root);
    /* The engine's order (by id) is not the tree's: 1 -> {2 -> {4}, 3}, 5 a second root. */
    g_autofree char *json = g_strconcat(
        "[", QS("5", "null", "five", "50", "null"), ", ", QS("3", "\"1\"", "three", "30", "null"),
        ", ", QS("1", "null", "one", "10", "@"), ", ", QS("4", "\"2\"", "four", "40", "#"), ", ",
        QS("2", "\"1\"", "two", "20", "null"), "]", NULL);
    /* The real paths in place of the markers @ (a PNG) and # (a file that is gone). */
    GString *fixed = g_string_new(NULL);
    for (const char *p = json; *p; p++) {
        if (*p == '@') {
            g_string_append(fixed, thumb);
        } else if (*p == '#') {
            g_string_append(fixed, missing);
        } else {
            g_string_append_c(fixed, *p);
        }
    }
    g_autofree char *answer = g_string_free(fixed, FALSE);
    GError *e = NULL;
    g_autoptr(GPtrArray) items = parse(answer, NULL, &e);
    assert_non_null(items);
    g_autoptr(GListStore) list = g_list_store_new(DV_TYPE_SNAPSHOT);
    g_list_store_splice(list, 0, 0, items->pdata, items->len);

    g_autoptr(GtkTreeStore) tree = dv_snapshot_tree_new();
    dv_snapshot_tree_fill(tree, G_LIST_MODEL(list));
    GtkTreeModel *m = GTK_TREE_MODEL(tree);
    assert_int_equal(gtk_tree_model_iter_n_children(m, NULL), 2);
    GtkTreeIter one, two, three, four, five;
    assert_true(gtk_tree_model_iter_nth_child(m, &one, NULL, 0));
    tree_row(m, &one, "1", TRUE);
    assert_true(gtk_tree_model_iter_nth_child(m, &five, NULL, 1));
    tree_row(m, &five, "5", FALSE);
    assert_int_equal(gtk_tree_model_iter_n_children(m, &one), 2);
    assert_true(gtk_tree_model_iter_nth_child(m, &two, &one, 0));
    tree_row(m, &two, "2", FALSE);
    assert_true(gtk_tree_model_iter_nth_child(m, &three, &one, 1));
    tree_row(m, &three, "3", FALSE);
    assert_int_equal(gtk_tree_model_iter_n_children(m, &two), 1);
    assert_true(gtk_tree_model_iter_nth_child(m, &four, &two, 0));
    tree_row(m, &four, "4", FALSE); /* its PNG is gone: no picture, still listed */
    GtkTreeIter found;
    assert_true(dv_snapshot_tree_find(tree, "4", FALSE, &found));
    tree_row(m, &found, "4", FALSE);
    assert_false(dv_snapshot_tree_find(tree, "4", TRUE, NULL));
    assert_false(dv_snapshot_tree_find(tree, "9", FALSE, NULL));

    /* A refill replaces every row (a delete re-parented 4 under 1). */
    g_autoptr(GPtrArray) after = parse(
        "[" QS("1", "null", "one", "10", "null") ", " QS("4", "\"1\"", "four", "40", "null") "]",
        NULL, &e);
    g_list_store_splice(list, 0, g_list_model_get_n_items(G_LIST_MODEL(list)), after->pdata,
                        after->len);
    dv_snapshot_tree_fill(tree, G_LIST_MODEL(list));
    assert_int_equal(gtk_tree_model_iter_n_children(m, NULL), 1);
    assert_true(gtk_tree_model_iter_nth_child(m, &one, NULL, 0));
    assert_int_equal(gtk_tree_model_iter_n_children(m, &one), 1);
}

static void keep_result(GObject *src, GAsyncResult *res, gpointer data)
{
    *(GAsyncResult **)data = g_object_ref(res);
}

static char *engine_cmdline(DvVm *vm)
{
    g_autofree char *path =
        g_strdup_printf("/proc/%d/cmdline", (int)dv_engine_get_pid(dv_vm_get_engine(vm)));
    char *text = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &text, &len, NULL));
    for (gsize i = 0; i + 1 < len; i++) {
        text[i] = text[i] ? text[i] : ' ';
    }
    return text;
}

/* A running demo VM NAME in lib with one fresh 16 MiB qcow2 disk (the snapshot tree's tests). */
static DvVm *start_qcow2_demo(DvLibrary *lib, const char *name)
{
    g_autofree char *file = g_strconcat(name, "-base.qcow2", NULL);
    g_autofree char *base = g_build_filename(tmp_root, file, NULL);
    assert_true(dv_disk_image_create(base, "qcow2", 16 << 20, NULL));
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup(name);
    cfg->demo = true;
    cfg->memory_mib = 64;
    dv_vm_config_add_disk(cfg, base, "qcow2", false);
    DvVm *vm = dv_library_create(lib, cfg, NULL);
    dv_vm_config_free(cfg);
    assert_non_null(vm);
    g_autoptr(GError) e = NULL;
    assert_true(dv_vm_start(vm, &e));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    return vm;
}

/* The real engine behind the store: take two snapshots of a VM with a qcow2 disk, revert,
 * delete; stopped, the tree comes from snapshots.json; started again, the disk is the active
 * overlay and the engine lists the same tree. */
static void test_snapshot_real_engine(void **state)
{
    if (!kvm_usable() || !have_program("qemu-img")) {
        skip();
    }
    g_autofree char *root = lib_root("snaptree");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    DvVm *vm = start_qcow2_demo(lib, "snaptree");
    g_autoptr(GError) e = NULL;
    g_autofree char *snapdir = g_build_filename(dv_vm_get_dir(vm), "snapshots", NULL);
    g_autofree char *cmd = engine_cmdline(vm);
    g_autofree char *want_dir = g_strconcat("--snapshot-dir ", snapdir, NULL);
    assert_non_null(strstr(cmd, want_dir));

    g_autoptr(DvSnapshotStore) store = dv_snapshot_store_new(dv_vm_get_dir(vm));
    assert_true(dv_snapshot_store_load(store, NULL));
    DvQmpClient *q = dv_engine_get_qmp(dv_vm_get_engine(vm));
    GAsyncResult *res = NULL;
    dv_snapshot_store_take_async(store, q, "one", "first", NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    g_autoptr(DvSnapshot) one = dv_snapshot_store_take_finish(store, res, &e);
    g_object_unref(res);
    assert_null(e);
    assert_non_null(one);
    assert_true(dv_snapshot_is_current(one));
    assert_true(g_file_test(dv_snapshot_get_file(one), G_FILE_TEST_IS_REGULAR));
    if (dv_snapshot_get_thumbnail(one) != NULL) { /* null without libpng (docs/snapshots.md) */
        g_autoptr(GdkPixbuf) pb = gdk_pixbuf_new_from_file(dv_snapshot_get_thumbnail(one), NULL);
        assert_non_null(pb);
        assert_true(gdk_pixbuf_get_width(pb) <= 160 && gdk_pixbuf_get_height(pb) <= 120);
    }
    res = NULL;
    dv_snapshot_store_take_async(store, q, "two", "", NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    g_autoptr(DvSnapshot) two = dv_snapshot_store_take_finish(store, res, &e);
    g_object_unref(res);
    assert_non_null(two);
    assert_string_equal(dv_snapshot_get_parent(two), dv_snapshot_get_id(one));

    res = NULL;
    dv_snapshot_store_revert_async(store, q, one, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    assert_true(dv_snapshot_store_revert_finish(store, res, &e));
    g_object_unref(res);
    GListModel *m = dv_snapshot_store_get_model(store);
    assert_int_equal(g_list_model_get_n_items(m), 2);
    g_autoptr(DvSnapshot) first = g_list_model_get_item(m, 0);
    assert_true(dv_snapshot_is_current(first));

    res = NULL;
    dv_snapshot_store_delete_async(store, q, two, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    assert_true(dv_snapshot_store_delete_finish(store, res, &e));
    g_object_unref(res);
    assert_int_equal(g_list_model_get_n_items(m), 1);
    /* The engine's refusal comes back as the error (an id it no longer has). */
    res = NULL;
    dv_snapshot_store_delete_async(store, q, two, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    assert_false(dv_snapshot_store_delete_finish(store, res, &e));
    g_object_unref(res);
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_QMP));
    g_clear_error(&e);

    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
    g_auto(GStrv) active = dv_snapshot_active_disks(snapdir, &e);
    assert_null(e);
    assert_int_equal(g_strv_length(active), 1);
    assert_true(g_str_has_prefix(active[0], snapdir));
    g_autoptr(DvSnapshotStore) offline = dv_snapshot_store_new(dv_vm_get_dir(vm));
    assert_true(dv_snapshot_store_load(offline, &e));
    assert_int_equal(g_list_model_get_n_items(dv_snapshot_store_get_model(offline)), 1);

    /* Started again: on the active overlay, the same tree. */
    assert_true(dv_vm_start(vm, &e));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    g_autofree char *cmd2 = engine_cmdline(vm);
    g_autofree char *want_disk = g_strdup_printf("--disk file=%s,format=qcow2", active[0]);
    assert_non_null(strstr(cmd2, want_disk));
    q = dv_engine_get_qmp(dv_vm_get_engine(vm));
    res = NULL;
    dv_snapshot_store_refresh_async(offline, q, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    assert_true(dv_snapshot_store_refresh_finish(offline, res, &e));
    g_object_unref(res);
    g_autoptr(DvSnapshot) again = g_list_model_get_item(dv_snapshot_store_get_model(offline), 0);
    assert_string_equal(dv_snapshot_get_id(again), dv_snapshot_get_id(one));
    assert_true(dv_snapshot_is_current(again));
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
}

/* The snapshot with @id in @m (a new reference), or NULL. */
static DvSnapshot *find_snapshot(GListModel *m, const char *id)
{
    for (guint i = 0; i < g_list_model_get_n_items(m); i++) {
        DvSnapshot *s = g_list_model_get_item(m, i);
        if (g_str_equal(dv_snapshot_get_id(s), id)) {
            return s;
        }
        g_object_unref(s);
    }
    return NULL;
}

/* query-snapshots of the running engine: the id of the entry marked current, or NULL. */
static char *engine_current(DvVm *vm)
{
    g_autoptr(JsonNode) list = qmp_sync(vm, "query-snapshots");
    assert_true(JSON_NODE_HOLDS_ARRAY(list));
    JsonArray *a = json_node_get_array(list);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        if (json_object_get_boolean_member_with_default(o, "current", FALSE)) {
            return g_strdup(json_object_get_string_member(o, "id"));
        }
    }
    return NULL;
}

/* Take snapshot @name of the running @vm through @store. */
static DvSnapshot *take_snapshot(DvSnapshotStore *store, DvVm *vm, const char *name)
{
    GAsyncResult *res = NULL;
    g_autoptr(GError) e = NULL;
    dv_snapshot_store_take_async(store, dv_engine_get_qmp(dv_vm_get_engine(vm)), name, "", NULL,
                                 keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    DvSnapshot *s = dv_snapshot_store_take_finish(store, res, &e);
    g_object_unref(res);
    assert_null(e);
    assert_non_null(s);
    return s;
}

/* Revert and delete while the VM is stopped (docs/gui.md "Stopped VM."): the engine starts
 * paused (--paused), a revert leaves the VM Paused at the snapshot, a delete quits the engine
 * again and snapshots.json no longer lists the snapshot; a refusal ends with the VM Stopped and
 * the engine's error. */
static void test_snapshot_stopped_real_engine(void **state)
{
    if (!kvm_usable() || !have_program("qemu-img")) {
        skip();
    }
    g_autofree char *root = lib_root("snapstopped");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    DvVm *vm = start_qcow2_demo(lib, "snapstopped");
    g_autoptr(GError) e = NULL;
    g_autofree char *cmd = engine_cmdline(vm);
    assert_null(strstr(cmd, "--paused"));
    g_autoptr(DvSnapshotStore) store = dv_snapshot_store_new(dv_vm_get_dir(vm));
    assert_true(dv_snapshot_store_load(store, NULL));
    g_autoptr(DvSnapshot) one = take_snapshot(store, vm, "one");
    g_autoptr(DvSnapshot) two = take_snapshot(store, vm, "two");
    g_autoptr(DvSnapshot) three = take_snapshot(store, vm, "three");
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));

    /* Revert to "one" while stopped: the store is the one a stopped VM's page has. */
    g_autoptr(DvSnapshotStore) offline = dv_snapshot_store_new(dv_vm_get_dir(vm));
    assert_true(dv_snapshot_store_load(offline, &e));
    GListModel *m = dv_snapshot_store_get_model(offline);
    assert_int_equal(g_list_model_get_n_items(m), 3);
    g_autoptr(DvSnapshot) one_off = find_snapshot(m, dv_snapshot_get_id(one));
    assert_false(dv_snapshot_is_current(one_off));
    GAsyncResult *res = NULL;
    dv_snapshot_revert_stopped_async(vm, offline, one_off, NULL, keep_result, &res);
    assert_true(dv_snapshot_stopped_is_busy(vm));
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STARTING);
    /* A second operation meanwhile is refused. */
    GAsyncResult *res2 = NULL;
    dv_snapshot_delete_stopped_async(vm, offline, one_off, NULL, keep_result, &res2);
    wait_set((gpointer *)&res2, 10000);
    assert_false(dv_snapshot_delete_stopped_finish(vm, res2, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_BUSY));
    g_clear_error(&e);
    g_object_unref(res2);
    wait_set((gpointer *)&res, 60000);
    assert_true(dv_snapshot_revert_stopped_finish(vm, res, &e));
    g_object_unref(res);
    assert_null(e);
    assert_false(dv_snapshot_stopped_is_busy(vm));
    assert_int_equal(dv_vm_get_state(vm), DV_VM_PAUSED);
    g_autofree char *cmd_paused = engine_cmdline(vm);
    assert_non_null(strstr(cmd_paused, " --paused"));
    g_autofree char *current = engine_current(vm);
    assert_string_equal(current, dv_snapshot_get_id(one));
    g_autoptr(DvSnapshot) one_now = find_snapshot(m, dv_snapshot_get_id(one));
    assert_true(dv_snapshot_is_current(one_now));
    /* It stays paused at the snapshot until resumed. */
    g_autoptr(JsonNode) status = qmp_sync(vm, "query-status");
    assert_string_equal(json_object_get_string_member(json_node_get_object(status), "status"),
                        "paused");
    assert_true(dv_vm_resume(vm, NULL));
    assert_true(wait_state(vm, DV_VM_RUNNING, 10000));
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));

    /* Delete "two" while stopped: started paused, merged, quit; the index no longer has it. */
    assert_true(dv_snapshot_store_load(offline, &e));
    g_autoptr(DvSnapshot) two_off = find_snapshot(m, dv_snapshot_get_id(two));
    assert_non_null(two_off);
    res = NULL;
    dv_snapshot_delete_stopped_async(vm, offline, two_off, NULL, keep_result, &res);
    assert_true(dv_snapshot_stopped_is_busy(vm));
    wait_set((gpointer *)&res, 60000);
    assert_true(dv_snapshot_delete_stopped_finish(vm, res, &e));
    g_object_unref(res);
    assert_null(e);
    assert_false(dv_snapshot_stopped_is_busy(vm));
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STOPPED);
    assert_null(dv_vm_get_engine(vm));
    assert_null(dv_vm_get_error(vm));
    assert_int_equal(g_list_model_get_n_items(m), 2);
    g_autoptr(DvSnapshot) gone = find_snapshot(m, dv_snapshot_get_id(two));
    assert_null(gone);
    g_autoptr(DvSnapshotStore) fresh = dv_snapshot_store_new(dv_vm_get_dir(vm));
    assert_true(dv_snapshot_store_load(fresh, &e));
    GListModel *fm = dv_snapshot_store_get_model(fresh);
    assert_int_equal(g_list_model_get_n_items(fm), 2);
    g_autoptr(DvSnapshot) gone2 = find_snapshot(fm, dv_snapshot_get_id(two));
    assert_null(gone2);
    g_autoptr(DvSnapshot) three_off = find_snapshot(fm, dv_snapshot_get_id(three));
    assert_non_null(three_off);
    assert_string_equal(dv_snapshot_get_parent(three_off), dv_snapshot_get_id(one));

    /* Refusals: the engine's error comes back and the VM is Stopped again. "two" is gone. */
    res = NULL;
    dv_snapshot_revert_stopped_async(vm, offline, two_off, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    assert_false(dv_snapshot_revert_stopped_finish(vm, res, &e));
    g_object_unref(res);
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_QMP));
    assert_non_null(strstr(e->message, "Snapshot not reverted"));
    g_clear_error(&e);
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STOPPED);
    assert_null(dv_vm_get_engine(vm));
    assert_false(dv_snapshot_stopped_is_busy(vm));
    res = NULL;
    dv_snapshot_delete_stopped_async(vm, offline, two_off, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 60000);
    assert_false(dv_snapshot_delete_stopped_finish(vm, res, &e));
    g_object_unref(res);
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_QMP));
    assert_non_null(strstr(e->message, "Snapshot not deleted"));
    g_clear_error(&e);
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STOPPED);
    assert_null(dv_vm_get_engine(vm));
    assert_int_equal(g_list_model_get_n_items(m), 2);

    /* A running VM is refused, and nothing is started twice. */
    assert_true(dv_vm_start(vm, &e));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    res = NULL;
    dv_snapshot_revert_stopped_async(vm, offline, three_off, NULL, keep_result, &res);
    wait_set((gpointer *)&res, 10000);
    assert_false(dv_snapshot_revert_stopped_finish(vm, res, &e));
    g_object_unref(res);
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_BUSY));
    g_clear_error(&e);
    assert_int_equal(dv_vm_get_state(vm), DV_VM_RUNNING);
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));

    /* An engine that ends at start (its kernel is not a kernel): the VM is Crashed, with no
     * engine, and the operation's error says so. */
    g_autofree char *not_kernel = make_file("snapstopped-not-a-kernel.bin", 8192);
    struct dv_vm_config *bad = dv_vm_config_new();
    bad->name = g_strdup("snapdies");
    bad->kernel = g_strdup(not_kernel);
    bad->memory_mib = 64;
    DvVm *dies = dv_library_create(lib, bad, NULL);
    dv_vm_config_free(bad);
    assert_non_null(dies);
    g_autoptr(DvSnapshotStore) dies_store = dv_snapshot_store_new(dv_vm_get_dir(dies));
    g_autoptr(GPtrArray) fake = parse("[" QS("1", "null", "a", "1", "null") "]", NULL, NULL);
    assert_non_null(fake);
    res = NULL;
    dv_snapshot_revert_stopped_async(dies, dies_store, g_ptr_array_index(fake, 0), NULL,
                                     keep_result, &res);
    wait_set((gpointer *)&res, 30000);
    assert_false(dv_snapshot_revert_stopped_finish(dies, res, &e));
    g_object_unref(res);
    /* The engine checks the kernel before it serves QMP: its own message comes back. */
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_ENGINE));
    assert_non_null(strstr(e->message, "not a PVH ELF"));
    g_clear_error(&e);
    assert_int_equal(dv_vm_get_state(dies), DV_VM_CRASHED);
    assert_null(dv_vm_get_engine(dies));
    assert_false(dv_snapshot_stopped_is_busy(dies));
}

int main(void)
{
    tmp_root = g_dir_make_tmp("deskvm-gui-features-XXXXXX", NULL);
    g_autofree char *data = g_build_filename(tmp_root, "data", NULL);
    g_autofree char *run = g_build_filename(tmp_root, "run", NULL);
    g_mkdir_with_parents(data, 0700);
    g_mkdir_with_parents(run, 0700);
    g_setenv("XDG_DATA_HOME", data, TRUE);
    g_setenv("XDG_RUNTIME_DIR", run, TRUE);
    g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
    const struct CMUnitTest tests[] = {
        /* re-adoption */
        cmocka_unit_test(test_cmdline_matches),
        cmocka_unit_test(test_cmdline_serial_socket),
        cmocka_unit_test(test_replay_overlap),
        cmocka_unit_test(test_adopt_stale),
        cmocka_unit_test(test_adopt_real_engine),
        cmocka_unit_test(test_adopt_end),
        cmocka_unit_test(test_no_detach_kills),
        /* settings editor */
        cmocka_unit_test(test_settings_validate),
        cmocka_unit_test(test_settings_save),
        cmocka_unit_test(test_settings_running),
        /* New-VM assistant */
        cmocka_unit_test(test_new_vm_iso),
        cmocka_unit_test(test_new_vm_image),
        /* performance */
        cmocka_unit_test(test_perf_parsers),
        cmocka_unit_test(test_perf_rates),
        cmocka_unit_test(test_perf_real_engine),
        cmocka_unit_test(test_snapshot_parse_tree),
        cmocka_unit_test(test_snapshot_tree_model),
        cmocka_unit_test(test_snapshot_real_engine),
        cmocka_unit_test(test_snapshot_stopped_real_engine),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) {
        rc = rc ? rc : 1;
    }
    g_free(tmp_root);
    return rc;
}
