// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libvirt domain XML <-> struct dv_vm_config, and the deskvm-vm command line of a VM.
 * libvirt-gconfig reads and writes the document; the few elements it has no getter for
 * (<os><kernel>, <initrd>, <cmdline>, <interface type>, <disk><readonly/>) are read with one
 * XPath each from the same text. The demo guest is marked in <metadata> under deskvm's own
 * namespace, which libvirt keeps untouched, so the file also loads in virsh.
 */
#include "gui/vm-config.h"

#include "gui/dv-error.h"

#include <libvirt-gconfig/libvirt-gconfig.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

static void disk_free(gpointer p)
{
    struct dv_disk *d = p;
    g_free(d->path);
    g_free(d->format);
    g_free(d->bus);
    g_free(d);
}

static void net_free(gpointer p)
{
    struct dv_net *n = p;
    g_free(n->type);
    g_free(n->ifname);
    g_free(n->mac);
    g_free(n);
}

struct dv_vm_config *dv_vm_config_new(void)
{
    struct dv_vm_config *cfg = g_new0(struct dv_vm_config, 1);
    cfg->memory_mib = 256;
    cfg->vcpus = 1;
    cfg->disks = g_ptr_array_new_with_free_func(disk_free);
    cfg->nets = g_ptr_array_new_with_free_func(net_free);
    return cfg;
}

void dv_vm_config_free(struct dv_vm_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    g_free(cfg->name);
    g_free(cfg->uuid);
    g_free(cfg->kernel);
    g_free(cfg->initrd);
    g_free(cfg->cmdline);
    g_ptr_array_unref(cfg->disks);
    g_ptr_array_unref(cfg->nets);
    g_free(cfg->firmware);
    g_free(cfg->cdrom);
    g_free(cfg->boot);
    g_free(cfg->display);
    g_free(cfg->vnc_listen);
    g_free(cfg->vnc_password);
    g_free(cfg);
}

struct dv_disk *dv_vm_config_add_disk(struct dv_vm_config *cfg, const char *path,
                                      const char *format, bool readonly)
{
    struct dv_disk *d = g_new0(struct dv_disk, 1);
    d->path = g_strdup(path);
    d->format = g_strdup(format);
    d->readonly = readonly;
    g_ptr_array_add(cfg->disks, d);
    return d;
}

struct dv_vm_config *dv_vm_config_copy(const struct dv_vm_config *cfg)
{
    struct dv_vm_config *c = dv_vm_config_new();
    c->name = g_strdup(cfg->name);
    c->uuid = g_strdup(cfg->uuid);
    c->memory_mib = cfg->memory_mib;
    c->vcpus = cfg->vcpus;
    c->demo = cfg->demo;
    c->kernel = g_strdup(cfg->kernel);
    c->initrd = g_strdup(cfg->initrd);
    c->cmdline = g_strdup(cfg->cmdline);
    for (guint i = 0; i < cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(cfg->disks, i);
        dv_vm_config_add_disk(c, d->path, d->format, d->readonly)->bus = g_strdup(d->bus);
    }
    for (guint i = 0; i < cfg->nets->len; i++) {
        const struct dv_net *n = g_ptr_array_index(cfg->nets, i);
        dv_vm_config_add_net(c, n->type, n->ifname, n->mac);
    }
    c->firmware = g_strdup(cfg->firmware);
    c->cdrom = g_strdup(cfg->cdrom);
    c->boot = g_strdup(cfg->boot);
    c->display = g_strdup(cfg->display);
    c->vnc = cfg->vnc;
    c->vnc_listen = g_strdup(cfg->vnc_listen);
    c->vnc_port = cfg->vnc_port;
    c->vnc_password = g_strdup(cfg->vnc_password);
    return c;
}

const char *dv_vm_config_display(const struct dv_vm_config *cfg)
{
    return cfg->display != NULL ? cfg->display : "vga";
}

void dv_vm_config_add_net(struct dv_vm_config *cfg, const char *type, const char *ifname,
                          const char *mac)
{
    struct dv_net *n = g_new0(struct dv_net, 1);
    n->type = g_strdup(type);
    n->ifname = g_strdup(ifname);
    n->mac = g_strdup(mac);
    g_ptr_array_add(cfg->nets, n);
}

