// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The front end's view-models without a display: domain XML round trips, the VM library
 * (create, corrupt files, clone, import/export, delete to trash), the New-VM validation, the
 * QMP client against an in-process server, and engine supervision with a fake engine that
 * crashes and, when /dev/kvm is usable, the real deskvm-vm demo guest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gui/dv-error.h"
#include "gui/library.h"
#include "gui/new-vm.h"
#include "gui/prefs.h"
#include "gui/qmp-client.h"
#include "gui/snapshots.h"

#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static char *tmp_root;

/* Run the main loop until *flag is set or @ms pass; returns the flag. */
static gboolean wait_flag(const gboolean *flag, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (!*flag && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return *flag;
}

static char *lib_root(const char *name)
{
    return g_build_filename(tmp_root, "data", "deskvm", name, NULL);
}

static struct dv_vm_config *sample_config(const char *name)
{
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup(name);
    cfg->memory_mib = 512;
    cfg->vcpus = 2;
    cfg->kernel = g_strdup("/boot/vmlinuz");
    cfg->initrd = g_strdup("/boot/initrd.img");
    cfg->cmdline = g_strdup("console=ttyS0 quiet");
    dv_vm_config_add_disk(cfg, "/images/a,b.qcow2", "qcow2", false);
    dv_vm_config_add_disk(cfg, "/images/ro.img", "raw", true);
    dv_vm_config_add_net(cfg, "user", NULL, "52:54:00:12:34:56");
    return cfg;
}

static void test_names(void **state)
{
    const char *good[] = {"a", "vm1", "Debian-12.5_test", "0x"};
    const char *bad[] = {
        "",        ".",
        "..",      "-x",
        ".hidden", "a/b",
        "a b",     "é",
        "a\nb",    "0123456789012345678901234567890123456789012345678901234567890123x"};
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        assert_true(dv_vm_name_validate(good[i], NULL));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        assert_false(dv_vm_name_validate(bad[i], &e));
        assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_INVALID));
    }
    assert_false(dv_vm_name_validate(NULL, NULL));
}

static void test_xml_round_trip(void **state)
{
    struct dv_vm_config *cfg = sample_config("web");
    cfg->uuid = g_strdup("0e1a3b2c-aaaa-4bbb-8ccc-0123456789ab");
    g_autofree char *xml = dv_vm_config_to_xml(cfg);
    assert_non_null(strstr(xml, "<domain"));
    assert_non_null(strstr(xml, "type=\"kvm\""));
    g_autoptr(GError) e = NULL;
    struct dv_vm_config *back = dv_vm_config_from_xml(xml, &e);
    assert_non_null(back);
    assert_string_equal(back->name, "web");
    assert_string_equal(back->uuid, cfg->uuid);
    assert_int_equal(back->memory_mib, 512);
    assert_int_equal(back->vcpus, 2);
    assert_false(back->demo);
    assert_string_equal(back->kernel, "/boot/vmlinuz");
    assert_string_equal(back->initrd, "/boot/initrd.img");
    assert_string_equal(back->cmdline, "console=ttyS0 quiet");
    assert_int_equal(back->disks->len, 2);
    const struct dv_disk *d0 = g_ptr_array_index(back->disks, 0);
    const struct dv_disk *d1 = g_ptr_array_index(back->disks, 1);
    assert_string_equal(d0->path, "/images/a,b.qcow2");
    assert_string_equal(d0->format, "qcow2");
    assert_false(d0->readonly);
    assert_string_equal(d1->format, "raw");
    assert_true(d1->readonly);
    assert_int_equal(back->nets->len, 1);
    const struct dv_net *n0 = g_ptr_array_index(back->nets, 0);
    assert_string_equal(n0->type, "user");
    assert_string_equal(n0->mac, "52:54:00:12:34:56");

    g_auto(GStrv) args = dv_vm_config_engine_args(back, "/run/x.qmp", "/s", "/vm/snapshots", NULL);
    g_autofree char *joined = g_strjoinv(" ", args);
    assert_string_equal(joined, "--memory 512M --cpus 2 --kernel /boot/vmlinuz --initrd "
                                "/boot/initrd.img --append console=ttyS0 quiet --disk "
                                "file=/images/a,,b.qcow2,format=qcow2 --disk "
                                "file=/images/ro.img,format=raw,readonly=on --net "
                                "user,mac=52:54:00:12:34:56 --display vga --qmp "
                                "unix:/run/x.qmp --serial unix:/s --snapshot-dir /vm/snapshots");
    /* With a snapshot tree the writable disk runs on its active overlay (qcow2); a list that
     * does not match the disks is ignored (the engine then reports the mismatch). */
    const char *const active[] = {"/vm/snapshots/disk0-3.qcow2", "/images/ro.img", NULL};
    g_auto(GStrv) moved = dv_vm_config_engine_args(back, "/q", "/s", "/vm/s", active);
    g_autofree char *mjoined = g_strjoinv(" ", moved);
    assert_non_null(strstr(mjoined, "--disk file=/vm/snapshots/disk0-3.qcow2,format=qcow2 --disk "
                                    "file=/images/ro.img,format=raw,readonly=on --net"));
    assert_true(g_str_has_suffix(mjoined, "--serial unix:/s --snapshot-dir /vm/s"));
    const char *const short_list[] = {"/vm/snapshots/disk0-3.qcow2", NULL};
    g_auto(GStrv) kept = dv_vm_config_engine_args(back, "/q", "/s", "/vm/s", short_list);
    g_autofree char *kjoined = g_strjoinv(" ", kept);
    assert_non_null(strstr(kjoined, "--disk file=/images/a,,b.qcow2,format=qcow2 --disk"));
    dv_vm_config_free(back);
    dv_vm_config_free(cfg);
}

