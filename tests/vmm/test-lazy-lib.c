// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The dlopen-on-first-use mechanism (vmm/lazy_lib.h): a missing library or function gives
 * -ENOPKG and a message naming library, package and reason; a present one resolves once, from
 * any number of threads; the engine's own tables resolve every function against the installed
 * libraries, so a function added to a list but missing from the library fails here.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/lazy_lib.h"
#include "vmm/lazy_pixman.h"
#include "vmm/lazy_png.h"
#include "vmm/lazy_slirp.h"
#include "vmm/lazy_vncserver.h"

/* libm: present wherever the tests run, and not otherwise loaded by name through the table. */
#define TEST_LIBM_FUNCS(X) X(cos) X(sqrt)
LAZY_LIB_DECLARE(libm, TEST_LIBM_FUNCS)
LAZY_LIB_DEFINE(libm, TEST_LIBM_FUNCS, "libm", "libc6", "/nonexistent-libdir", "libm.so.6")

#define TEST_MISSING_FUNCS(X) X(cos)
LAZY_LIB_DECLARE(missing, TEST_MISSING_FUNCS)
LAZY_LIB_DEFINE(missing, TEST_MISSING_FUNCS, "libdeskvm-missing", "deskvm-missing-pkg",
                "/nonexistent-libdir", "libdeskvm-missing.so.7")

static void test_open_missing_library(void **state)
{
    static const char *const funcs[] = {"cos"};
    const struct lazy_lib lib = {
        "libnothing", "nothing-pkg", "/nonexistent-libdir", "libdeskvm-nothing.so.3", funcs, 1};
    void *addr[1] = {NULL};
    char why[512] = "";
    assert_int_equal(lazy_lib_open(&lib, addr, why, sizeof(why)), -ENOPKG);
    assert_non_null(strstr(why, "libnothing (nothing-pkg): "));
    assert_non_null(strstr(why, "libdeskvm-nothing.so.3")); /* dlerror() names the file */
}

static void test_open_missing_function(void **state)
{
    static const char *const funcs[] = {"cos", "deskvm_no_such_function"};
    const struct lazy_lib lib = {"libm", "libc6", "", "libm.so.6", funcs, 2};
    void *addr[2] = {NULL, NULL};
    char why[512] = "";
    assert_int_equal(lazy_lib_open(&lib, addr, why, sizeof(why)), -ENOPKG);
    assert_non_null(strstr(why, "libm (libc6): "));
    assert_non_null(strstr(why, "deskvm_no_such_function"));
}

static void test_open_resolves(void **state)
{
    static const char *const funcs[] = {"cos", "sqrt"};
    const struct lazy_lib lib = {"libm", "libc6", "", "libm.so.6", funcs, 2};
    void *addr[2] = {NULL, NULL};
    char why[512] = "";
    assert_int_equal(lazy_lib_open(&lib, addr, why, sizeof(why)), 0);
    double (*c)(double) = (double (*)(double))addr[0];
    double (*s)(double) = (double (*)(double))addr[1];
    assert_true(c(0.0) == 1.0);
    assert_true(s(16.0) == 4.0);
}

static void test_define_missing(void **state)
{
    const char *why = NULL;
    assert_int_equal(lazy_missing_load(&why), -ENOPKG);
    assert_non_null(why);
    assert_non_null(strstr(why, "libdeskvm-missing (deskvm-missing-pkg): "));
    assert_null(lazy_missing.cos);
    const char *again = NULL;
    assert_int_equal(lazy_missing_load(&again), -ENOPKG); /* tried once, remembered */
    assert_ptr_equal(again, why);
    assert_int_equal(lazy_missing_load(NULL), -ENOPKG);
}

static void *load_libm(void *arg)
{
    return (void *)(intptr_t)lazy_libm_load(NULL);
}

static void test_define_resolves_once_from_threads(void **state)
{
    pthread_t t[8];
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, load_libm, NULL), 0);
    }
    for (unsigned i = 0; i < 8; i++) {
        void *r = NULL;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_int_equal((intptr_t)r, 0);
    }
    /* The libdir is wrong: the soname through the loader's search path was used instead. */
    assert_true(lazy_libm.cos(0.0) == 1.0);
    assert_true(lazy_libm.sqrt(81.0) == 9.0);
}

#define ASSERT_RESOLVED(table, fn) assert_non_null(table.fn);
#define CHECK_VNCSERVER(fn) ASSERT_RESOLVED(lazy_vncserver, fn)
#define CHECK_SLIRP(fn) ASSERT_RESOLVED(lazy_slirp, fn)
#define CHECK_PIXMAN(fn) ASSERT_RESOLVED(lazy_pixman, fn)
#define CHECK_PNG(fn) ASSERT_RESOLVED(lazy_png, fn)

static void test_engine_tables(void **state)
{
    const char *why = "(no reason)";
    if (lazy_vncserver_load(&why) < 0 || lazy_slirp_load(&why) < 0 || lazy_pixman_load(&why) < 0 ||
        lazy_png_load(&why) < 0) {
        fail_msg("%s", why);
    }
    LAZY_VNCSERVER_FUNCS(CHECK_VNCSERVER)
    LAZY_SLIRP_FUNCS(CHECK_SLIRP)
    LAZY_PIXMAN_FUNCS(CHECK_PIXMAN)
    LAZY_PNG_FUNCS(CHECK_PNG)
    /* A call through the table reaches the library. */
    pixman_region32_t r;
    lazy_pixman.pixman_region32_init_rect(&r, 0, 0, 4, 4);
    assert_true(lazy_pixman.pixman_region32_not_empty(&r));
    lazy_pixman.pixman_region32_clear(&r);
    assert_false(lazy_pixman.pixman_region32_not_empty(&r));
    lazy_pixman.pixman_region32_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_missing_library),
        cmocka_unit_test(test_open_missing_function),
        cmocka_unit_test(test_open_resolves),
        cmocka_unit_test(test_define_missing),
        cmocka_unit_test(test_define_resolves_once_from_threads),
        cmocka_unit_test(test_engine_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