gboolean dv_vm_name_validate(const char *name, GError **error)
{
    if (name == NULL || *name == '\0') {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "The VM needs a name");
        return FALSE;
    }
    size_t len = strlen(name);
    if (len > 64) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                    "The name is %zu characters long; 64 is the most", len);
        return FALSE;
    }
    if (!g_ascii_isalnum(name[0])) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                    "The name \"%s\" must start with a letter or a digit", name);
        return FALSE;
    }
    for (const char *p = name; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-') {
            g_autofree char *shown = g_strescape(name, NULL);
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                        "The name \"%s\" contains '%c'; use letters, digits, '.', '_' and '-'",
                        shown, g_ascii_isprint(*p) ? *p : '?');
            return FALSE;
        }
    }
    return TRUE;
}

/* The text of the first node @expr selects, or NULL. */
static char *xpath_string(xmlXPathContext *ctx, const char *expr)
{
    xmlXPathObject *obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
    char *ret = NULL;
    if (obj != NULL && obj->nodesetval != NULL && obj->nodesetval->nodeNr > 0) {
        xmlChar *text = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);
        if (text != NULL && *text != '\0') {
            ret = g_strdup((const char *)text);
        }
        xmlFree(text);
    }
    xmlXPathFreeObject(obj);
    return ret;
}

