// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The one dlopen/dlsym loop behind every LAZY_LIB_DEFINE (vmm/lazy_lib.h). It keeps the
 * library open for good: the function pointers it hands out are used until the engine ends.
 */
#include "vmm/lazy_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

int lazy_lib_open(const struct lazy_lib *lib, void **addr, char *why, size_t whylen)
{
    /* The build's libdir first (a library outside the loader's search path), then the
     * soname through the loader's search path (a binary moved to another layout). */
    void *h = NULL;
    if (lib->libdir && lib->libdir[0]) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", lib->libdir, lib->soname);
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
    if (!h) {
        h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    }
    if (!h) {
        const char *e = dlerror();
        snprintf(why, whylen, "%s (%s): %s", lib->name, lib->package, e ? e : lib->soname);
        return -ENOPKG;
    }
    for (size_t i = 0; i < lib->nfuncs; i++) {
        dlerror();
        addr[i] = dlsym(h, lib->funcs[i]);
        if (!addr[i]) {
            /* An older library than the one built against: refuse it as a whole. */
            const char *e = dlerror();
            snprintf(why, whylen, "%s (%s): %s", lib->name, lib->package, e ? e : lib->funcs[i]);
            dlclose(h);
            return -ENOPKG;
        }
    }
    return 0;
}
