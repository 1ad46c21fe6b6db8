/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 on-disk layout constants (QEMU docs/interop/qcow2.txt: "Header", "Header
 * extensions", "Cluster mapping", "Host cluster management"), shared by the driver and the
 * image creator. All on-disk numbers are big-endian.
 */
#ifndef DESKVM_IO_QCOW2_INTERNAL_H
#define DESKVM_IO_QCOW2_INTERNAL_H

#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */

/* Header field offsets. */
#define QCOW2_H_MAGIC 0
#define QCOW2_H_VERSION 4
#define QCOW2_H_BACKING_OFFSET 8
#define QCOW2_H_BACKING_SIZE 16
#define QCOW2_H_CLUSTER_BITS 20
#define QCOW2_H_SIZE 24
#define QCOW2_H_CRYPT 32
#define QCOW2_H_L1_SIZE 36
#define QCOW2_H_L1_OFFSET 40
#define QCOW2_H_RT_OFFSET 48
#define QCOW2_H_RT_CLUSTERS 56
#define QCOW2_H_NB_SNAPSHOTS 60
#define QCOW2_H_SNAPSHOTS_OFFSET 64
#define QCOW2_H_INCOMPAT 72
#define QCOW2_H_COMPAT 80
#define QCOW2_H_AUTOCLEAR 88
#define QCOW2_H_REFCOUNT_ORDER 96
#define QCOW2_H_HEADER_LENGTH 100
#define QCOW2_H_COMPRESSION_TYPE 104

#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_MIN_HEADER_LEN 104
#define QCOW2_V3_HEADER_LEN 112 /* with compression_type and padding, as we write it */

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ull << 1)

#define QCOW2_COMPRESSION_DEFLATE 0
#define QCOW2_COMPRESSION_ZSTD 1

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_BACKING_NAME 1023
/* Hard limits on table sizes read from a file (the same bounds QEMU applies). */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (8u << 20)
/* 2^56 bytes: far beyond any disk, small enough that no size computation overflows. */
#define QCOW2_MAX_SIZE (1ull << 56)

/* L1 / L2 entry bits. */
#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO (1ull << 0)
#define QCOW2_L1_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_RT_OFFSET_MASK 0xfffffffffffffe00ull

#endif /* DESKVM_IO_QCOW2_INTERNAL_H */