/* A virsh-style file: tap (type='ethernet') and a CD-ROM, which is read-only. */
static void test_xml_from_libvirt(void **state)
{
    const char *xml =
        "<domain type='kvm'><name>lv</name><uuid>4DEA22B3-1D52-D8F3-2516-782E98AB3FA0</uuid>"
        "<memory unit='KiB'>1048576</memory><vcpu placement='static'>4</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type><kernel>/k</kernel></os><devices>"
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        "<source file='/iso/d.iso'/><target dev='sda' bus='sata'/></disk>"
        "<interface type='ethernet'><mac address='52:54:00:aa:bb:cc'/><target dev='tap3'/>"
        "<model type='virtio'/></interface></devices></domain>";
    struct dv_vm_config *cfg = dv_vm_config_from_xml(xml, NULL);
    assert_non_null(cfg);
    assert_string_equal(cfg->uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    assert_int_equal(cfg->memory_mib, 1024);
    assert_int_equal(cfg->vcpus, 4);
    /* The CD-ROM is the engine's AHCI CD-ROM drive, not a disk. */
    assert_int_equal(cfg->disks->len, 0);
    assert_string_equal(cfg->cdrom, "/iso/d.iso");
    g_auto(GStrv) args = dv_vm_config_engine_args(cfg, "/q", "/s", NULL, NULL);
    g_autofree char *joined = g_strjoinv(" ", args);
    assert_string_equal(joined, "--memory 1024M --cpus 4 --cdrom /iso/d.iso --kernel /k --net "
                                "tap,ifname=tap3,mac=52:54:00:aa:bb:cc --display vga --qmp "
                                "unix:/q --serial unix:/s");
    dv_vm_config_free(cfg);
}

static void test_demo_config(void **state)
{
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup("demo");
    cfg->demo = true;
    g_autofree char *xml = dv_vm_config_to_xml(cfg);
    struct dv_vm_config *back = dv_vm_config_from_xml(xml, NULL);
    assert_non_null(back);
    assert_true(back->demo);
    assert_null(back->kernel);
    assert_true(dv_vm_config_check_runnable(back, NULL));
    g_auto(GStrv) args = dv_vm_config_engine_args(back, "/q", "/s", NULL, NULL);
    g_autofree char *joined = g_strjoinv(" ", args);
    assert_string_equal(joined, "--memory 256M --cpus 1 --display vga --qmp unix:/q --serial "
                                "unix:/s");
    /* Without the demo mark, a kernel or firmware='bios' there is nothing to boot. */
    back->demo = false;
    g_autoptr(GError) e = NULL;
    assert_false(dv_vm_config_check_runnable(back, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_UNSUPPORTED));
    dv_vm_config_free(back);
    dv_vm_config_free(cfg);
}

static void test_bad_xml(void **state)
{
    const char *bad[] = {
        "",
        "<domain",
        "not xml at all",
        "<network><name>default</name></network>",
        "<domain type='kvm'><memory>1048576</memory><vcpu>1</vcpu></domain>", /* no name */
        "<domain type='kvm'><name>../x</name><memory>1048576</memory><vcpu>1</vcpu></domain>",
        "<domain type='kvm'><name>x</name><uuid>nope</uuid><memory>1048576</memory>"
        "<vcpu>1</vcpu></domain>",
        "<domain type='kvm'><name>x</name><memory>0</memory><vcpu>1</vcpu></domain>",
        "<domain type='kvm'><name>x</name><memory>1048576</memory><vcpu>0</vcpu></domain>",
        "<domain type='kvm'><name>x</name><memory>1048576</memory><vcpu>1</vcpu><devices>"
        "<interface type='bridge'><source bridge='br0'/></interface></devices></domain>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        assert_null(dv_vm_config_from_xml(bad[i], &e));
        assert_non_null(e);
        assert_true(e->domain == DV_ERROR);
    }
}

static void test_library_create_and_corrupt(void **state)
{
    g_autofree char *root = lib_root("create");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    assert_int_equal(g_list_model_get_n_items(dv_library_get_model(lib)), 0);

    struct dv_vm_config *cfg = sample_config("beta");
    DvVm *vm = dv_library_create(lib, cfg, NULL);
    assert_non_null(vm);
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STOPPED);
    g_autoptr(GError) e = NULL;
    assert_null(dv_library_create(lib, cfg, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_EXISTS));
    g_clear_error(&e);
    g_free(cfg->name);
    cfg->name = g_strdup("bad/name");
    assert_null(dv_library_create(lib, cfg, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_INVALID));
    g_clear_error(&e);
    g_free(cfg->name);
    cfg->name = g_strdup("alpha");
    assert_non_null(dv_library_create(lib, cfg, NULL));
    dv_vm_config_free(cfg);

    GListModel *model = dv_library_get_model(lib);
    assert_int_equal(g_list_model_get_n_items(model), 2);
    g_autoptr(DvVm) first = g_list_model_get_item(model, 0);
    assert_string_equal(dv_vm_get_name(first), "alpha"); /* sorted */

    /* A missing disk is reported at start, naming the file. */
    assert_false(dv_vm_start(first, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_NOT_FOUND));
    g_clear_error(&e);

    /* Corrupt beta's file: a fresh library lists it as broken and leaves the bytes alone. */
    g_autofree char *path = g_build_filename(root, "beta", "domain.xml", NULL);
    const char *garbage = "<domain type='kvm'><name>beta</name><memory>12";
    assert_true(g_file_set_contents(path, garbage, -1, NULL));
    g_autoptr(DvLibrary) again = dv_library_new(root);
    assert_true(dv_library_load(again, NULL));
    assert_int_equal(g_list_model_get_n_items(dv_library_get_model(again)), 2);
    DvVm *beta = dv_library_lookup(again, "beta");
    assert_non_null(beta);
    assert_int_equal(dv_vm_get_state(beta), DV_VM_BROKEN);
    assert_non_null(dv_vm_get_error(beta));
    assert_true(g_error_matches(dv_vm_get_error(beta), DV_ERROR, DV_ERROR_CORRUPT));
    assert_false(dv_vm_start(beta, &e));
    g_clear_error(&e);
    assert_null(dv_library_clone(again, beta, "gamma", &e));
    g_clear_error(&e);
    g_autofree char *after = NULL;
    assert_true(g_file_get_contents(path, &after, NULL, NULL));
    assert_string_equal(after, garbage);

    /* A domain.xml whose name disagrees with its directory is broken too. */
    g_autofree char *alpha_xml = g_build_filename(root, "alpha", "domain.xml", NULL);
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(alpha_xml, &text, NULL, NULL));
    g_autofree char *renamed = g_strdup(text);
    char *at = strstr(renamed, "<name>alpha</name>");
    assert_non_null(at);
    memcpy(at, "<name>alphb</name>", 18);
    assert_true(g_file_set_contents(alpha_xml, renamed, -1, NULL));
    g_autoptr(DvLibrary) third = dv_library_new(root);
    assert_true(dv_library_load(third, NULL));
    assert_int_equal(dv_vm_get_state(dv_library_lookup(third, "alpha")), DV_VM_BROKEN);
}

