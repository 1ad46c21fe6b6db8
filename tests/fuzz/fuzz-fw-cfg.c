// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for fw_cfg: port accesses of every size and offset, and DMA descriptors
 * (taken from the input and placed in fake guest RAM, so control, length and address are the
 * fuzzer's) pointing anywhere, including outside RAM and across its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/fw_cfg.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram[RAM];
    struct guest_mem mem;
    guest_mem_init_host(&mem, ram, RAM);
    struct fw_cfg f;
    if (fw_cfg_init(&f, &mem) != 0 || fw_cfg_add_file(&f, "etc/e820", "abcdefghijklmnopqrst", 20) ||
        fw_cfg_add_i64(&f, FW_CFG_RAM_SIZE, RAM)) {
        abort();
    }
    size_t i = 0;
    while (i + 1 <= size) {
        uint8_t op = data[i++];
        switch (op % 4) {
        case 0: { /* port write: offset and size from op, value from the next 4 bytes */
            uint32_t v = 0;
            size_t n = size - i < 4 ? size - i : 4;
            memcpy(&v, data + i, n);
            i += n;
            fw_cfg_ops.write(&f, (op >> 2) % FW_CFG_PORT_LEN, v, 1u << ((op >> 6) % 3));
            break;
        }
        case 1:
            fw_cfg_ops.read(&f, (op >> 2) % FW_CFG_PORT_LEN, 1u << ((op >> 6) % 3));
            break;
        case 2: { /* a 16-byte descriptor at a fuzzer-chosen place in RAM, then run it */
            if (size - i < 20) {
                i = size;
                break;
            }
            uint32_t at;
            memcpy(&at, data + i, 4);
            at %= RAM;
            size_t n = RAM - at < 16 ? RAM - at : 16;
            memcpy(ram + at, data + i + 4, n);
            i += 20;
            fw_cfg_dma(&f, at);
            break;
        }
        default: { /* a descriptor address anywhere in the 64-bit space */
            uint64_t gpa = 0;
            size_t n = size - i < 8 ? size - i : 8;
            memcpy(&gpa, data + i, n);
            i += n;
            fw_cfg_dma(&f, gpa);
            break;
        }
        }
    }
    fw_cfg_destroy(&f);
    return 0;
}
