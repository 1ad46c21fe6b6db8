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
    bool demo;        /* the engine's embedded demo guest (no kernel) */
    char *kernel;     /* direct kernel boot; NULL with demo */
    char *initrd;     /* optional */
    char *cmdline;    /* optional */
    GPtrArray *disks; /* of struct dv_disk */
    GPtrArray *nets;  /* of struct dv_net */
};

struct dv_vm_config *dv_vm_config_new(void);
void dv_vm_config_free(struct dv_vm_config *cfg);

void dv_vm_config_add_disk(struct dv_vm_config *cfg, const char *path, const char *format,
                           bool readonly);
void dv_vm_config_add_net(struct dv_vm_config *cfg, const char *type, const char *ifname,
                          const char *mac);

/* TRUE if @name can name a VM (and its directory): [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
gboolean dv_vm_name_validate(const char *name, GError **error);

/* Parse domain XML; DV_ERROR_CORRUPT with the reason when it does not parse or lacks a name,
 * a valid uuid, memory or vcpus. */
struct dv_vm_config *dv_vm_config_from_xml(const char *xml, GError **error);

/* The domain XML of @cfg, a new document. Interfaces must be "user": tap interfaces only come
 * from imported files, which are kept as written (dv_domain_xml_rewrite). */
char *dv_vm_config_to_xml(const struct dv_vm_config *cfg);

/* Everything a start needs that is not the engine's job to report: memory, vCPUs, the boot
 * method is one deskvm runs, and every kernel, initrd and disk file exists. */
gboolean dv_vm_config_check_runnable(const struct dv_vm_config *cfg, GError **error);

/* deskvm-vm arguments (without argv[0]) for @cfg with QMP on @qmp_path and COM1 on stdio. */
GStrv dv_vm_config_engine_args(const struct dv_vm_config *cfg, const char *qmp_path);

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