static void test_clone_import_export_delete(void **state)
{
    g_autofree char *root = lib_root("clone");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup("src");
    cfg->demo = true;
    g_autofree char *outside = g_build_filename(tmp_root, "shared.img", NULL);
    assert_true(g_file_set_contents(outside, "shared", -1, NULL));
    g_autofree char *inside = g_build_filename(root, "src", "disk.img", NULL);
    dv_vm_config_add_disk(cfg, inside, "raw", false);
    dv_vm_config_add_disk(cfg, outside, "raw", false);
    dv_vm_config_add_net(cfg, "user", NULL, "52:54:00:00:00:01");
    DvVm *src = dv_library_create(lib, cfg, NULL);
    assert_non_null(src);
    assert_true(g_file_set_contents(inside, "disk bytes", -1, NULL));
    dv_vm_config_free(cfg);

    g_autoptr(GError) e = NULL;
    assert_null(dv_library_clone(lib, src, "src", &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_EXISTS));
    g_clear_error(&e);
    DvVm *copy = dv_library_clone(lib, src, "copy", &e);
    assert_non_null(copy);
    const struct dv_vm_config *a = dv_vm_get_config(src), *b = dv_vm_get_config(copy);
    assert_string_equal(b->name, "copy");
    assert_string_not_equal(a->uuid, b->uuid);
    assert_true(b->demo);
    g_autofree char *copied = g_build_filename(root, "copy", "disk.img", NULL);
    assert_string_equal(((struct dv_disk *)g_ptr_array_index(b->disks, 0))->path, copied);
    assert_string_equal(((struct dv_disk *)g_ptr_array_index(b->disks, 1))->path, outside);
    g_autofree char *bytes = NULL;
    assert_true(g_file_get_contents(copied, &bytes, NULL, NULL));
    assert_string_equal(bytes, "disk bytes");
    assert_string_not_equal(((struct dv_net *)g_ptr_array_index(b->nets, 0))->mac,
                            "52:54:00:00:00:01");

    /* Export, then import: under its own name it clashes; under a new one the uuid (taken by
     * src) is replaced. */
    g_autofree char *exported = g_build_filename(tmp_root, "export.xml", NULL);
    assert_true(dv_library_export(lib, src, exported, NULL));
    assert_null(dv_library_import(lib, exported, NULL, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_EXISTS));
    g_clear_error(&e);
    DvVm *imp = dv_library_import(lib, exported, "imported", NULL);
    assert_non_null(imp);
    assert_string_not_equal(dv_vm_get_config(imp)->uuid, a->uuid);
    /* A broken file is refused and no directory is left behind. */
    g_autofree char *junk = g_build_filename(tmp_root, "junk.xml", NULL);
    assert_true(g_file_set_contents(junk, "<domain><name>junk</name>", -1, NULL));
    assert_null(dv_library_import(lib, junk, NULL, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_CORRUPT));
    g_clear_error(&e);
    g_autofree char *junk_dir = g_build_filename(root, "junk", NULL);
    assert_false(g_file_test(junk_dir, G_FILE_TEST_EXISTS));
    assert_null(dv_library_import(lib, "/nonexistent/x.xml", NULL, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_NOT_FOUND));
    g_clear_error(&e);

    /* Delete goes to the trash ($XDG_DATA_HOME/Trash), where the files still are. */
    guint n = g_list_model_get_n_items(dv_library_get_model(lib));
    assert_true(dv_library_delete(lib, copy, &e));
    assert_int_equal(g_list_model_get_n_items(dv_library_get_model(lib)), n - 1);
    g_autofree char *copy_dir = g_build_filename(root, "copy", NULL);
    assert_false(g_file_test(copy_dir, G_FILE_TEST_EXISTS));
    g_autofree char *trashed =
        g_build_filename(tmp_root, "data", "Trash", "files", "copy", "disk.img", NULL);
    assert_true(g_file_test(trashed, G_FILE_TEST_IS_REGULAR));
}

static void test_new_vm_validation(void **state)
{
    g_autofree char *root = lib_root("assistant");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    struct dv_new_vm m;
    dv_new_vm_init_defaults(&m, lib);
    assert_string_equal(m.name, "vm1");
    assert_true(m.memory_mib >= 256 && m.memory_mib <= 2048);
    assert_true(m.demo);
    const char *field = NULL;
    assert_true(dv_new_vm_validate(&m, lib, &field, NULL));
    struct dv_vm_config *cfg = dv_new_vm_to_config(&m);
    assert_non_null(dv_library_create(lib, cfg, NULL));
    dv_vm_config_free(cfg);

    g_autoptr(GError) e = NULL;
    assert_false(dv_new_vm_validate(&m, lib, &field, &e)); /* vm1 now exists */
    assert_string_equal(field, "name");
    g_clear_error(&e);
    struct dv_new_vm next;
    dv_new_vm_init_defaults(&next, lib);
    assert_string_equal(next.name, "vm2");
    next.memory_mib = 1;
    assert_false(dv_new_vm_validate(&next, lib, &field, NULL));
    assert_string_equal(field, "memory");
    next.memory_mib = 256;
    next.vcpus = 0;
    assert_false(dv_new_vm_validate(&next, lib, &field, NULL));
    assert_string_equal(field, "vcpus");
    next.vcpus = 1;
    next.demo = FALSE;
    assert_false(dv_new_vm_validate(&next, lib, &field, NULL));
    assert_string_equal(field, "kernel");
    next.kernel = g_strdup("/nonexistent/vmlinuz");
    assert_false(dv_new_vm_validate(&next, lib, &field, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_NOT_FOUND));
    assert_string_equal(field, "kernel");
    g_clear_error(&e);
    g_free(next.kernel);
    next.kernel = g_build_filename(tmp_root, "shared.img", NULL); /* any existing file */
    g_autofree char *k = g_build_filename(tmp_root, "kernel", NULL);
    assert_true(g_file_set_contents(k, "k", -1, NULL));
    g_free(next.kernel);
    next.kernel = g_strdup(k);
    next.initrd = g_strdup("/nonexistent/initrd");
    assert_false(dv_new_vm_validate(&next, lib, &field, NULL));
    assert_string_equal(field, "initrd");
    g_free(next.initrd);
    next.initrd = g_strdup("");
    assert_true(dv_new_vm_validate(&next, lib, &field, NULL));
    cfg = dv_new_vm_to_config(&next);
    assert_null(cfg->initrd);
    assert_string_equal(cfg->kernel, k);
    dv_vm_config_free(cfg);
    g_free(next.name);
    next.name = g_strdup("has space");
    assert_false(dv_new_vm_validate(&next, lib, &field, NULL));
    assert_string_equal(field, "name");
    dv_new_vm_clear(&next);
    dv_new_vm_clear(&m);
}

/* First start: an empty library gets "Demo" once; a user who deletes it does not get it back,
 * and a library that already has VMs is left alone. */
static void test_first_start_demo(void **state)
{
    g_autofree char *root = lib_root("first-start");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    GError *e = NULL;
    assert_true(dv_library_load(lib, NULL));
    DvVm *demo = dv_library_ensure_demo(lib, &e);
    assert_null(e);
    assert_non_null(demo);
    assert_string_equal(dv_vm_get_name(demo), "Demo");
    assert_true(dv_vm_get_config(demo)->demo);
    assert_int_equal(dv_vm_get_state(demo), DV_VM_STOPPED);
    assert_null(dv_library_ensure_demo(lib, &e)); /* not twice */
    assert_null(e);
    g_autoptr(DvLibrary) again = dv_library_new(root);
    assert_true(dv_library_load(again, NULL));
    assert_non_null(dv_library_lookup(again, "Demo"));
    assert_int_equal(g_list_model_get_n_items(dv_library_get_model(again)), 1);
    /* Removed by the user: the marker keeps it away although the library is empty. */
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s/Demo'", root);
    assert_int_equal(system(cmd), 0);
    assert_true(dv_library_load(again, NULL));
    assert_int_equal(g_list_model_get_n_items(dv_library_get_model(again)), 0);
    assert_null(dv_library_ensure_demo(again, &e));
    assert_null(e);
    /* A library with VMs of its own and no marker is left alone. */
    g_autofree char *root2 = lib_root("has-vms");
    g_autoptr(DvLibrary) lib2 = dv_library_new(root2);
    struct dv_vm_config *cfg = sample_config("mine");
    assert_non_null(dv_library_create(lib2, cfg, NULL));
    dv_vm_config_free(cfg);
    assert_null(dv_library_ensure_demo(lib2, &e));
    assert_null(e);
    assert_null(dv_library_lookup(lib2, "Demo"));
}