static char *xpath_printf(xmlXPathContext *ctx, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static char *xpath_printf(xmlXPathContext *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *expr = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return xpath_string(ctx, expr);
}

static const char *disk_format_name(GVirConfigDomainDiskFormat f)
{
    switch (f) {
    case GVIR_CONFIG_DOMAIN_DISK_FORMAT_RAW:
        return "raw";
    case GVIR_CONFIG_DOMAIN_DISK_FORMAT_QCOW2:
        return "qcow2";
    default:
        return NULL;
    }
}

static gboolean read_disks(GVirConfigDomain *dom, xmlXPathContext *ctx, struct dv_vm_config *cfg,
                           GError **error)
{
    GList *devices = gvir_config_domain_get_devices(dom);
    gboolean ok = TRUE;
    guint index = 0; /* position among <disk> elements, for the XPath of <readonly/> */
    for (GList *l = devices; l != NULL && ok; l = l->next) {
        if (!GVIR_CONFIG_IS_DOMAIN_DISK(l->data)) {
            continue;
        }
        GVirConfigDomainDisk *disk = l->data;
        index++;
        const char *source = gvir_config_domain_disk_get_source(disk);
        gboolean is_cdrom = gvir_config_domain_disk_get_guest_device_type(disk) ==
                            GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_CDROM;
        if (is_cdrom && cfg->cdrom == NULL && source != NULL &&
            gvir_config_domain_disk_get_disk_type(disk) == GVIR_CONFIG_DOMAIN_DISK_FILE) {
            cfg->cdrom = g_strdup(source); /* the engine has one CD-ROM drive */
            continue;
        }
        if (source == NULL) {
            continue; /* an empty CD-ROM drive */
        }
        if (gvir_config_domain_disk_get_disk_type(disk) != GVIR_CONFIG_DOMAIN_DISK_FILE) {
            g_set_error(error, DV_ERROR, DV_ERROR_UNSUPPORTED,
                        "Disk \"%s\" is not a file; deskvm runs file-backed disks only", source);
            ok = FALSE;
            break;
        }
        const char *format = NULL;
        GVirConfigDomainDiskDriver *drv = gvir_config_domain_disk_get_driver(disk);
        if (drv != NULL) {
            GVirConfigDomainDiskFormat f = gvir_config_domain_disk_driver_get_format(drv);
            format = disk_format_name(f);
            g_object_unref(drv);
        }
        /* A CD-ROM is read-only whether or not it says so. */
        g_autofree char *expr = g_strdup_printf("/domain/devices/disk[%u]/readonly | "
                                                "/domain/devices/disk[%u][@device='cdrom']",
                                                index, index);
        xmlXPathObject *obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
        bool readonly = obj != NULL && obj->nodesetval != NULL && obj->nodesetval->nodeNr > 0;
        xmlXPathFreeObject(obj);
        struct dv_disk *d = dv_vm_config_add_disk(cfg, source, format, readonly);
        g_autofree char *bus = xpath_printf(ctx, "/domain/devices/disk[%u]/target/@bus", index);
        if (g_strcmp0(bus, "sata") == 0) {
            d->bus = g_strdup("sata");
        }
    }
    g_list_free_full(devices, g_object_unref);
    return ok;
}

static gboolean read_nets(xmlXPathContext *ctx, struct dv_vm_config *cfg, GError **error)
{
    xmlXPathObject *obj = xmlXPathEvalExpression((const xmlChar *)"/domain/devices/interface", ctx);
    int n = obj != NULL && obj->nodesetval != NULL ? obj->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(obj);
    for (int i = 1; i <= n; i++) {
        g_autofree char *type = xpath_printf(ctx, "/domain/devices/interface[%d]/@type", i);
        g_autofree char *mac = xpath_printf(ctx, "/domain/devices/interface[%d]/mac/@address", i);
        g_autofree char *dev = xpath_printf(ctx, "/domain/devices/interface[%d]/target/@dev", i);
        if (g_strcmp0(type, "user") == 0) {
            dv_vm_config_add_net(cfg, "user", NULL, mac);
        } else if (g_strcmp0(type, "ethernet") == 0) {
            dv_vm_config_add_net(cfg, "tap", dev, mac);
        } else {
            g_set_error(error, DV_ERROR, DV_ERROR_UNSUPPORTED,
                        "Network interface type \"%s\" is not supported; deskvm offers user "
                        "(NAT) and ethernet (tap)",
                        type ? type : "(none)");
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean read_os_and_display(xmlXPathContext *ctx, struct dv_vm_config *cfg, GError **error)
{
    g_autofree char *fw = xpath_string(ctx, "/domain/os/@firmware");
    if (fw != NULL && !g_str_equal(fw, "bios")) {
        g_set_error(error, DV_ERROR, DV_ERROR_UNSUPPORTED,
                    "Firmware \"%s\" is not supported; deskvm runs SeaBIOS (firmware='bios')", fw);
        return FALSE;
    }
    cfg->firmware = g_steal_pointer(&fw);
    GString *boot = g_string_new(NULL);
    for (int i = 1; i <= 4; i++) {
        g_autofree char *dev = xpath_printf(ctx, "/domain/os/boot[%d]/@dev", i);
        const char *item = g_strcmp0(dev, "cdrom") == 0 ? "cdrom"
                           : g_strcmp0(dev, "hd") == 0  ? "disk"
                                                        : NULL;
        if (item != NULL && strstr(boot->str, item) == NULL) {
            g_string_append_printf(boot, "%s%s", boot->len ? "," : "", item);
        }
    }
    cfg->boot = boot->len ? g_string_free(boot, FALSE) : (g_string_free(boot, TRUE), NULL);
    g_autofree char *video = xpath_string(ctx, "/domain/devices/video/model/@type");
    cfg->display = g_strcmp0(video, "virtio") == 0 ? g_strdup("virtio-gpu") : NULL;
    g_autofree char *port = xpath_string(ctx, "/domain/devices/graphics[@type='vnc']/@port");
    xmlXPathObject *obj =
        xmlXPathEvalExpression((const xmlChar *)"/domain/devices/graphics[@type='vnc']", ctx);
    cfg->vnc = obj != NULL && obj->nodesetval != NULL && obj->nodesetval->nodeNr > 0;
    xmlXPathFreeObject(obj);
    if (cfg->vnc) {
        gint64 p = port ? g_ascii_strtoll(port, NULL, 10) : 0;
        cfg->vnc_port = p > 0 && p <= 65535 ? (guint)p : 0;
        cfg->vnc_listen = xpath_string(ctx, "/domain/devices/graphics[@type='vnc']/@listen");
        cfg->vnc_password = xpath_string(ctx, "/domain/devices/graphics[@type='vnc']/@passwd");
    }
    return TRUE;
}

/*
 * Parse with libxml2 first: libvirt-gconfig 4.0 dereferences NULL on a document that is not
 * well-formed (empty, truncated), so it only ever sees text that parses, with <domain> as root.
 */
static xmlDoc *parse_domain_doc(const char *xml, GError **error)
{
    xmlDoc *doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                      : NULL;
    if (doc == NULL) {
        const xmlError *xe = xmlGetLastError();
        g_autofree char *why = g_strdup(xe && xe->message ? xe->message : "not XML");
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML does not parse: %s",
                    g_strchomp(why));
        return NULL;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root == NULL || xmlStrcmp(root->name, (const xmlChar *)"domain") != 0) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                    "The file is XML but not a libvirt domain (no <domain> element)");
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

struct dv_vm_config *dv_vm_config_from_xml(const char *xml, GError **error)
{
    g_autoptr(GError) local = NULL;
    xmlDoc *doc = parse_domain_doc(xml, error);
    if (doc == NULL) {
        return NULL;
    }
    GVirConfigDomain *dom = gvir_config_domain_new_from_xml(xml, &local);
    if (dom == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML does not parse: %s",
                    local ? local->message : "unknown error");
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlXPathContext *ctx = xmlXPathNewContext(doc);
    g_autofree char *meta = NULL; /* before the first goto: cleanup runs at every exit */
    struct dv_vm_config *cfg = dv_vm_config_new();
    gboolean ok = FALSE;
    if (ctx == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML does not parse");
        goto out;
    }
    cfg->name = g_strdup(gvir_config_domain_get_name(dom));
    if (cfg->name == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML has no <name>");
        goto out;
    }
    if (!dv_vm_name_validate(cfg->name, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML's <name>: %s",
                    local->message);
        goto out;
    }
    const char *uuid = gvir_config_domain_get_uuid(dom);
    if (uuid != NULL && !g_uuid_string_is_valid(uuid)) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML's <uuid> \"%s\" is invalid",
                    uuid);
        goto out;
    }
    cfg->uuid = uuid ? g_ascii_strdown(uuid, -1) : NULL;
    guint64 kib = gvir_config_domain_get_memory(dom);
    cfg->memory_mib = kib / 1024;
    if (cfg->memory_mib < DV_MEMORY_MIN_MIB || cfg->memory_mib > DV_MEMORY_MAX_MIB) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                    "The domain XML's <memory> is %" G_GUINT64_FORMAT
                    " KiB; deskvm needs %d MiB to %d MiB",
                    kib, DV_MEMORY_MIN_MIB, DV_MEMORY_MAX_MIB);
        goto out;
    }
    guint64 vcpus = gvir_config_domain_get_vcpus(dom);
    if (vcpus < 1 || vcpus > DV_VCPUS_MAX) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                    "The domain XML's <vcpu> is %" G_GUINT64_FORMAT "; deskvm runs 1 to %d", vcpus,
                    DV_VCPUS_MAX);
        goto out;
    }
    cfg->vcpus = (guint)vcpus;
    meta = gvir_config_domain_get_custom_xml(dom, DV_XMLNS);
    cfg->demo = meta != NULL && strstr(meta, "kind=\"demo\"") != NULL;
    cfg->kernel = xpath_string(ctx, "/domain/os/kernel");
    cfg->initrd = xpath_string(ctx, "/domain/os/initrd");
    cfg->cmdline = xpath_string(ctx, "/domain/os/cmdline");
    if (!read_disks(dom, ctx, cfg, error) || !read_nets(ctx, cfg, error)) {
        goto out;
    }
    if (!read_os_and_display(ctx, cfg, error)) {
        goto out;
    }
    ok = TRUE;
