// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * deskvm-vm: run one virtual machine, headless, from the command line. With no kernel given
 * it runs the embedded demo guest. Exit statuses are listed in docs/exit-status.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "io/virtio_blk.h"
#include "io/virtio_net.h"
#include "vmm/chardev.h"
#include "vmm/cli.h"
#include "vmm/display_machine.h"
#include "vmm/evloop.h"
#include "vmm/input_qmp.h"
#include "vmm/kvm.h"
#include "vmm/pc.h"
#include "vmm/qmp.h"
#include "vmm/ahci_machine.h"
#include "vmm/firmware.h"
#include "vmm/pci_machine.h"
#include "vmm/virtio_io.h"
#include "vmm/virtio_machine.h"
#include "vmm/snapshot.h"
#include "vmm/snaptree.h"
#include "vmm/teardown.h"
#include "vmm/vm.h"

extern const unsigned char demo_guest_elf[];
extern const size_t demo_guest_elf_len;

struct engine {
    struct vm vm;
    struct kvm_sys kvm;
    struct evloop *loop;
    struct qmp_server *qmp;
    struct display_machine *display; /* NULL without --display/--vnc */
    struct input_qmp input;          /* send-key, input-send-event */
    bool input_ready;
    struct chardev serial;
    struct cli_options opt;
    struct virtio_io io;       /* --disk, --net */
    struct ahci_machine *ahci; /* --disk ...,bus=sata, --cdrom */
    struct snaptree tree;      /* opened on the first snapshot tree command */
    bool tree_open;
    int sigfd;
    struct teardown teardown; /* the async tear-down helper, or sock -1 */
};

static void emit(struct engine *e, const char *event, json_t *data)
{
    if (e->qmp) {
        qmp_server_event(e->qmp, event, data);
    }
    json_decref(data);
}

static void emit_display(void *opaque, const char *event, json_t *data)
{
    emit(opaque, event, data);
}

static void on_state(void *opaque, enum vm_run_state old, enum vm_run_state state)
{
    struct engine *e = opaque;
    if (state == VM_PAUSED || (state == VM_INTERNAL_ERROR && old == VM_RUNNING)) {
        emit(e, "STOP", NULL);
    } else if (state == VM_RUNNING && old != VM_PRELAUNCH) {
        emit(e, "RESUME", NULL);
    }
    if (state == VM_INTERNAL_ERROR) {
        fprintf(stderr, "deskvm-vm: the VM stopped: %s\n", e->vm.error);
        if (!e->qmp) {
            /* Nobody can inspect or reset it: end the engine with the report printed. */
            evloop_stop(e->loop, EXIT_GUEST_ERROR);
        }
    }
}

static void on_reset(void *opaque, bool guest, const char *reason)
{
    emit(opaque, "RESET", json_pack("{s:b, s:s}", "guest", guest, "reason", reason));
}

static void on_shutdown(void *opaque, bool guest, const char *reason, int status)
{
    struct engine *e = opaque;
    emit(e, "SHUTDOWN", json_pack("{s:b, s:s}", "guest", guest, "reason", reason));
    evloop_stop(e->loop, status);
}

static void on_powerdown(void *opaque)
{
    emit(opaque, "POWERDOWN", NULL);
}

/* QMP commands (docs/qmp.md). */

/* None of them takes arguments: refuse any, as QEMU does ("Parameter 'X' is unexpected"). */
static const char *const no_args[] = {NULL};

static int cmd_query_status(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    *ret = json_pack("{s:b, s:b, s:s}", "running", e->vm.state == VM_RUNNING, "singlestep", 0,
                     "status", vm_state_name(e->vm.state));
    return 0;
}