/* A one-connection QMP server in the test's main loop, scripted line by line. */
struct fake_qmp {
    GSocketListener *listener;
    GSocketConnection *conn;
    GDataInputStream *in;
    GOutputStream *out;
};

static void fake_send(struct fake_qmp *f, const char *line)
{
    g_autofree char *l = g_strconcat(line, "\r\n", NULL);
    assert_true(g_output_stream_write_all(f->out, l, strlen(l), NULL, NULL, NULL));
}

static void accept_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    *(GSocketConnection **)data =
        g_socket_listener_accept_finish(G_SOCKET_LISTENER(src), res, NULL, NULL);
}

static void connect_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    *(DvQmpClient **)data = dv_qmp_client_connect_finish(res, NULL);
}

struct exec_result {
    gboolean done;
    JsonNode *ret;
    GError *error;
};

static void exec_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    struct exec_result *r = data;
    r->ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &r->error);
    r->done = TRUE;
}

static void event_cb(DvQmpClient *c, const char *name, JsonObject *data, gpointer user)
{
    g_string_append_printf(user, "%s(%s);", name,
                           data ? json_object_get_string_member_with_default(data, "reason", "")
                                : "-");
}

/* Read one request line from the client, while letting the client's loop run. */
static char *fake_read(struct fake_qmp *f)
{
    GSocket *s = g_socket_connection_get_socket(f->conn);
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (g_socket_condition_check(s, G_IO_IN) == 0 && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return g_data_input_stream_read_line(f->in, NULL, NULL, NULL);
}

/* Connect a DvQmpClient to a fresh fake server at @path (greeting and capabilities done). */
static DvQmpClient *fake_connect(struct fake_qmp *f, const char *path)
{
    f->listener = g_socket_listener_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    assert_true(g_socket_listener_add_address(f->listener, addr, G_SOCKET_TYPE_STREAM,
                                              G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, NULL));
    DvQmpClient *client = NULL;
    dv_qmp_client_connect_async(path, NULL, connect_cb, &client);
    g_socket_listener_accept_async(f->listener, NULL, accept_cb, &f->conn);
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (f->conn == NULL && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    assert_non_null(f->conn);
    f->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(f->conn)));
    f->out = g_io_stream_get_output_stream(G_IO_STREAM(f->conn));
    fake_send(f, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}");
    g_free(fake_read(f));
    fake_send(f, "{\"return\": {}, \"id\": 1}");
    end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (client == NULL && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    assert_non_null(client);
    return client;
}

/* Read one request: check its command, answer it with @ret (JSON text) or, when NULL, with the
 * error "COMMAND failed"; return its arguments (NULL when it had none). */
static JsonObject *fake_reply(struct fake_qmp *f, const char *command, const char *ret)
{
    g_autofree char *line = fake_read(f);
    assert_non_null(line);
    g_autoptr(JsonNode) req = json_from_string(line, NULL);
    assert_non_null(req);
    JsonObject *o = json_node_get_object(req);
    assert_string_equal(json_object_get_string_member(o, "execute"), command);
    JsonObject *args = json_object_get_member(o, "arguments")
                           ? json_object_get_object_member(o, "arguments")
                           : NULL;
    gint64 id = json_object_get_int_member(o, "id");
    g_autofree char *reply =
        ret ? g_strdup_printf("{\"return\": %s, \"id\": %" G_GINT64_FORMAT "}", ret, id)
            : g_strdup_printf("{\"error\": {\"class\": \"GenericError\", \"desc\": \"%s "
                              "failed\"}, \"id\": %" G_GINT64_FORMAT "}",
                              command, id);
    fake_send(f, reply);
    return args ? json_object_ref(args) : NULL;
}

/* fake_reply() when the arguments do not matter. */
static void fake_drop(struct fake_qmp *f, const char *command, const char *ret)
{
    JsonObject *args = fake_reply(f, command, ret);
    if (args != NULL) {
        json_object_unref(args);
    }
}

struct snap_result {
    gboolean done, ok;
    DvSnapshot *snap;
    GError *error;
};

static void took_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    struct snap_result *r = data;
    r->snap = dv_snapshot_store_take_finish(DV_SNAPSHOT_STORE(src), res, &r->error);
    r->done = TRUE;
}

static void reverted_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    struct snap_result *r = data;
    r->ok = dv_snapshot_store_revert_finish(DV_SNAPSHOT_STORE(src), res, &r->error);
    r->done = TRUE;
}

static void test_snapshot_validate(void **state)
{
    GError *e = NULL;
    assert_true(dv_snapshot_validate("before typing", "a\nmulti-line description", NULL));
    assert_true(dv_snapshot_validate("Ünïcode ✓", NULL, NULL));
    const char *bad[] = {"", "   ", "tab\there", "\x01", "\xff\xfe"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_false(dv_snapshot_validate(bad[i], "", &e));
        assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_INVALID));
        g_clear_error(&e);
    }
    g_autofree char *long_name = g_strnfill(DV_SNAPSHOT_NAME_MAX + 1, 'x');
    assert_false(dv_snapshot_validate(long_name, "", NULL));
    long_name[DV_SNAPSHOT_NAME_MAX] = '\0';
    assert_true(dv_snapshot_validate(long_name, "", NULL));
    g_autofree char *long_desc = g_strnfill(DV_SNAPSHOT_DESCRIPTION_MAX + 1, 'd');
    assert_false(dv_snapshot_validate("n", long_desc, NULL));
    assert_false(dv_snapshot_validate("n", "\xc3", NULL));
}

static void deleted_cb(GObject *src, GAsyncResult *res, gpointer data)
{
    struct snap_result *r = data;
    r->ok = dv_snapshot_store_delete_finish(DV_SNAPSHOT_STORE(src), res, &r->error);
    r->done = TRUE;
}

/* The ids of @m in order, joined with spaces (legacy ones as "L7"). */
static char *model_ids(GListModel *m)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < g_list_model_get_n_items(m); i++) {
        g_autoptr(DvSnapshot) s = g_list_model_get_item(m, i);
        g_string_append_printf(out, "%s%s%s", i ? " " : "", dv_snapshot_is_legacy(s) ? "L" : "",
                               dv_snapshot_get_id(s));
    }
    return g_string_free(out, FALSE);
}

static void assert_ids(GListModel *m, const char *want)
{
    g_autofree char *got = model_ids(m);
    assert_string_equal(got, want);
}

/* A query-snapshots entry as the engine answers it. */
#define QS(id, parent, name, t, thumb, cur)                                                        \
    "{\"id\": \"" id "\", \"parent\": " parent ", \"name\": \"" name "\", \"description\": "       \
    "\"\", \"created\": " t ", \"checkpoint\": \"/v/snap-" id ".dvs\", \"disks\": [], "            \
    "\"thumbnail\": " thumb ", \"current\": " cur "}"

