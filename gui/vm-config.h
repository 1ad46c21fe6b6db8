// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A VM definition as the front end needs it, read from and written to libvirt domain XML
 * (https://libvirt.org/formatdomain.html) with libvirt-gconfig, and turned into deskvm-vm
 * arguments. No GTK: the view-models and their tests use it without a display.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

G_BEGIN_DECLS

/* The namespace of deskvm's <metadata> element (<deskvm:guest kind="demo"/>). */
#define DV_XMLNS "https://deskvm.org/xmlns/domain/1.0"
#define DV_XMLNS_PREFIX "deskvm"

#define DV_MEMORY_MIN_MIB 16
#define DV_MEMORY_MAX_MIB (1024 * 1024)
#define DV_VCPUS_MAX 255 /* the engine's limit (MADT 8-bit APIC IDs) */

struct dv_disk {
    char *path;
    char *format; /* "raw", "qcow2" or NULL (probed by the engine) */
    bool readonly;
    char *bus; /* "virtio" (default, NULL) or "sata" (AHCI, for firmware-booted installs) */
};

struct dv_net {
    char *type;   /* "user" (NAT) or "tap" */
    char *ifname; /* tap only; NULL lets the engine pick */
    char *mac;    /* NULL: the engine's default */
};

struct dv_vm_config {
    char *name;
    char *uuid;
    guint64 memory_mib;
    guint vcpus;
    bool demo;          /* the engine's embedded demo guest (no kernel) */
    char *kernel;       /* direct kernel boot; NULL with demo */
    char *initrd;       /* optional */
    char *cmdline;      /* optional */
    GPtrArray *disks;   /* of struct dv_disk */
    GPtrArray *nets;    /* of struct dv_net */
    char *firmware;     /* "bios" (SeaBIOS): firmware boot instead of a kernel; NULL: none */
    char *cdrom;        /* the ISO in the AHCI CD-ROM drive (--cdrom), or NULL: no drive */
    char *boot;         /* firmware boot order ("cdrom,disk"), or NULL: the BIOS's own */
    char *display;      /* "vga" (default, NULL) or "virtio-gpu" */
    bool vnc;           /* a VNC server on vnc_listen:vnc_port */
    char *vnc_listen;   /* NULL: 127.0.0.1 */
    guint vnc_port;     /* 0: 5900 */
    char *vnc_password; /* NULL: none (needed beyond loopback); at most 8 characters */
};

#define DV_VNC_PASSWORD_MAX 8
#define DV_DISKS_MAX 16 /* the engine's --disk limit */
#define DV_NETS_MAX 8   /* the engine's --net limit */

/* A deep copy. */
struct dv_vm_config *dv_vm_config_copy(const struct dv_vm_config *cfg);
/* The display device deskvm-vm gets ("vga" unless the VM says "virtio-gpu"). */
const char *dv_vm_config_display(const struct dv_vm_config *cfg);

struct dv_vm_config *dv_vm_config_new(void);
void dv_vm_config_free(struct dv_vm_config *cfg);

/* Returns the new disk (its bus is NULL: virtio). */
struct dv_disk *dv_vm_config_add_disk(struct dv_vm_config *cfg, const char *path,
                                      const char *format, bool readonly);
void dv_vm_config_add_net(struct dv_vm_config *cfg, const char *type, const char *ifname,
                          const char *mac);

/* TRUE if @name can name a VM (and its directory): [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
gboolean dv_vm_name_validate(const char *name, GError **error);

/* Parse domain XML; DV_ERROR_CORRUPT with the reason when it does not parse or lacks a name,
 * a valid uuid, memory or vcpus. */
struct dv_vm_config *dv_vm_config_from_xml(const char *xml, GError **error);

/* The domain XML of @cfg, a new document. Tap interfaces are written as libvirt's
 * type='ethernet' with <target dev>, and the VNC address as <graphics listen>, by libxml2 after
 * libvirt-gconfig (it has no setter for either). */
char *dv_vm_config_to_xml(const struct dv_vm_config *cfg);

/* Everything a start needs that is not the engine's job to report: memory, vCPUs, the boot
 * method is one deskvm runs, and every kernel, initrd and disk file exists. */
gboolean dv_vm_config_check_runnable(const struct dv_vm_config *cfg, GError **error);

/* deskvm-vm arguments (without argv[0]) for @cfg with QMP on @qmp_path and COM1 on a socket the
 * engine listens on at @serial_path (NULL: COM1 goes nowhere); the snapshot tree in @snapshot_dir
 * (--snapshot-dir, NULL: none). @active (NULL: none) lists the engine's active image of each disk
 * from that tree's index (dv_snapshot_active_disks); when it has one entry per disk, each disk
 * starts on it (an overlay the tree made, so qcow2): the configured image is frozen once a snapshot
 * holds it. */
GStrv dv_vm_config_engine_args(const struct dv_vm_config *cfg, const char *qmp_path,
                               const char *serial_path, const char *snapshot_dir,
                               const char *const *active);

G_END_DECLS

G_BEGIN_DECLS
/*
 * Rewrite an existing domain XML, keeping every element deskvm does not model: set <name> and
 * <uuid>, replace disk sources found as keys of @disk_map (old path -> new path, may be NULL),
 * and give every interface a new MAC address when @new_macs. Used by clone and import.
 */
char *dv_domain_xml_rewrite(const char *xml, const char *name, const char *uuid,
                            GHashTable *disk_map, gboolean new_macs, GError **error);
G_END_DECLS