static json_t *blockstats_entry(const char *device, const char *bus, const struct block_image *img,
                                const struct block_stats *st)
{
    return json_pack("{s:s, s:s, s:s?, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:I, s:I}}",
                     "device", device, "bus", bus, "file", img ? block_path(img) : NULL, "stats",
                     "rd_bytes", (json_int_t)st->bytes[BLOCK_STATS_READ], "wr_bytes",
                     (json_int_t)st->bytes[BLOCK_STATS_WRITE], "unmap_bytes",
                     (json_int_t)st->bytes[BLOCK_STATS_UNMAP], "rd_operations",
                     (json_int_t)st->ops[BLOCK_STATS_READ], "wr_operations",
                     (json_int_t)st->ops[BLOCK_STATS_WRITE], "flush_operations",
                     (json_int_t)st->ops[BLOCK_STATS_FLUSH], "unmap_operations",
                     (json_int_t)st->ops[BLOCK_STATS_UNMAP], "failed_rd_operations",
                     (json_int_t)st->failed[BLOCK_STATS_READ], "failed_wr_operations",
                     (json_int_t)st->failed[BLOCK_STATS_WRITE], "failed_flush_operations",
                     (json_int_t)st->failed[BLOCK_STATS_FLUSH], "failed_unmap_operations",
                     (json_int_t)st->failed[BLOCK_STATS_UNMAP], "rd_total_time_ns",
                     (json_int_t)st->total_ns[BLOCK_STATS_READ], "wr_total_time_ns",
                     (json_int_t)st->total_ns[BLOCK_STATS_WRITE], "flush_total_time_ns",
                     (json_int_t)st->total_ns[BLOCK_STATS_FLUSH]);
}

/*
 * Per-drive I/O counters since start, as the guest issued them (docs/qmp.md): "disk0".. in
 * --disk order on either bus, then "cd0".
 */
static int cmd_query_blockstats(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    json_t *list = json_array();
    unsigned nvirtio = 0, port = 0;
    char name[32];
    for (unsigned i = 0; i < e->opt.ndisks; i++) {
        snprintf(name, sizeof(name), "disk%u", i);
        if (!e->opt.disks[i].sata && nvirtio < e->io.nblk) {
            const struct virtio_blk *blk = e->io.blk[nvirtio++];
            json_array_append_new(list, blockstats_entry(name, "virtio", blk->img, &blk->stats));
        } else if (e->opt.disks[i].sata) {
            const struct ahci_port *p = ahci_machine_port(e->ahci, port++);
            if (p) {
                json_array_append_new(list, blockstats_entry(name, "sata", p->img, &p->stats));
            }
        }
    }
    const struct ahci_port *cd = e->opt.cdrom ? ahci_machine_port(e->ahci, port) : NULL;
    if (cd) {
        json_array_append_new(list, blockstats_entry("cd0", "sata", cd->img, &cd->stats));
    }
    *ret = list;
    return 0;
}

/* Per-NIC traffic counters since start, for the GUI's performance graphs (docs/qmp.md). */
static int cmd_query_netstats(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    json_t *list = json_array();
    for (unsigned i = 0; i < e->io.nnic; i++) {
        struct virtio_net_stats st;
        virtio_net_get_stats(e->io.nic[i], &st);
        json_array_append_new(
            list,
            json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "index", (int)i, "rx-bytes",
                      (json_int_t)st.rx_bytes, "tx-bytes", (json_int_t)st.tx_bytes, "rx-frames",
                      (json_int_t)st.rx_frames, "tx-frames", (json_int_t)st.tx_frames, "rx-dropped",
                      (json_int_t)st.rx_dropped, "tx-dropped", (json_int_t)st.tx_dropped));
    }
    *ret = list;
    return 0;
}

static int cmd_stop(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    vm_pause(&e->vm);
    int r = virtio_io_flush(&e->io);
    if (ahci_machine_flush(e->ahci) < 0) {
        r = -EIO;
    }
    if (r < 0) {
        /* Paused all the same; the image keeps the error (block_last_error). */
        qmp_error_set(err, "GenericError", "the VM is paused but a disk failed to flush");
        return -1;
    }
    return 0;
}

static int cmd_cont(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    if (e->vm.state == VM_INTERNAL_ERROR || e->vm.state == VM_SHUTDOWN) {
        err->cls = "GenericError";
        snprintf(err->desc, sizeof(err->desc), "Resetting the Virtual Machine is required");
        return -1;
    }
    vm_resume(&e->vm);
    return 0;
}

static int cmd_system_reset(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    if (vm_reset(&e->vm, false, "host-qmp-system-reset") < 0) {
        err->cls = "GenericError";
        snprintf(err->desc, sizeof(err->desc), "%.200s", e->vm.error);
        return -1;
    }
    return 0;
}

static int cmd_system_powerdown(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    vm_powerdown(&e->vm);
    return 0;
}

