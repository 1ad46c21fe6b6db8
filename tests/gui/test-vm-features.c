// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The front end's later features without a display: re-attaching to engines that outlived the
 * app (docs/gui.md "Running VMs outlive the app"), with the real deskvm-vm demo guest when
 * /dev/kvm is usable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gui/dv-error.h"
#include "gui/library.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

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
 * it over QMP and can force it off; the pid file goes with the engine. */
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
        cmocka_unit_test(test_cmdline_matches),
        cmocka_unit_test(test_adopt_stale),
        cmocka_unit_test(test_adopt_real_engine),
        cmocka_unit_test(test_no_detach_kills),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) {
        rc = rc ? rc : 1;
    }
    g_free(tmp_root);
    return rc;
}