out:
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    g_object_unref(dom);
    if (!ok) {
        dv_vm_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/*
 * What libvirt-gconfig cannot write: tap interfaces (type='ethernet' with <target dev>) and the
 * VNC listen address. Edits @xml (taken) in place with libxml2; unchanged when neither occurs.
 */
static char *finish_xml(char *xml, const struct dv_vm_config *cfg)
{
    gboolean tap = FALSE;
    for (guint i = 0; i < cfg->nets->len; i++) {
        tap |= g_strcmp0(((struct dv_net *)g_ptr_array_index(cfg->nets, i))->type, "tap") == 0;
    }
    gboolean listen = cfg->vnc && cfg->vnc_listen != NULL;
    if (!tap && !listen) {
        return xml;
    }
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    if (doc == NULL) {
        return xml;
    }
    xmlNode *devices = NULL;
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"devices") == 0) {
            devices = n;
        }
    }
    guint net = 0;
    for (xmlNode *n = devices ? devices->children : NULL; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (xmlStrcmp(n->name, (const xmlChar *)"interface") == 0 && net < cfg->nets->len) {
            const struct dv_net *dn = g_ptr_array_index(cfg->nets, net++);
            if (g_strcmp0(dn->type, "tap") == 0) {
                xmlSetProp(n, (const xmlChar *)"type", (const xmlChar *)"ethernet");
                if (dn->ifname != NULL) {
                    xmlNode *t = xmlNewChild(n, NULL, (const xmlChar *)"target", NULL);
                    xmlSetProp(t, (const xmlChar *)"dev", (const xmlChar *)dn->ifname);
                }
            }
        } else if (xmlStrcmp(n->name, (const xmlChar *)"graphics") == 0 && listen) {
            xmlSetProp(n, (const xmlChar *)"listen", (const xmlChar *)cfg->vnc_listen);
        }
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlBuffer *buf = xmlBufferCreate();
    xmlNodeDump(buf, doc, root, 0, 1);
    char *out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    xmlFreeDoc(doc);
    g_free(xml);
    return out;
}