static int cmd_quit(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (qmp_arg_check_known(args, no_args, err) < 0) {
        return -1;
    }
    vm_request_shutdown(&e->vm, false, "host-qmp-quit", EXIT_OK);
    return 0;
}

/* Display commands (docs/qmp.md, docs/display.md) live with the display. */
static int cmd_screendump(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct engine *e = opaque;
    if (!e->display) {
        err->cls = "GenericError";
        snprintf(err->desc, sizeof(err->desc), "There is no console to take a screendump from");
        return -1;
    }
    return display_qmp_screendump(e->display, args, ret, err);
}

static int cmd_query_vnc(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return display_qmp_query_vnc(((struct engine *)opaque)->display, args, ret, err);
}

static int cmd_set_password(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return display_qmp_set_password(((struct engine *)opaque)->display, args, ret, err);
}

static int cmd_snapshot_save(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"file", "zstd", "live", NULL};
    struct engine *e = opaque;
    const char *file = NULL;
    bool zstd = false, live = false;
    if (qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "file", &file, true, err) < 0 ||
        qmp_arg_bool(args, "zstd", &zstd, false, err) < 0 ||
        qmp_arg_bool(args, "live", &live, false, err) < 0) {
        return -1;
    }
    if (zstd && live) {
        qmp_error_set(err, "GenericError", "live and zstd cannot be combined");
        return -1;
    }
    char msg[512];
    unsigned flags = (zstd ? VM_SNAPSHOT_ZSTD : 0) | (live ? VM_SNAPSHOT_LIVE : 0);
    if (vm_snapshot_save(&e->vm, file, flags, msg, sizeof(msg)) < 0) {
        qmp_error_set(err, "GenericError", "%s", msg);
        return -1;
    }
    return 0;
}

static int cmd_snapshot_load(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"file", "verify-ram", NULL};
    struct engine *e = opaque;
    const char *file = NULL;
    bool verify = true, background = false;
    json_t *v = json_object_get(args, "verify-ram");
    if (v && json_is_string(v) && strcmp(json_string_value(v), "background") == 0) {
        background = true; /* checked after the guest runs again (docs/qmp.md) */
    } else if (qmp_arg_bool(args, "verify-ram", &verify, false, err) < 0) {
        return -1;
    }
    if (qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "file", &file, true, err) < 0) {
        return -1;
    }
    if (e->vm.state == VM_SHUTDOWN) {
        qmp_error_set(err, "GenericError", "the VM has shut down");
        return -1;
    }
    char msg[512];
    unsigned flags = background ? VM_SNAPSHOT_VERIFY_BG : verify ? 0 : VM_SNAPSHOT_NO_VERIFY;
    if (vm_snapshot_load(&e->vm, file, flags, msg, sizeof(msg)) < 0) {
        qmp_error_set(err, "GenericError", "%s", msg);
        return -1;
    }
    return 0;
}

static int cmd_send_key(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return input_qmp_send_key(&((struct engine *)opaque)->input, args, ret, err);
}

static int cmd_input_send_event(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return input_qmp_send_event(&((struct engine *)opaque)->input, args, ret, err);
}

/* The snapshot tree, opened (index read) on first use. */
static struct snaptree *tree(struct engine *e, struct qmp_error *err)
{
    if (e->tree_open) {
        return &e->tree;
    }
    char dir[PATH_MAX], msg[512];
    if (e->opt.snapshot_dir) {
        snprintf(dir, sizeof(dir), "%s", e->opt.snapshot_dir);
    } else if (e->opt.ndisks) {
        snprintf(dir, sizeof(dir), "%s", e->opt.disks[0].file);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
        } else {
            snprintf(dir, sizeof(dir), ".");
        }
    } else {
        qmp_error_set(err, "GenericError", "no snapshot directory: use --snapshot-dir DIR");
        return NULL;
    }
    char *active[CLI_MAX_DISKS];
    for (unsigned i = 0; i < e->opt.ndisks; i++) {
        active[i] = e->opt.disks[i].file;
    }
    if (snaptree_open(&e->tree, dir, &e->vm, &e->io, active, e->opt.ndisks, msg, sizeof(msg)) < 0) {
        qmp_error_set(err, "GenericError", "%s", msg);
        return NULL;
    }
    e->tree.display = e->display;
    e->tree_open = true;
    return &e->tree;
}