static void test_snapshot_store(void **state)
{
    g_autofree char *vmdir = g_build_filename(tmp_root, "snapvm", NULL);
    g_autofree char *path = g_build_filename(tmp_root, "snap.qmp", NULL);
    g_autofree char *sdir = g_build_filename(vmdir, "snapshots", NULL);
    g_mkdir_with_parents(vmdir, 0700);
    struct fake_qmp f = {0};
    DvQmpClient *client = fake_connect(&f, path);
    g_autoptr(DvSnapshotStore) store = dv_snapshot_store_new(vmdir);
    GListModel *model = dv_snapshot_store_get_model(store);
    GError *e = NULL;
    assert_true(dv_snapshot_store_load(store, &e)); /* no index yet: empty */
    assert_int_equal(g_list_model_get_n_items(model), 0);

    /* Take: snapshot-take with name and description, then query-snapshots; a second take
     * meanwhile is refused. */
    struct snap_result r = {0}, busy = {0};
    dv_snapshot_store_take_async(store, client, "first", "the banner", NULL, took_cb, &r);
    assert_true(dv_snapshot_store_is_busy(store));
    dv_snapshot_store_take_async(store, client, "second", "", NULL, took_cb, &busy);
    assert_true(wait_flag(&busy.done, 2000));
    assert_true(g_error_matches(busy.error, DV_ERROR, DV_ERROR_BUSY));
    g_clear_error(&busy.error);
    g_autoptr(JsonObject) args = fake_reply(&f, "snapshot-take", "{\"id\": \"1\"}");
    assert_string_equal(json_object_get_string_member(args, "name"), "first");
    assert_string_equal(json_object_get_string_member(args, "description"), "the banner");
    fake_drop(&f, "query-snapshots",
              "[" QS("1", "null", "first", "10", "\"/v/snap-1.png\"", "true") "]");
    assert_true(wait_flag(&r.done, 2000));
    assert_null(r.error);
    assert_non_null(r.snap);
    assert_false(dv_snapshot_store_is_busy(store));
    assert_string_equal(dv_snapshot_get_id(r.snap), "1");
    assert_string_equal(dv_snapshot_get_thumbnail(r.snap), "/v/snap-1.png");
    assert_string_equal(dv_snapshot_get_file(r.snap), "/v/snap-1.dvs");
    assert_null(dv_snapshot_get_parent(r.snap));
    assert_true(dv_snapshot_is_current(r.snap));
    assert_false(dv_snapshot_is_legacy(r.snap));
    assert_int_equal(dv_snapshot_get_time(r.snap), 10);
    g_clear_object(&r.snap);

    /* The engine refuses (a raw disk, say): its message comes back, the list is unchanged. */
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_take_async(store, client, "doomed", "", NULL, took_cb, &r);
    g_autoptr(JsonObject) da0 = fake_reply(&f, "snapshot-take", NULL);
    assert_false(json_object_has_member(da0, "description")); /* empty: not sent */
    assert_true(wait_flag(&r.done, 2000));
    assert_null(r.snap);
    assert_true(g_error_matches(r.error, DV_ERROR, DV_ERROR_QMP));
    assert_non_null(strstr(r.error->message, "Snapshot not taken: "));
    assert_non_null(strstr(r.error->message, "snapshot-take failed"));
    g_clear_error(&r.error);
    assert_ids(model, "1");

    /* A tree: 1 -> {2 -> 4, 3}, listed by the engine in another order; the model is
     * depth-first, siblings oldest first. */
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_take_async(store, client, "fourth", "", NULL, took_cb, &r);
    g_autoptr(JsonObject) a4 = fake_reply(&f, "snapshot-take", "{\"id\": \"4\"}");
    const char *tree4 = "[" QS("3", "\"1\"", "third", "30", "null", "false") ", " QS(
        "1", "null", "first", "10", "\"/v/snap-1.png\"",
        "false") ", " QS("4", "\"2\"", "fourth", "40", "null",
                         "true") ", " QS("2", "\"1\"", "second", "20", "null", "false") "]";
    fake_drop(&f, "query-snapshots", tree4);
    assert_true(wait_flag(&r.done, 2000));
    assert_non_null(r.snap);
    assert_string_equal(dv_snapshot_get_parent(r.snap), "2");
    g_clear_object(&r.snap);
    assert_ids(model, "1 2 4 3");

    /* Revert: snapshot-revert of the id, then the list again. */
    g_autoptr(DvSnapshot) s3 = g_list_model_get_item(model, 3);
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_revert_async(store, client, s3, NULL, reverted_cb, &r);
    g_autoptr(JsonObject) ra = fake_reply(&f, "snapshot-revert", "{}");
    assert_string_equal(json_object_get_string_member(ra, "id"), "3");
    fake_drop(&f, "query-snapshots", tree4);
    assert_true(wait_flag(&r.done, 2000));
    assert_true(r.ok);
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_revert_async(store, client, s3, NULL, reverted_cb, &r);
    fake_drop(&f, "snapshot-revert", NULL);
    assert_true(wait_flag(&r.done, 2000));
    assert_false(r.ok);
    assert_true(g_str_has_prefix(r.error->message, "Snapshot not reverted: "));
    assert_non_null(strstr(r.error->message, "snapshot-revert failed"));
    g_clear_error(&r.error);

    /* Delete: refused by the engine (error kept, list unchanged), then done: 4 moves up. */
    g_autoptr(DvSnapshot) s2 = g_list_model_get_item(model, 1);
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_delete_async(store, client, s2, NULL, deleted_cb, &r);
    fake_drop(&f, "snapshot-delete", NULL);
    assert_true(wait_flag(&r.done, 2000));
    assert_false(r.ok);
    assert_true(g_error_matches(r.error, DV_ERROR, DV_ERROR_QMP));
    assert_true(g_str_has_prefix(r.error->message, "Snapshot not deleted: "));
    assert_non_null(strstr(r.error->message, "snapshot-delete failed"));
    g_clear_error(&r.error);
    assert_ids(model, "1 2 4 3");
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_delete_async(store, client, s2, NULL, deleted_cb, &r);
    g_autoptr(JsonObject) da = fake_reply(&f, "snapshot-delete", "{}");
    assert_string_equal(json_object_get_string_member(da, "id"), "2");
    fake_drop(&f, "query-snapshots",
              "[" QS("1", "null", "first", "10", "null", "false") ", " QS(
                  "3", "\"1\"", "third", "30", "null", "true") ", " QS("4", "\"1\"", "fourth", "40",
                                                                       "null", "false") "]");
    assert_true(wait_flag(&r.done, 2000));
    assert_true(r.ok);
    assert_ids(model, "1 3 4");
    /* Without an engine a tree snapshot is not deleted (the engine merges its image). */
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_delete_async(store, NULL, s3, NULL, deleted_cb, &r);
    assert_true(wait_flag(&r.done, 2000));
    assert_true(g_error_matches(r.error, DV_ERROR, DV_ERROR_BUSY));
    g_clear_error(&r.error);
    /* A damaged answer is an error and leaves the list as it was. */
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_refresh_async(store, client, NULL, reverted_cb, &r);
    assert_null(
        fake_reply(&f, "query-snapshots", "[" QS("5", "\"9\"", "x", "1", "null", "false") "]"));
    assert_true(wait_flag(&r.done, 2000));
    assert_true(g_error_matches(r.error, DV_ERROR, DV_ERROR_CORRUPT));
    g_clear_error(&r.error);
    assert_ids(model, "1 3 4");

    /* Stopped VM: the engine's snapshots.json, read as it is (thumbnails are file names in the
     * directory, "current" at the top), plus the legacy index.json of an older app. */
    g_mkdir_with_parents(sdir, 0755);
    g_autofree char *tree_index = g_build_filename(sdir, "snapshots.json", NULL);
    assert_true(g_file_set_contents(
        tree_index,
        "{\"next-id\": 3, \"next-image\": 3, \"current\": \"2\", \"active\": "
        "[\"/v/disk0-2.qcow2\", \"/img/ro.raw\"], \"images\": {}, \"snapshots\": ["
        "{\"id\": \"1\", \"parent\": null, \"name\": \"a\", \"description\": \"d\", \"created\": 5,"
        " \"checkpoint\": \"/v/snap-1.dvs\", \"disks\": [], \"thumbnail\": \"snap-1.png\"},"
        "{\"id\": \"2\", \"parent\": \"1\", \"name\": \"b\", \"description\": \"\", \"created\": 6,"
        " \"checkpoint\": \"/v/snap-2.dvs\", \"disks\": [], \"thumbnail\": null}]}",
        -1, NULL));
    g_autofree char *index = g_build_filename(sdir, "index.json", NULL);
    g_autofree char *l7 = g_build_filename(sdir, "7.dvs", NULL);
    g_autofree char *l7png = g_build_filename(sdir, "7.png", NULL);
    assert_true(g_file_set_contents(
        index,
        "{\"version\": 1, \"snapshots\": [{\"id\": \"7\", \"name\": \"old\", \"time\": 5, "
        "\"thumbnail\": true}]}",
        -1, NULL));
    assert_true(g_file_set_contents(l7, "ckpt", -1, NULL));
    assert_true(g_file_set_contents(l7png, "png", -1, NULL));
    g_autoptr(DvSnapshotStore) again = dv_snapshot_store_new(vmdir);
    assert_true(dv_snapshot_store_load(again, &e));
    GListModel *m2 = dv_snapshot_store_get_model(again);
    assert_ids(m2, "1 2 L7");
    g_autoptr(DvSnapshot) t1 = g_list_model_get_item(m2, 0);
    g_autoptr(DvSnapshot) t2 = g_list_model_get_item(m2, 1);
    g_autoptr(DvSnapshot) old = g_list_model_get_item(m2, 2);
    g_autofree char *want_png = g_build_filename(sdir, "snap-1.png", NULL);
    assert_string_equal(dv_snapshot_get_thumbnail(t1), want_png);
    assert_false(dv_snapshot_is_current(t1));
    assert_true(dv_snapshot_is_current(t2));
    assert_string_equal(dv_snapshot_get_parent(t2), "1");
    assert_true(dv_snapshot_is_legacy(old));
    assert_string_equal(dv_snapshot_get_file(old), l7);
    assert_string_equal(dv_snapshot_get_thumbnail(old), l7png);
    g_auto(GStrv) active = dv_snapshot_active_disks(sdir, &e);
    assert_null(e);
    assert_int_equal(g_strv_length(active), 2);
    assert_string_equal(active[0], "/v/disk0-2.qcow2");

    /* A legacy snapshot reverts with snapshot-load of its file (memory only). */
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_revert_async(again, client, old, NULL, reverted_cb, &r);
    g_autoptr(JsonObject) la = fake_reply(&f, "snapshot-load", "{}");
    assert_string_equal(json_object_get_string_member(la, "file"), l7);
    fake_drop(&f, "query-snapshots", "[]");
    assert_true(wait_flag(&r.done, 2000));
    assert_true(r.ok);
    assert_ids(m2, "L7"); /* the engine's answer replaced the tree */

    /* Damaged legacy indexes: refused with the reason, the store then changes nothing there. */
    const char *bad[] = {
        "not json",
        "[]",
        "{\"version\": 2, \"snapshots\": []}",
        "{\"version\": 1}",
        "{\"version\": 1, \"snapshots\": [1]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"../x\", \"name\": \"a\", \"time\": 1}]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"01\", \"name\": \"a\", \"time\": 1}]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"1\", \"name\": \"\", \"time\": 1}]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"1\", \"name\": \"a\", \"time\": -1}]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"1\", \"name\": \"a\", \"time\": \"1\"}]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"1\", \"name\": \"a\", \"time\": 1}, "
        "{\"id\": \"1\", \"name\": \"b\", \"time\": 2}]}",
        "{\"version\": 1, \"snapshots\": [{\"id\": \"9999999999\", \"name\": \"a\", \"time\": 1}]}",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_true(g_file_set_contents(index, bad[i], -1, NULL));
        assert_false(dv_snapshot_store_load(again, &e));
        assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_CORRUPT));
        g_clear_error(&e);
        assert_ids(m2, "1 2"); /* the engine's tree still shows */
        memset(&r, 0, sizeof(r));
        dv_snapshot_store_delete_async(again, NULL, old, NULL, deleted_cb, &r);
        assert_true(wait_flag(&r.done, 2000));
        assert_true(g_error_matches(r.error, DV_ERROR, DV_ERROR_CORRUPT));
        g_clear_error(&r.error);
        g_autofree char *kept = NULL;
        assert_true(g_file_get_contents(index, &kept, NULL, NULL));
        assert_string_equal(kept, bad[i]);
    }

    /* A legacy delete needs no engine: out of index.json, then its files. */
    assert_true(g_file_set_contents(
        index,
        "{\"version\": 1, \"snapshots\": [{\"id\": \"7\", \"name\": \"old\", \"time\": 5, "
        "\"thumbnail\": true}]}",
        -1, NULL));
    assert_true(dv_snapshot_store_load(again, NULL));
    g_autoptr(DvSnapshot) old2 = g_list_model_get_item(m2, 2);
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_delete_async(again, NULL, old2, NULL, deleted_cb, &r);
    assert_true(wait_flag(&r.done, 2000));
    assert_true(r.ok);
    assert_false(g_file_test(l7, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(l7png, G_FILE_TEST_EXISTS));
    assert_ids(m2, "1 2");
    assert_true(dv_snapshot_store_load(again, NULL));
    assert_ids(m2, "1 2");
    /* A legacy revert whose file is gone is refused before the engine is asked. */
    memset(&r, 0, sizeof(r));
    dv_snapshot_store_revert_async(again, client, old2, NULL, reverted_cb, &r);
    assert_true(wait_flag(&r.done, 2000));
    assert_true(g_error_matches(r.error, DV_ERROR, DV_ERROR_NOT_FOUND));
    g_clear_error(&r.error);

    /* A damaged snapshots.json: a thumbnail outside the directory, an "active" that is not a
     * list of absolute paths. */
    assert_true(g_file_set_contents(
        tree_index,
        "{\"current\": null, \"active\": [\"rel.qcow2\"], \"snapshots\": [{\"id\": \"1\", "
        "\"parent\": null, \"name\": \"a\", \"created\": 5, \"thumbnail\": \"../x.png\"}]}",
        -1, NULL));
    assert_false(dv_snapshot_store_load(again, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_CORRUPT));
    g_clear_error(&e);
    assert_null(dv_snapshot_active_disks(sdir, &e));
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_CORRUPT));
    g_clear_error(&e);
    g_unlink(tree_index);
    assert_null(dv_snapshot_active_disks(sdir, &e));
    assert_null(e);

    dv_qmp_client_close(client);
    g_object_unref(client);
    g_io_stream_close(G_IO_STREAM(f.conn), NULL, NULL);
    g_object_unref(f.in);
    g_object_unref(f.conn);
    g_object_unref(f.listener);
}