char *dv_vm_config_to_xml(const struct dv_vm_config *cfg)
{
    GVirConfigDomain *dom = gvir_config_domain_new();
    gvir_config_domain_set_virt_type(dom, GVIR_CONFIG_DOMAIN_VIRT_KVM);
    gvir_config_domain_set_name(dom, cfg->name);
    if (cfg->uuid != NULL) {
        gvir_config_domain_set_uuid(dom, cfg->uuid);
    }
    gvir_config_domain_set_memory(dom, cfg->memory_mib * 1024);
    gvir_config_domain_set_vcpus(dom, cfg->vcpus);

    GVirConfigDomainOs *os = gvir_config_domain_os_new();
    gvir_config_domain_os_set_os_type(os, GVIR_CONFIG_DOMAIN_OS_TYPE_HVM);
    gvir_config_domain_os_set_arch(os, "x86_64");
    if (cfg->kernel != NULL) {
        gvir_config_domain_os_set_kernel(os, cfg->kernel);
    }
    if (cfg->initrd != NULL) {
        gvir_config_domain_os_set_ramdisk(os, cfg->initrd);
    }
    if (cfg->cmdline != NULL) {
        gvir_config_domain_os_set_cmdline(os, cfg->cmdline);
    }
    if (g_strcmp0(cfg->firmware, "bios") == 0) {
        gvir_config_domain_os_set_firmware(os, GVIR_CONFIG_DOMAIN_OS_FIRMWARE_BIOS);
    }
    if (cfg->boot != NULL) {
        g_auto(GStrv) items = g_strsplit(cfg->boot, ",", -1);
        GList *devs = NULL;
        for (char **it = items; *it != NULL; it++) {
            GVirConfigDomainOsBootDevice dev = g_str_equal(*it, "cdrom")
                                                   ? GVIR_CONFIG_DOMAIN_OS_BOOT_DEVICE_CDROM
                                                   : GVIR_CONFIG_DOMAIN_OS_BOOT_DEVICE_HD;
            devs = g_list_append(devs, GINT_TO_POINTER(dev));
        }
        gvir_config_domain_os_set_boot_devices(os, devs);
        g_list_free(devs);
    }
    gvir_config_domain_set_os(dom, os);
    g_object_unref(os);

    for (guint i = 0; i < cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(cfg->disks, i);
        GVirConfigDomainDisk *disk = gvir_config_domain_disk_new();
        gvir_config_domain_disk_set_type(disk, GVIR_CONFIG_DOMAIN_DISK_FILE);
        gvir_config_domain_disk_set_guest_device_type(disk,
                                                      GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_DISK);
        gvir_config_domain_disk_set_source(disk, d->path);
        GVirConfigDomainDiskDriver *drv = gvir_config_domain_disk_driver_new();
        gvir_config_domain_disk_driver_set_name(drv, "qemu");
        if (g_strcmp0(d->format, "qcow2") == 0) {
            gvir_config_domain_disk_driver_set_format(drv, GVIR_CONFIG_DOMAIN_DISK_FORMAT_QCOW2);
        } else if (g_strcmp0(d->format, "raw") == 0) {
            gvir_config_domain_disk_driver_set_format(drv, GVIR_CONFIG_DOMAIN_DISK_FORMAT_RAW);
        }
        gvir_config_domain_disk_set_driver(disk, drv);
        g_object_unref(drv);
        gboolean sata = g_strcmp0(d->bus, "sata") == 0;
        g_autofree char *dev = g_strdup_printf(sata ? "sd%c" : "vd%c", (char)('a' + (i % 26)));
        gvir_config_domain_disk_set_target_dev(disk, dev);
        gvir_config_domain_disk_set_target_bus(disk, sata ? GVIR_CONFIG_DOMAIN_DISK_BUS_SATA
                                                          : GVIR_CONFIG_DOMAIN_DISK_BUS_VIRTIO);
        gvir_config_domain_disk_set_readonly(disk, d->readonly);
        gvir_config_domain_add_device(dom, GVIR_CONFIG_DOMAIN_DEVICE(disk));
        g_object_unref(disk);
    }
    if (cfg->cdrom != NULL) {
        GVirConfigDomainDisk *cd = gvir_config_domain_disk_new();
        gvir_config_domain_disk_set_type(cd, GVIR_CONFIG_DOMAIN_DISK_FILE);
        gvir_config_domain_disk_set_guest_device_type(cd,
                                                      GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_CDROM);
        gvir_config_domain_disk_set_source(cd, cfg->cdrom);
        gvir_config_domain_disk_set_target_dev(cd, "sdz");
        gvir_config_domain_disk_set_target_bus(cd, GVIR_CONFIG_DOMAIN_DISK_BUS_SATA);
        gvir_config_domain_disk_set_readonly(cd, TRUE);
        gvir_config_domain_add_device(dom, GVIR_CONFIG_DOMAIN_DEVICE(cd));
        g_object_unref(cd);
    }
    for (guint i = 0; i < cfg->nets->len; i++) {
        const struct dv_net *n = g_ptr_array_index(cfg->nets, i);
        /* libvirt-gconfig has no class for type='ethernet' (tap): written as user here and
         * turned into ethernet by finish_xml(). */
        GVirConfigDomainInterface *iface =
            GVIR_CONFIG_DOMAIN_INTERFACE(gvir_config_domain_interface_user_new());
        if (n->mac != NULL) {
            gvir_config_domain_interface_set_mac(iface, n->mac);
        }
        gvir_config_domain_interface_set_model(iface, "virtio");
        gvir_config_domain_add_device(dom, GVIR_CONFIG_DOMAIN_DEVICE(iface));
        g_object_unref(iface);
    }
    if (cfg->demo) {
        gvir_config_domain_set_custom_xml(dom, "<guest kind=\"demo\"/>", DV_XMLNS_PREFIX, DV_XMLNS,
                                          NULL);
    }
    if (cfg->display != NULL && g_str_equal(cfg->display, "virtio-gpu")) {
        GVirConfigDomainVideo *video = gvir_config_domain_video_new();
        gvir_config_domain_video_set_model(video, GVIR_CONFIG_DOMAIN_VIDEO_MODEL_VIRTIO);
        gvir_config_domain_add_device(dom, GVIR_CONFIG_DOMAIN_DEVICE(video));
        g_object_unref(video);
    }
    if (cfg->vnc) {
        GVirConfigDomainGraphicsVnc *vnc = gvir_config_domain_graphics_vnc_new();
        gvir_config_domain_graphics_vnc_set_port(vnc, cfg->vnc_port ? (int)cfg->vnc_port : 5900);
        if (cfg->vnc_password != NULL) {
            gvir_config_domain_graphics_vnc_set_password(vnc, cfg->vnc_password);
        }
        gvir_config_domain_add_device(dom, GVIR_CONFIG_DOMAIN_DEVICE(vnc));
        g_object_unref(vnc);
    }
    char *xml = gvir_config_object_to_xml(GVIR_CONFIG_OBJECT(dom));
    g_object_unref(dom);
    return finish_xml(xml, cfg);
}