static int cmd_snapshot_take(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"name", "description", NULL};
    struct engine *e = opaque;
    const char *name = NULL, *desc = NULL, *id = NULL;
    if (qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "name", &name, true, err) < 0 ||
        qmp_arg_string(args, "description", &desc, false, err) < 0) {
        return -1;
    }
    if (e->vm.state == VM_SHUTDOWN) {
        qmp_error_set(err, "GenericError", "the VM has shut down");
        return -1;
    }
    struct snaptree *t = tree(e, err);
    char msg[512];
    if (!t) {
        return -1;
    }
    if (snaptree_take(t, name, desc, &id, msg, sizeof(msg)) < 0) {
        qmp_error_set(err, "GenericError", "%s", msg);
        return -1;
    }
    *ret = json_pack("{s:s}", "id", id);
    return 0;
}

static int cmd_query_snapshots(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {NULL};
    struct snaptree *t;
    if (qmp_arg_check_known(args, known, err) < 0 || !(t = tree(opaque, err))) {
        return -1;
    }
    *ret = snaptree_list(t);
    return 0;
}

static int tree_by_id(void *opaque, json_t *args, struct qmp_error *err,
                      int (*fn)(struct snaptree *, const char *, char *, size_t))
{
    static const char *const known[] = {"id", NULL};
    struct engine *e = opaque;
    const char *id = NULL;
    struct snaptree *t;
    if (qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "id", &id, true, err) < 0 || !(t = tree(e, err))) {
        return -1;
    }
    if (e->vm.state == VM_SHUTDOWN) {
        qmp_error_set(err, "GenericError", "the VM has shut down");
        return -1;
    }
    char msg[512];
    if (fn(t, id, msg, sizeof(msg)) < 0) {
        qmp_error_set(err, "GenericError", "%s", msg);
        return -1;
    }
    return 0;
}

static int cmd_snapshot_revert(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return tree_by_id(opaque, args, err, snaptree_revert);
}

static int cmd_snapshot_delete(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return tree_by_id(opaque, args, err, snaptree_delete);
}

/*
 * --boot: fw_cfg "bootorder" with the firmware device path of each item. "disk" is the first
 * SATA disk, or the first virtio disk (SeaBIOS matches /pci@i0cf8/<any>@<slot> for it).
 */
static int set_bootorder(struct engine *e, char *err, size_t errlen)
{
    char paths[CLI_BOOT_MAX][96];
    const char *list[CLI_BOOT_MAX];
    for (unsigned i = 0; i < e->opt.nboot; i++) {
        list[i] = paths[i];
        enum ahci_drive d = e->opt.boot[i] == CLI_BOOT_CDROM ? AHCI_DRIVE_CDROM : AHCI_DRIVE_DISK;
        if (ahci_machine_boot_path(e->ahci, d, paths[i], sizeof(paths[i])) == 0) {
            continue;
        }
        bool found = false;
        for (unsigned k = 0; d == AHCI_DRIVE_DISK && k < e->vm.pci->nfns && !found; k++) {
            const struct pci_machine_fn *fn = e->vm.pci->order[k];
            if (fn->dev->name && !strcmp(fn->dev->name, "virtio-blk")) {
                snprintf(paths[i], sizeof(paths[i]), "/pci@i0cf8/scsi@%x/disk@0,0", fn->slot);
                found = true;
            }
        }
        if (!found) {
            snprintf(err, errlen, "no drive for item %u", i + 1);
            return -ENOENT;
        }
    }
    return firmware_set_bootorder(&e->vm, list, e->opt.nboot, err, errlen);
}

/* CD-ROM media (docs/qmp.md): the drive is "cd0", named by "device" or "id" as in QEMU. */
static int cdrom_arg(json_t *args, struct qmp_error *err)
{
    const char *dev = NULL, *id = NULL;
    if (qmp_arg_string(args, "device", &dev, false, err) < 0 ||
        qmp_arg_string(args, "id", &id, false, err) < 0) {
        return -1;
    }
    const char *name = dev ? dev : id;
    if (!name || (dev && id)) {
        qmp_error_set(err, "GenericError", "give one of 'device' or 'id'");
        return -1;
    }
    if (strcmp(name, "cd0") != 0) {
        qmp_error_set(err, "DeviceNotFound", "Device '%s' not found (the CD-ROM is 'cd0')", name);
        return -1;
    }
    return 0;
}