static void test_qmp_client(void **state)
{
    g_autofree char *path = g_build_filename(tmp_root, "fake.qmp", NULL);
    struct fake_qmp f = {0};
    f.listener = g_socket_listener_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    assert_true(g_socket_listener_add_address(f.listener, addr, G_SOCKET_TYPE_STREAM,
                                              G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, NULL));
    DvQmpClient *client = NULL;
    dv_qmp_client_connect_async(path, NULL, connect_cb, &client);
    gint64 end0 = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    g_socket_listener_accept_async(f.listener, NULL, accept_cb, &f.conn);
    while (f.conn == NULL && g_get_monotonic_time() < end0) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    assert_non_null(f.conn);
    f.in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(f.conn)));
    f.out = g_io_stream_get_output_stream(G_IO_STREAM(f.conn));
    fake_send(&f, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}");
    g_autofree char *caps = fake_read(&f);
    assert_non_null(strstr(caps, "\"execute\":\"qmp_capabilities\""));
    assert_null(client); /* not connected before the capabilities reply */
    fake_send(&f, "{\"return\": {}, \"id\": 1}");
    gboolean dummy = FALSE;
    wait_flag(&dummy, 100);
    assert_non_null(client);

    GString *events = g_string_new(NULL);
    g_signal_connect(client, "event", G_CALLBACK(event_cb), events);
    struct exec_result r1 = {0}, r2 = {0}, r3 = {0};
    dv_qmp_client_execute_async(client, "query-status", NULL, NULL, exec_cb, &r1);
    dv_qmp_client_execute_async(client, "cont", NULL, NULL, exec_cb, &r2);
    g_autofree char *q1 = fake_read(&f);
    assert_non_null(strstr(q1, "\"query-status\""));
    assert_non_null(strstr(q1, "\"id\":2"));
    /* An event first, then the replies out of order: each reaches its request by id. */
    fake_send(&f, "{\"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": \"x\"}, "
                  "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}");
    fake_send(&f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 3}");
    fake_send(&f, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}");
    fake_send(&f, "this is not json");
    fake_send(&f, "{\"event\": \"STOP\"}");
    assert_true(wait_flag(&r2.done, 2000));
    assert_true(wait_flag(&r1.done, 2000));
    assert_non_null(r1.ret);
    assert_string_equal(json_object_get_string_member(json_node_get_object(r1.ret), "status"),
                        "running");
    assert_null(r2.ret);
    assert_true(g_error_matches(r2.error, DV_ERROR, DV_ERROR_QMP));
    assert_string_equal(r2.error->message, "GenericError: no");
    gboolean stop_seen = FALSE;
    gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while (!(stop_seen = strstr(events->str, "STOP") != NULL) && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
    }
    assert_string_equal(events->str, "RESET(x);STOP(-);");

    /* The server goes away: a pending command fails instead of hanging. */
    dv_qmp_client_execute_async(client, "stop", NULL, NULL, exec_cb, &r3);
    g_free(fake_read(&f));
    g_io_stream_close(G_IO_STREAM(f.conn), NULL, NULL);
    assert_true(wait_flag(&r3.done, 2000));
    assert_true(g_error_matches(r3.error, DV_ERROR, DV_ERROR_QMP));

    json_node_unref(r1.ret);
    g_clear_error(&r2.error);
    g_clear_error(&r3.error);
    g_string_free(events, TRUE);
    g_object_unref(client);
    g_object_unref(f.in);
    g_object_unref(f.conn);
    g_object_unref(f.listener);
}

