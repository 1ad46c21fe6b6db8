#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the Debian package from a clean export of the committed tree and run lintian on it
# (docs/packaging.md). Fails on a build failure or any lintian error; warnings are printed.
#   packaging/build-deb.sh [OUTDIR]     (default: build-deb; the .deb, .buildinfo, .changes
#                                        and lintian.txt end up there)
# DEB_BUILD_OPTIONS passes through (e.g. nocheck, parallel=2).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-deb}
for tool in dpkg-buildpackage dh lintian git; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (debhelper, lintian)"; exit 77; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A clean tree: what HEAD holds, nothing built, nothing uncommitted.
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
mkdir "$work/deskvm-$version"
git -C "$src" archive --format=tar HEAD | tar -x -C "$work/deskvm-$version"
cd "$work/deskvm-$version"
dpkg-checkbuilddeps
echo "build-deb: dpkg-buildpackage -us -uc -b in $work/deskvm-$version"
dpkg-buildpackage -us -uc -b >"$out/dpkg-buildpackage.log" 2>&1 || {
    tail -n 60 "$out/dpkg-buildpackage.log"; echo "build-deb: dpkg-buildpackage failed"; exit 1; }
cd "$work"
rm -f "$out"/deskvm_* "$out"/deskvm-dbgsym_*
cp ./*.deb ./*.buildinfo ./*.changes "$out/"
deb=$out/deskvm_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb
[ -f "$deb" ] || { echo "build-deb: no $deb"; exit 1; }
dpkg-deb --info "$deb" >"$out/info.txt"
dpkg-deb --contents "$deb" >"$out/contents.txt"

# lintian: status 1 with an error (--fail-on error), 2 when it could not check at all. Tags
# are "E: ", "W: ", "I: ", "P: " lines; warnings do not fail the build (docs/packaging.md).
rc=0
lintian --fail-on error --info --display-info --pedantic "$out"/*.changes \
    >"$out/lintian.txt" 2>&1 || rc=$?
cat "$out/lintian.txt"
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$out/lintian.txt" || true)
echo "build-deb: $deb; lintian: exit $rc, $errors errors, $warnings warnings ($out/lintian.txt)"
[ "$rc" -eq 0 ] && [ "$errors" -eq 0 ]