static int cdrom_change(struct engine *e, const char *file, bool force, struct qmp_error *err)
{
    char msg[512];
    int r = ahci_machine_change_medium(e->ahci, file, force, msg, sizeof(msg));
    if (r < 0) {
        qmp_error_set(err, r == -ENODEV ? "DeviceNotFound" : "GenericError", "%s", msg);
        return -1;
    }
    return 0;
}

static int cmd_eject(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"device", "id", "force", NULL};
    bool force = false;
    if (qmp_arg_check_known(args, known, err) < 0 || cdrom_arg(args, err) < 0 ||
        qmp_arg_bool(args, "force", &force, false, err) < 0) {
        return -1;
    }
    return cdrom_change(opaque, NULL, force, err);
}

static int cmd_blockdev_change_medium(void *opaque, json_t *args, json_t **ret,
                                      struct qmp_error *err)
{
    static const char *const known[] = {"device",         "id",    "filename", "format",
                                        "read-only-mode", "force", NULL};
    const char *file = NULL, *format = NULL, *ro = NULL;
    bool force = false;
    if (qmp_arg_check_known(args, known, err) < 0 || cdrom_arg(args, err) < 0 ||
        qmp_arg_string(args, "filename", &file, true, err) < 0 ||
        qmp_arg_string(args, "format", &format, false, err) < 0 ||
        qmp_arg_string(args, "read-only-mode", &ro, false, err) < 0 ||
        qmp_arg_bool(args, "force", &force, false, err) < 0) {
        return -1;
    }
    if (format && strcmp(format, "raw") != 0) {
        qmp_error_set(err, "GenericError", "format '%s': CD-ROM images are raw", format);
        return -1;
    }
    if (ro && strcmp(ro, "retain") != 0 && strcmp(ro, "read-only") != 0) {
        qmp_error_set(err, "GenericError", "read-only-mode '%s': the CD-ROM is read-only", ro);
        return -1;
    }
    return cdrom_change(opaque, file, force, err);
}

static const struct qmp_command engine_commands[] = {
    {"send-key", cmd_send_key},
    {"input-send-event", cmd_input_send_event},
    {"snapshot-take", cmd_snapshot_take},
    {"query-snapshots", cmd_query_snapshots},
    {"snapshot-revert", cmd_snapshot_revert},
    {"snapshot-delete", cmd_snapshot_delete},
    {"screendump", cmd_screendump},
    {"query-vnc", cmd_query_vnc},
    {"set_password", cmd_set_password},
    {"snapshot-save", cmd_snapshot_save},
    {"snapshot-load", cmd_snapshot_load},
    {"query-status", cmd_query_status},
    {"query-netstats", cmd_query_netstats},
    {"query-blockstats", cmd_query_blockstats},
    {"stop", cmd_stop},
    {"cont", cmd_cont},
    {"system_reset", cmd_system_reset},
    {"system_powerdown", cmd_system_powerdown},
    {"quit", cmd_quit},
    {"eject", cmd_eject},
    {"blockdev-change-medium", cmd_blockdev_change_medium},
};

static void on_signal(void *opaque, uint32_t events)
{
    struct engine *e = opaque;
    struct signalfd_siginfo si;
    if (read(e->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        vm_request_shutdown(&e->vm, false, "host-signal", EXIT_OK);
    }
}

static int setup_signals(struct engine *e)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    e->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (e->sigfd < 0) {
        return -errno;
    }
    return evloop_add_fd(e->loop, e->sigfd, EPOLLIN, on_signal, e);
}

