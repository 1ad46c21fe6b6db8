// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Libraries only some options need (VNC, the display, user networking), opened with dlopen
 * on first use instead of linked: a linked library, and everything it pulls in, is mapped,
 * relocated and partly resident in every VM whether the option is used or not (libvncserver
 * alone brings a TLS stack of ~2.5 MiB resident; docs/benchmarks.md).
 *
 * A library is an X-macro listing the functions the engine calls:
 *
 *     #define LAZY_PIXMAN_FUNCS(X) X(pixman_image_create_bits) X(pixman_image_unref)
 *     LAZY_LIB_DECLARE(pixman, LAZY_PIXMAN_FUNCS)             (its header)
 *     LAZY_LIB_DEFINE(pixman, LAZY_PIXMAN_FUNCS, "pixman", "libpixman-1-0", LIBDIR, SONAME)
 *                                                             (one .c file)
 *
 * which gives `struct lazy_pixman lazy_pixman`, one member per function, typed from the
 * library's own header so that a call through it is checked as a direct call is, and
 * `int lazy_pixman_load(const char **why)`: it opens the library once (pthread_once) and
 * returns 0, or -ENOPKG with *why naming the library, its package and dlerror()'s reason.
 * Call lazy_pixman.pixman_image_unref(...) only after a successful load; the library then
 * stays loaded for the life of the process.
 */
#ifndef DESKVM_VMM_LAZY_LIB_H
#define DESKVM_VMM_LAZY_LIB_H

#include <pthread.h>
#include <stddef.h>

struct lazy_lib {
    const char *name;    /* for messages: "libvncserver" */
    const char *package; /* the (Debian) package that ships it, for messages */
    const char *libdir;  /* pkg-config's libdir at build time, tried first */
    const char *soname;  /* then the soname through the loader's search path */
    const char *const *funcs;
    size_t nfuncs;
};

/* Opens lib and resolves its nfuncs functions into addr[]: 0, or -ENOPKG with why filled. */
__attribute__((warn_unused_result)) int lazy_lib_open(const struct lazy_lib *lib, void **addr,
                                                      char *why, size_t whylen);

#define LAZY_LIB_MEMBER_(fn) __typeof__(fn) *fn;
/* Two steps, so a name the header renames (rfbInitServer is a macro for
 * rfbInitServerWithPthreadsAndZRLE) is looked up as the symbol the member is typed from. */
#define LAZY_LIB_STR_(fn) #fn
#define LAZY_LIB_NAME_(fn) LAZY_LIB_STR_(fn),
#define LAZY_LIB_SET_(fn) table_->fn = (__typeof__(fn) *)addr_[i_++];

#define LAZY_LIB_DECLARE(lib, FUNCS)                                                               \
    struct lazy_##lib {                                                                            \
        FUNCS(LAZY_LIB_MEMBER_)                                                                    \
    };                                                                                             \
    extern struct lazy_##lib lazy_##lib;                                                           \
    __attribute__((warn_unused_result)) int lazy_##lib##_load(const char **why);

#define LAZY_LIB_DEFINE(lib, FUNCS, name_, package_, libdir_, soname_)                             \
    struct lazy_##lib lazy_##lib;                                                                  \
    static const char *const lazy_##lib##_funcs[] = {FUNCS(LAZY_LIB_NAME_)};                       \
    enum { lazy_##lib##_nfuncs = sizeof(lazy_##lib##_funcs) / sizeof(lazy_##lib##_funcs[0]) };     \
    static char lazy_##lib##_why[512];                                                             \
    static int lazy_##lib##_status;                                                                \
    static pthread_once_t lazy_##lib##_once = PTHREAD_ONCE_INIT;                                   \
    static void lazy_##lib##_open(void)                                                            \
    {                                                                                              \
        static const struct lazy_lib desc = {name_,   package_,           libdir_,                 \
                                             soname_, lazy_##lib##_funcs, lazy_##lib##_nfuncs};    \
        void *addr_[lazy_##lib##_nfuncs];                                                          \
        lazy_##lib##_status =                                                                      \
            lazy_lib_open(&desc, addr_, lazy_##lib##_why, sizeof(lazy_##lib##_why));               \
        if (lazy_##lib##_status == 0) {                                                            \
            struct lazy_##lib *table_ = &lazy_##lib;                                               \
            size_t i_ = 0;                                                                         \
            FUNCS(LAZY_LIB_SET_)                                                                   \
        }                                                                                          \
    }                                                                                              \
    int lazy_##lib##_load(const char **why)                                                        \
    {                                                                                              \
        pthread_once(&lazy_##lib##_once, lazy_##lib##_open);                                       \
        if (lazy_##lib##_status < 0 && why) {                                                      \
            *why = lazy_##lib##_why;                                                               \
        }                                                                                          \
        return lazy_##lib##_status;                                                                \
    }

#endif
