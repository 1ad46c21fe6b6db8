/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small AML byte-code writer for the DSDT: names, integers, strings, packages, scopes,
 * devices and resource-template buffers (ACPI 6.x section 20, "ACPI Machine Language";
 * resource descriptors from section 6.4). Only what the machine's DSDT needs.
 */
#ifndef DESKVM_VMM_ACPI_AML_H
#define DESKVM_VMM_ACPI_AML_H

#include <stddef.h>
#include <stdint.h>

/*
 * A growable byte buffer. Errors are sticky: after the first failure every call is a no-op
 * and err holds -ENOMEM / -EINVAL / -E2BIG, so a builder checks once at the end.
 */
struct aml_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err;
};

void aml_init(struct aml_buf *b);
void aml_free(struct aml_buf *b);

void aml_byte(struct aml_buf *b, uint8_t v);
void aml_bytes(struct aml_buf *b, const void *p, size_t n);

/* Integer data object in its shortest form: ZeroOp, OneOp, Byte/Word/DWord/QWordConst. */
void aml_integer(struct aml_buf *b, uint64_t v);
/* String data object (StringPrefix, ASCII, NUL). */
void aml_string(struct aml_buf *b, const char *s);
/* DWordConst holding a compressed EISA id such as "PNP0501". */
void aml_eisaid(struct aml_buf *b, const char *id);
/*
 * NameString: optional leading '\', then segments of 1-4 characters separated by '.',
 * each padded with '_' to 4 ("\_SB.COM1", "_S5").
 */
void aml_name_string(struct aml_buf *b, const char *path);

/*
 * Package lengths are written after the body is known: *_begin returns a mark, aml_end()
 * inserts the PkgLength encoding for everything written since.
 */
size_t aml_pkg_begin(struct aml_buf *b);
void aml_end(struct aml_buf *b, size_t mark);

/* Name(path, ...): follow with one data object (aml_integer, aml_string, ...). */
void aml_name(struct aml_buf *b, const char *path);
/* Scope(path) { ... } and Device(path) { ... }: close with aml_end(). */
size_t aml_scope_begin(struct aml_buf *b, const char *path);
size_t aml_device_begin(struct aml_buf *b, const char *path);
/* Package(n) { ... }: write n data objects, close with aml_end(). */
size_t aml_package_begin(struct aml_buf *b, uint8_t nelems);
/* Buffer holding raw bytes (a resource template built with the aml_res_* calls). */
void aml_buffer(struct aml_buf *b, const struct aml_buf *contents);

/* Resource descriptors (ACPI 6.4.2): append to a separate aml_buf, finish with end_tag. */
void aml_res_io(struct aml_buf *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_irq_noflags(struct aml_buf *r, unsigned irq);
void aml_res_end_tag(struct aml_buf *r);
/*
 * Address space descriptors (6.4.3.5.2-3), producer, min and max fixed, positive decode,
 * granularity 0, no translation: type AML_RES_MEMORY / AML_RES_IO / AML_RES_BUS, with the
 * type-specific flags byte (memory: bit 0 read-write; I/O: 3 = entire range).
 */
#define AML_RES_MEMORY 0
#define AML_RES_IO 1
#define AML_RES_BUS 2
void aml_res_word(struct aml_buf *r, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max);
void aml_res_dword(struct aml_buf *r, uint8_t type, uint8_t type_flags, uint32_t min, uint32_t max);

#endif