int main(int argc, char **argv)
{
    static struct engine e;
    static struct snap_config restore_cfg;
    char err[1024] = "";
    int r = cli_parse(&e.opt, argc, argv, err, sizeof(err));
    if (r != 0) {
        if (r < 0) {
            fprintf(stderr, "deskvm-vm: %s\n", err);
            fprintf(stderr, "Try 'deskvm-vm --help' for more information.\n");
            return EXIT_FAILURE_;
        }
        return EXIT_OK; /* --help, --version */
    }
    e.teardown.sock = -1;
    if (!e.opt.no_async_teardown && teardown_start(&e.teardown) < 0) {
        e.teardown.sock = -1; /* tear down in this process, as with --no-async-teardown */
    }
    if (kvm_sys_open(&e.kvm, e.opt.kvm_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "deskvm-vm: %s\n", err);
        return EXIT_NO_KVM;
    }
    e.sigfd = -1;
    r = chardev_open(&e.serial, e.opt.serial, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "deskvm-vm: --serial %s: %s\n", e.opt.serial, err);
        return EXIT_FAILURE_;
    }
    e.loop = evloop_new(&e.vm.dev_lock);
    if (!e.loop) {
        fprintf(stderr, "deskvm-vm: cannot create the event loop\n");
        chardev_close(&e.serial);
        return EXIT_FAILURE_;
    }
    struct vm_config cfg = {
        .mem_size = e.opt.mem_size,
        .ncpus = e.opt.ncpus,
        .kernel = e.opt.kernel,
        .initrd = e.opt.initrd,
        .cmdline = e.opt.cmdline,
        .firmware = e.opt.firmware,
        .firmware_vars = e.opt.firmware_vars,
        .firmware_vars_template = e.opt.firmware_uefi ? FIRMWARE_UEFI_VARS : NULL,
        .serial = &e.serial,
    };
    /* The UEFI variable store defaults to a file next to the first disk: it is that VM's. */
    char vars_path[4096];
    if (e.opt.firmware_uefi && !cfg.firmware_vars && e.opt.ndisks > 0) {
        if (snprintf(vars_path, sizeof(vars_path), "%s.vars.fd", e.opt.disks[0].file) >=
            (int)sizeof(vars_path)) {
            fprintf(stderr, "deskvm-vm: --disk %s: path too long\n", e.opt.disks[0].file);
            chardev_close(&e.serial); /* removes a unix: socket file */
            return EXIT_FAILURE_;
        }
        cfg.firmware_vars = vars_path;
    }
    if (e.opt.restore) {
        if (vm_snapshot_read_config(e.opt.restore, &restore_cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "deskvm-vm: --restore %s: %s\n", e.opt.restore, err);
            chardev_close(&e.serial); /* removes a unix: socket file */
            return EXIT_FAILURE_;
        }
        cfg.mem_size = restore_cfg.mem_size;
        cfg.ncpus = restore_cfg.ncpus;
        cfg.kernel = restore_cfg.flags & SNAP_CFG_EMBEDDED_KERNEL ? NULL : restore_cfg.kernel;
        cfg.initrd = restore_cfg.initrd[0] ? restore_cfg.initrd : NULL;
        if (restore_cfg.flags & SNAP_CFG_FIRMWARE) {
            cfg.firmware = restore_cfg.kernel;
            cfg.firmware_vars = cfg.initrd;
            cfg.firmware_vars_template =
                strcmp(cfg.firmware, FIRMWARE_UEFI_CODE) == 0 ? FIRMWARE_UEFI_VARS : NULL;
            cfg.kernel = NULL;
            cfg.initrd = NULL;
        }
        cfg.cmdline = restore_cfg.cmdline[0] ? restore_cfg.cmdline : NULL;
        cfg.restoring = true;
    }
    if (!cfg.kernel && !cfg.firmware) {
        cfg.kernel_buf = demo_guest_elf;
        cfg.kernel_len = demo_guest_elf_len;
        cfg.kernel = "(embedded demo guest)";
    }
    int status = EXIT_FAILURE_;
    r = vm_create(&e.vm, &e.kvm, &cfg, e.loop, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "deskvm-vm: %s\n", err);
        goto out;
    }
    /* First, so the VGA takes PCI slot 1 (as on QEMU's q35) before the virtio devices. */
    if (e.opt.display && strcmp(e.opt.display, "none") != 0) {
        enum display_kind kind =
            strcmp(e.opt.display, "virtio-gpu") == 0 ? DISPLAY_VIRTIO_GPU : DISPLAY_VGA;
        e.display = display_machine_new(&e.vm, kind, e.opt.vga_vram, e.opt.vnc,
                                        e.opt.display_channel, err, sizeof(err));
        if (!e.display) {
            fprintf(stderr, "deskvm-vm: %s\n", err);
            goto out;
        }
        /* SeaBIOS has no INT 10h on screen without a VGA BIOS: Debian's, through fw_cfg. */
        if (e.vm.fw && e.vm.fw->kind == FIRMWARE_KIND_BIOS && kind == DISPLAY_VGA &&
            firmware_add_rom_file(&e.vm, "vgaroms/vgabios-stdvga.bin", FIRMWARE_VGA_ROM, err,
                                  sizeof(err)) < 0) {
            fprintf(stderr, "deskvm-vm: warning: no VGA BIOS, the screen stays blank: %s\n", err);
        }
        display_machine_set_emit(e.display, emit_display, &e);
    }
    if (input_qmp_init(&e.input, evloop_clock(e.loop), pc_keyboard(&e.vm),
                       e.display ? display_machine_display(e.display) : NULL) < 0) {
        fprintf(stderr, "deskvm-vm: out of memory\n");
        goto out;
    }
    e.input_ready = true;
    if (e.display) {
        input_qmp_set_abs(&e.input, display_machine_abs_pointer, e.display);
    }
    r = virtio_machine_add_specs(&e.vm, e.opt.devices, e.opt.ndevices,
                                 !strcmp(e.opt.serial, "stdio"), err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "deskvm-vm: %s\n", err);
        goto out;
    }
    r = virtio_io_attach(&e.io, &e.vm, e.loop, &e.opt, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "deskvm-vm: %s\n", err);
        goto out;
    }
    r = ahci_machine_new(&e.vm, &e.opt, &e.ahci, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "deskvm-vm: %s\n", err);
        goto out;
    }
    if (e.opt.nboot && set_bootorder(&e, err, sizeof(err)) < 0) {
        fprintf(stderr, "deskvm-vm: --boot: %s\n", err);
        goto out;
    }
    e.vm.hooks = (struct vm_hooks){on_state, on_reset, on_shutdown, on_powerdown, &e};
    if (setup_signals(&e) < 0) {
        fprintf(stderr, "deskvm-vm: cannot watch signals\n");
        goto out;
    }
    if (e.opt.qmp_path) {
        e.qmp = qmp_server_new(e.loop, e.opt.qmp_path, engine_commands,
                               sizeof(engine_commands) / sizeof(engine_commands[0]), &e, err,
                               sizeof(err));
        if (!e.qmp) {
            /* err already names the socket path and the step that failed ("qmp: bind ..."). */
            fprintf(stderr, "deskvm-vm: %s\n", err);
            goto out;
        }
    }
    pthread_mutex_lock(&e.vm.dev_lock);
    if (e.opt.restore) {
        r = vm_snapshot_load(&e.vm, e.opt.restore, 0, err, sizeof(err));
        if (r < 0) {
            pthread_mutex_unlock(&e.vm.dev_lock);
            fprintf(stderr, "deskvm-vm: --restore %s: %s\n", e.opt.restore, err);
            goto out;
        }
    }
    r = vm_start(&e.vm, e.opt.start_paused, err, sizeof(err));
    pthread_mutex_unlock(&e.vm.dev_lock);
    if (r < 0) {
        fprintf(stderr, "deskvm-vm: %s\n", err);
        goto out;
    }
    status = evloop_run(e.loop);
out:
    vm_join(&e.vm);
    virtio_io_quiesce(&e.io);
    ahci_machine_quiesce(e.ahci);
    qmp_server_free(e.qmp);
    if (e.tree_open) {
        snaptree_close(&e.tree);
    }
    display_machine_stop(e.display);
    /* The helper takes the last VM reference: the kernel's VM destruction (irqchip, PIT,
     * SRCU grace periods) then runs there after this process has exited. */
    teardown_hand_over(&e.teardown, e.vm.fd);
    vm_destroy(&e.vm);
    display_machine_free(e.display);
    ahci_machine_free(e.ahci);
    if (e.input_ready) {
        input_qmp_destroy(&e.input);
    }
    virtio_io_free(&e.io);
    if (e.sigfd >= 0) {
        close(e.sigfd);
    }
    evloop_free(e.loop);
    chardev_close(&e.serial);
    kvm_sys_close(&e.kvm);
    cli_options_free(&e.opt);
    teardown_finish(&e.teardown);
    return status & 0xff;
}