static void state_cb(GObject *obj, GParamSpec *pspec, gpointer data)
{
    *(gboolean *)data = TRUE;
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

/* An engine that dies at start: the VM is marked crashed with its log, the library intact. */
static void test_engine_crash(void **state)
{
    g_autofree char *fake = g_build_filename(tmp_root, "fake-engine.sh", NULL);
    assert_true(g_file_set_contents(fake,
                                    "#!/bin/sh\necho \"deskvm-vm: cannot map guest RAM: out of "
                                    "memory\" >&2\nexit 1\n",
                                    -1, NULL));
    g_chmod(fake, 0755);
    g_autofree char *kvm = g_build_filename(tmp_root, "fake-kvm", NULL);
    assert_true(g_file_set_contents(kvm, "", -1, NULL));
    g_autofree char *old_vm = g_strdup(g_getenv("DESKVM_VM"));
    g_setenv("DESKVM_VM", fake, TRUE);
    g_setenv("DESKVM_KVM_DEVICE", kvm, TRUE);

    g_autofree char *root = lib_root("crash");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup("dies");
    cfg->demo = true;
    DvVm *vm = dv_library_create(lib, cfg, NULL);
    dv_vm_config_free(cfg);
    gboolean changed = FALSE;
    g_signal_connect(vm, "notify::state", G_CALLBACK(state_cb), &changed);
    assert_true(dv_vm_start(vm, NULL));
    assert_true(changed);
    assert_int_equal(dv_vm_get_state(vm), DV_VM_STARTING);
    assert_true(wait_state(vm, DV_VM_CRASHED, 10000));
    const GError *e = dv_vm_get_error(vm);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "exited with status 1"));
    assert_non_null(strstr(e->message, "cannot map guest RAM"));
    assert_non_null(dv_library_lookup(lib, "dies"));
    /* It can be started again (and crashes again). */
    assert_true(dv_vm_start(vm, NULL));
    assert_true(wait_state(vm, DV_VM_CRASHED, 10000));

    /* No access to the KVM device: refused before spawning, with the kvm-group fix. */
    g_setenv("DESKVM_KVM_DEVICE", "/nonexistent/kvm", TRUE);
    g_autoptr(GError) e2 = NULL;
    assert_false(dv_vm_start(vm, &e2));
    assert_true(g_error_matches(e2, DV_ERROR, DV_ERROR_KVM_ACCESS));
    assert_non_null(strstr(dv_error_fix_hint(e2), "kvm group"));
    g_unsetenv("DESKVM_KVM_DEVICE");
    if (old_vm != NULL) {
        g_setenv("DESKVM_VM", old_vm, TRUE);
    } else {
        g_unsetenv("DESKVM_VM");
    }
}

static void serial_cb(DvEngine *engine, GBytes *bytes, gpointer data)
{
    gsize len;
    const char *p = g_bytes_get_data(bytes, &len);
    g_string_append_len(data, p, (gssize)len);
}

