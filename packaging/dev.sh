#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's two commands: install what deskvm needs from Debian, build, and then either
# open the app (run; with no display: the embedded demo guest headless, VNC on 127.0.0.1:5900)
# or run the whole test suite (test). With options, run starts the engine with them instead.
#   packaging/dev.sh run  [deskvm-vm options]
#   packaging/dev.sh test
set -eu
cd "$(dirname "$0")/.."

mode=${1:-run}
[ $# -gt 0 ] && shift

build_deps="meson ninja-build pkg-config gcc libc6-dev libjansson-dev libcapstone-dev zlib1g-dev
 liblzma-dev liblz4-dev libzstd-dev libxxhash-dev libslirp-dev libglib2.0-dev liburing-dev
 libpixman-1-dev libpng-dev libvncserver-dev kbd
 libgtk-3-dev libvte-2.91-dev libvirt-glib-1.0-dev libjson-glib-dev libxml2-dev librsvg2-bin"
test_deps="libcmocka-dev clang-format binutils mount qemu-system-x86 qemu-utils clang libclang-rt-14-dev acpica-tools socat seabios ovmf qemu-system-data grub-rescue-pc iproute2 linux-perf
 linux-image-cloud-amd64 busybox-static vncsnapshot libjpeg-turbo-progs
 xvfb xauth xdotool x11-apps imagemagick desktop-file-utils appstream man-db
 tigervnc-viewer tigervnc-tools gvncviewer python3-gi gir1.2-atspi-2.0 at-spi2-core dbus-daemon
 dpkg-dev debhelper lintian"

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
    if [ $# -gt 0 ]; then
        exec build/vmm/deskvm-vm "$@"
    fi
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        echo "No display (\$DISPLAY and \$WAYLAND_DISPLAY are unset): running the demo VM headless."
        echo "Its screen is on VNC at 127.0.0.1:5900 (e.g. gvncviewer 127.0.0.1:0); 'q' on the"
        echo "serial console below powers it off."
        exec build/vmm/deskvm-vm --vnc 127.0.0.1:5900 --serial stdio
    fi
    if [ ! -x build/gui/deskvm ]; then
        echo "build/gui/deskvm was not built (GTK/VTE missing?): running the engine instead"
        exec build/vmm/deskvm-vm --serial stdio
    fi
    DESKVM_VM="$PWD/build/vmm/deskvm-vm" exec build/gui/deskvm
    ;;
test)
    # shellcheck disable=SC2086
    install_deps $build_deps $test_deps
    werror=-Dwerror=true
    # Formatting first: it takes a second and names every file that differs from .clang-format.
    if [ -d .git ] && ! git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror; then
        echo "format: run clang-format -i on the files above"; exit 1
    fi
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
    fuzz_failed=0
    for f in build-fuzz/tests/fuzz/fuzz-*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=tests/fuzz/corpus/${name#fuzz-}
        [ -d "$corpus" ] || corpus=
        # New inputs go to the first (scratch) directory; the seeds in the tree stay as they are.
        mkdir -p "build-fuzz/corpus-$name"
        if "$f" -max_total_time="${FUZZ_SECONDS:-10}" "build-fuzz/corpus-$name" $corpus \
            > "build-fuzz/$name.log" 2>&1; then
            echo "fuzz: $name OK ($(grep -o 'Done [0-9]* runs' "build-fuzz/$name.log"))"
        else
            echo "fuzz: $name FAILED"; tail -n 40 "build-fuzz/$name.log"; fuzz_failed=1
        fi
    done
    # One closing line over everything that ran (meson's test logs and the fuzzers).
    python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json "$fuzz_failed" <<'PY'
import json, sys
counts = {'OK': 0, 'FAIL': 0, 'SKIP': 0}
for path in sys.argv[1:3]:
    for line in open(path):
        r = json.loads(line)['result']
        key = 'OK' if r in ('OK', 'EXPECTEDFAIL') else 'SKIP' if r == 'SKIP' else 'FAIL'
        counts[key] += 1
print('tests: %d passed, %d failed, %d skipped' % (counts['OK'], counts['FAIL'], counts['SKIP']))
sys.exit(1 if counts['FAIL'] or sys.argv[3] != '0' else 0)
PY
    ;;
*)
    echo "usage: packaging/dev.sh run|test" >&2
    exit 2
    ;;
esac
