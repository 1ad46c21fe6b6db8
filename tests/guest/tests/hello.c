// SPDX-License-Identifier: GPL-2.0-or-later
/* hello: the smallest guest; prints a banner and what the loader handed over, then PASSes. */
#include "guest.h"

void test_main(void)
{
    const struct hvm_start_info *si = start_info();
    uint16_t cs;

    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    printf("deskvm guest test kit: hello (CPL%u)\n", cs & 3);
    if (si != NULL) {
        printf("start_info at %#x: version %u, cmdline \"%s\", rsdp %#lx, memmap %#lx x %u\n",
               pvh_start_info_paddr, si->version, cmdline(), si->rsdp_paddr,
               si->version >= 1 ? si->memmap_paddr : 0, si->version >= 1 ? si->memmap_entries : 0);
    } else {
        printf("no hvm_start_info (EBX %#x)\n", pvh_start_info_paddr);
    }
    CHECK((cs & 3) == 3, "test body not at CPL3 (cs %#x)", cs);
}
