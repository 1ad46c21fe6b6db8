#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's two commands: install what deskvm needs from Debian, build, and then either
# run the engine on its embedded demo guest (run) or run the whole test suite (test).
#   packaging/dev.sh run  [deskvm-vm options]
#   packaging/dev.sh test
set -eu
cd "$(dirname "$0")/.."

mode=${1:-run}
[ $# -gt 0 ] && shift

build_deps="meson ninja-build pkg-config gcc libc6-dev libjansson-dev libcapstone-dev zlib1g-dev
 liblzma-dev liblz4-dev libzstd-dev libxxhash-dev"
test_deps="libcmocka-dev qemu-system-x86 clang libclang-rt-14-dev acpica-tools socat
 linux-image-cloud-amd64"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_deps() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "Installing:$missing"
        as_root apt-get update -q
        # shellcheck disable=SC2086
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    fi
}

case "$mode" in
run)
    # shellcheck disable=SC2086
    install_deps $build_deps
    [ -d build ] || meson setup build
    ninja -C build
    exec build/vmm/deskvm-vm "$@"
    ;;
test)
    # shellcheck disable=SC2086
    install_deps $build_deps $test_deps
    werror=-Dwerror=true
    [ -d build ] || meson setup build $werror
    ninja -C build
    meson test -C build --print-errorlogs
    # Second build: AddressSanitizer + UndefinedBehaviorSanitizer over the unit tests.
    [ -d build-asan ] || meson setup build-asan $werror -Db_sanitize=address,undefined \
        -Db_lundef=false
    ninja -C build-asan
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --suite unit --print-errorlogs
    # Fuzz targets: a short run of each (clang + libFuzzer).
    [ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false \
        -Dtests=disabled
    ninja -C build-fuzz
    for f in build-fuzz/tests/fuzz/fuzz-*; do
        [ -x "$f" ] || continue
        echo "fuzz: $f"
        "$f" -max_total_time="${FUZZ_SECONDS:-10}" -print_final_stats=0 2>&1 | tail -n 2
    done
    ;;
*)
    echo "usage: packaging/dev.sh run|test" >&2
    exit 2
    ;;
esac