static gboolean file_exists(const char *what, const char *path, GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "The %s \"%s\" does not exist", what,
                    path);
        return FALSE;
    }
    return TRUE;
}

gboolean dv_vm_config_check_runnable(const struct dv_vm_config *cfg, GError **error)
{
    if (cfg->memory_mib < DV_MEMORY_MIN_MIB || cfg->memory_mib > DV_MEMORY_MAX_MIB) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Memory must be %d MiB to %d MiB",
                    DV_MEMORY_MIN_MIB, DV_MEMORY_MAX_MIB);
        return FALSE;
    }
    if (cfg->vcpus < 1 || cfg->vcpus > DV_VCPUS_MAX) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "A VM has 1 to %d vCPUs", DV_VCPUS_MAX);
        return FALSE;
    }
    if (!cfg->demo && cfg->kernel == NULL && cfg->firmware == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_UNSUPPORTED,
                    "This VM has neither a kernel (direct kernel boot) nor firmware='bios' "
                    "(SeaBIOS boot): there is nothing to boot");
        return FALSE;
    }
    if (cfg->kernel != NULL && cfg->firmware != NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_UNSUPPORTED,
                    "The engine cannot combine a kernel with firmware boot yet");
        return FALSE;
    }
    if (cfg->cdrom != NULL && !file_exists("CD-ROM image", cfg->cdrom, error)) {
        return FALSE;
    }
    if (cfg->kernel != NULL && !file_exists("kernel", cfg->kernel, error)) {
        return FALSE;
    }
    if (cfg->initrd != NULL && !file_exists("initrd", cfg->initrd, error)) {
        return FALSE;
    }
    for (guint i = 0; i < cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(cfg->disks, i);
        if (!file_exists("disk image", d->path, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* deskvm-vm's option syntax: ',' inside a value is written ',,'. */
static char *escape_commas(const char *s)
{
    GString *out = g_string_new(NULL);
    for (; *s; s++) {
        g_string_append_c(out, *s);
        if (*s == ',') {
            g_string_append_c(out, ',');
        }
    }
    return g_string_free(out, FALSE);
}

static void add2(GPtrArray *argv, const char *opt, const char *val)
{
    g_ptr_array_add(argv, g_strdup(opt));
    g_ptr_array_add(argv, g_strdup(val));
}

GStrv dv_vm_config_engine_args(const struct dv_vm_config *cfg, const char *qmp_path,
                               const char *serial_path, const char *snapshot_dir,
                               const char *const *active)
{
    if (active != NULL && g_strv_length((GStrv)active) != cfg->disks->len) {
        active = NULL; /* disks were added or removed: the engine reports the mismatch */
    }
    GPtrArray *b = g_ptr_array_new();
    g_ptr_array_add(b, g_strdup("--memory"));
    g_ptr_array_add(b, g_strdup_printf("%" G_GUINT64_FORMAT "M", cfg->memory_mib));
    g_ptr_array_add(b, g_strdup("--cpus"));
    g_ptr_array_add(b, g_strdup_printf("%u", cfg->vcpus));
    if (!cfg->demo && cfg->firmware != NULL) {
        add2(b, "--firmware", cfg->firmware);
        if (cfg->boot != NULL) {
            add2(b, "--boot", cfg->boot);
        }
    }
    if (cfg->cdrom != NULL) {
        add2(b, "--cdrom", cfg->cdrom);
    }
    if (!cfg->demo && cfg->kernel != NULL) {
        add2(b, "--kernel", cfg->kernel);
        if (cfg->initrd != NULL) {
            add2(b, "--initrd", cfg->initrd);
        }
        if (cfg->cmdline != NULL) {
            add2(b, "--append", cfg->cmdline);
        }
    }
    for (guint i = 0; i < cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(cfg->disks, i);
        gboolean moved = active != NULL && g_strcmp0(active[i], d->path) != 0;
        g_autofree char *path = escape_commas(moved ? active[i] : d->path);
        GString *spec = g_string_new("file=");
        g_string_append(spec, path);
        if (moved) {
            g_string_append(spec, ",format=qcow2");
        } else if (d->format != NULL) {
            g_string_append_printf(spec, ",format=%s", d->format);
        }
        if (d->readonly) {
            g_string_append(spec, ",readonly=on");
        }
        if (d->bus != NULL) {
            g_string_append_printf(spec, ",bus=%s", d->bus);
        }
        g_ptr_array_add(b, g_strdup("--disk"));
        g_ptr_array_add(b, g_string_free(spec, FALSE));
    }
    for (guint i = 0; i < cfg->nets->len; i++) {
        const struct dv_net *n = g_ptr_array_index(cfg->nets, i);
        GString *spec = g_string_new(n->type);
        if (n->ifname != NULL) {
            g_autofree char *ifname = escape_commas(n->ifname);
            g_string_append_printf(spec, ",ifname=%s", ifname);
        }
        if (n->mac != NULL) {
            g_string_append_printf(spec, ",mac=%s", n->mac);
        }
        g_ptr_array_add(b, g_strdup("--net"));
        g_ptr_array_add(b, g_string_free(spec, FALSE));
    }
    add2(b, "--display", dv_vm_config_display(cfg));
    if (cfg->vnc) {
        /* The password is set over QMP after start (set_password), never on the command line
         * that other users can read in /proc. */
        const char *host = cfg->vnc_listen ? cfg->vnc_listen : "127.0.0.1";
        g_ptr_array_add(b, g_strdup("--vnc"));
        g_ptr_array_add(b, g_strdup_printf("%s:%u%s", host, cfg->vnc_port ? cfg->vnc_port : 5900,
                                           cfg->vnc_password ? ",password=on" : ""));
    }
    g_ptr_array_add(b, g_strdup("--qmp"));
    g_ptr_array_add(b, g_strconcat("unix:", qmp_path, NULL));
    g_ptr_array_add(b, g_strdup("--serial"));
    g_ptr_array_add(b, serial_path != NULL ? g_strconcat("unix:", serial_path, NULL)
                                           : g_strdup("null"));
    if (snapshot_dir != NULL) {
        add2(b, "--snapshot-dir", snapshot_dir);
    }
    g_ptr_array_add(b, NULL);
    return (GStrv)g_ptr_array_free(b, FALSE);
}

char *dv_domain_xml_rewrite(const char *xml, const char *name, const char *uuid,
                            GHashTable *disk_map, gboolean new_macs, GError **error)
{
    g_autoptr(GError) local = NULL;
    xmlDoc *doc = parse_domain_doc(xml, error);
    if (doc == NULL) {
        return NULL;
    }
    xmlFreeDoc(doc);
    GVirConfigDomain *dom = gvir_config_domain_new_from_xml(xml, &local);
    if (dom == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The domain XML does not parse: %s",
                    local ? local->message : "unknown error");
        return NULL;
    }
    gvir_config_domain_set_name(dom, name);
    gvir_config_domain_set_uuid(dom, uuid);
    GList *devices = gvir_config_domain_get_devices(dom);
    for (GList *l = devices; l != NULL; l = l->next) {
        if (GVIR_CONFIG_IS_DOMAIN_DISK(l->data) && disk_map != NULL) {
            GVirConfigDomainDisk *disk = l->data;
            const char *src = gvir_config_domain_disk_get_source(disk);
            const char *to = src ? g_hash_table_lookup(disk_map, src) : NULL;
            if (to != NULL) {
                gvir_config_domain_disk_set_source(disk, to);
            }
        } else if (GVIR_CONFIG_IS_DOMAIN_INTERFACE(l->data) && new_macs) {
            /* 52:54:00 is the prefix QEMU and libvirt use; the rest is random. */
            g_autofree char *mac =
                g_strdup_printf("52:54:00:%02x:%02x:%02x", g_random_int_range(0, 256),
                                g_random_int_range(0, 256), g_random_int_range(0, 256));
            gvir_config_domain_interface_set_mac(l->data, mac);
        }
    }
    g_list_free_full(devices, g_object_unref);
    char *out = gvir_config_object_to_xml(GVIR_CONFIG_OBJECT(dom));
    g_object_unref(dom);
    return out;
}