static gboolean wait_text(GString *s, const char *text, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (strstr(s->str, text) == NULL && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return strstr(s->str, text) != NULL;
}

/* The real engine on its demo guest: state over QMP, serial both ways (its console socket),
 * force off. */
static void test_real_engine(void **state)
{
    const char *engine = g_getenv("DESKVM_VM");
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (engine == NULL || fd < 0) {
        skip();
    }
    close(fd);
    g_autofree char *root = lib_root("real");
    g_autoptr(DvLibrary) lib = dv_library_new(root);
    assert_true(dv_library_load(lib, NULL));
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup("demo");
    cfg->demo = true;
    cfg->memory_mib = 64;
    DvVm *vm = dv_library_create(lib, cfg, NULL);
    dv_vm_config_free(cfg);
    g_autoptr(GError) e = NULL;
    assert_true(dv_vm_start(vm, &e));
    GString *serial = g_string_new(NULL);
    g_signal_connect(dv_vm_get_engine(vm), "serial-output", G_CALLBACK(serial_cb), serial);
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    assert_true(wait_text(serial, "deskvm demo guest", 20000));
    dv_engine_serial_write(dv_vm_get_engine(vm), "xyz", 3);
    assert_true(wait_text(serial, "xyz", 10000));
    /* Bytes go both ways untouched but for \n -> \r\n towards the terminal (what a pty's
     * ONLCR did): the guest echoes Enter as \n, and Ctrl+C is a byte for the guest. */
    dv_engine_serial_write(dv_vm_get_engine(vm), "k\r", 2);
    assert_true(wait_text(serial, "k\r\n", 10000));
    dv_engine_serial_write(dv_vm_get_engine(vm), "\x03", 1);
    assert_true(wait_text(serial, "\x03", 10000));
    assert_true(dv_vm_pause(vm, NULL));
    assert_true(wait_state(vm, DV_VM_PAUSED, 10000));
    assert_false(dv_vm_pause(vm, &e)); /* already paused */
    assert_true(g_error_matches(e, DV_ERROR, DV_ERROR_BUSY));
    g_clear_error(&e);
    assert_false(dv_library_delete(lib, vm, &e)); /* not while it runs */
    g_clear_error(&e);
    assert_true(dv_vm_resume(vm, NULL));
    assert_true(wait_state(vm, DV_VM_RUNNING, 10000));
    assert_true(dv_vm_force_off(vm, NULL));
    assert_true(wait_state(vm, DV_VM_STOPPED, 10000));
    assert_null(dv_vm_get_engine(vm));
    /* Start again; 'q' makes the demo guest power off through ACPI: a clean stop. */
    assert_true(dv_vm_start(vm, NULL));
    assert_true(wait_state(vm, DV_VM_RUNNING, 20000));
    g_string_truncate(serial, 0);
    g_signal_connect(dv_vm_get_engine(vm), "serial-output", G_CALLBACK(serial_cb), serial);
    assert_true(wait_text(serial, ":", 20000)); /* the clock: the guest reads its input */
    dv_engine_serial_write(dv_vm_get_engine(vm), "q", 1);
    assert_true(wait_state(vm, DV_VM_STOPPED, 20000));
    assert_null(dv_vm_get_error(vm));
    g_string_free(serial, TRUE);
}

/* The schema compiled in the build dir (meson passes GSETTINGS_SCHEMA_DIR; main() takes it out
 * of the environment so that the default source has no deskvm schema). */
static char *schema_dir;

static void test_prefs(void **state)
{
    /* Not installed: no settings, the schema's defaults, saving does nothing. */
    GSettings *none = dv_prefs_open(NULL);
    assert_null(none);
    struct dv_prefs p;
    dv_prefs_read(NULL, &p);
    assert_int_equal(p.window_width, 960);
    assert_int_equal(p.window_height, 640);
    assert_false(p.window_maximized);
    assert_null(p.vm_dir);
    assert_int_equal(p.memory_mib, 0);
    assert_int_equal(p.cpus, 0);
    dv_prefs_save_window(NULL, 100, 100, TRUE);
    struct dv_new_vm m = {.memory_mib = 512, .vcpus = 1};
    dv_new_vm_use_prefs(&m, p.memory_mib, p.cpus);
    assert_int_equal(m.memory_mib, 512);
    assert_int_equal(m.vcpus, 1);

    /* Installed (the build dir's compiled schema, memory backend). */
    assert_non_null(schema_dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSettingsSchemaSource) src =
        g_settings_schema_source_new_from_directory(schema_dir, NULL, TRUE, &error);
    assert_non_null(src);
    g_autoptr(GSettings) s = dv_prefs_open(src);
    assert_non_null(s);
    dv_prefs_read(s, &p);
    assert_int_equal(p.window_width, 960);
    assert_null(p.vm_dir);
    g_settings_set_string(s, "vm-directory", "/srv/vms");
    g_settings_set_uint(s, "default-memory-mib", 1536);
    g_settings_set_uint(s, "default-cpus", 3);
    dv_prefs_save_window(s, 1200, 10, FALSE); /* height clamped to the schema's minimum */
    dv_prefs_read(s, &p);
    assert_int_equal(p.window_width, 1200);
    assert_int_equal(p.window_height, 240);
    assert_false(p.window_maximized);
    assert_string_equal(p.vm_dir, "/srv/vms");
    dv_new_vm_use_prefs(&m, p.memory_mib, p.cpus);
    assert_int_equal(m.memory_mib, 1536);
    assert_int_equal(m.vcpus, 3);
    dv_prefs_clear(&p);
    /* Maximized keeps the size to go back to. */
    dv_prefs_save_window(s, 3000, 2000, TRUE);
    dv_prefs_read(s, &p);
    assert_true(p.window_maximized);
    assert_int_equal(p.window_width, 1200);
    dv_prefs_clear(&p);
}

int main(void)
{
    tmp_root = g_dir_make_tmp("deskvm-gui-test-XXXXXX", NULL);
    g_autofree char *data = g_build_filename(tmp_root, "data", NULL);
    g_autofree char *run = g_build_filename(tmp_root, "run", NULL);
    g_mkdir_with_parents(data, 0700);
    g_mkdir_with_parents(run, 0700);
    g_setenv("XDG_DATA_HOME", data, TRUE);
    g_setenv("XDG_RUNTIME_DIR", run, TRUE);
    schema_dir = g_strdup(g_getenv("GSETTINGS_SCHEMA_DIR"));
    g_unsetenv("GSETTINGS_SCHEMA_DIR");
    g_setenv("XDG_DATA_DIRS", data, TRUE);
    g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_xml_round_trip),
        cmocka_unit_test(test_xml_from_libvirt),
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_bad_xml),
        cmocka_unit_test(test_library_create_and_corrupt),
        cmocka_unit_test(test_clone_import_export_delete),
        cmocka_unit_test(test_new_vm_validation),
        cmocka_unit_test(test_prefs),
        cmocka_unit_test(test_first_start_demo),
        cmocka_unit_test(test_qmp_client),
        cmocka_unit_test(test_snapshot_validate),
        cmocka_unit_test(test_snapshot_store),
        cmocka_unit_test(test_engine_crash),
        cmocka_unit_test(test_real_engine),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) {
        rc = rc ? rc : 1;
    }
    g_free(tmp_root);
    return rc;
}
