#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the built Debian package into a fresh, empty root with dpkg --root (its own dpkg
# database, no packages besides deskvm), check the files it brings, run the installed
# deskvm-vm, then remove the package and check nothing of it is left (docs/packaging.md).
#   packaging/check-deb-install.sh DEBDIR      (where build-deb.sh put deskvm_*.deb)
# Exit 77 (skip) when DEBDIR holds no package: run the 'deb' test (or build-deb.sh) first.
set -eu
debdir=${1:?usage: check-deb-install.sh DEBDIR}
deb=$(ls "$debdir"/deskvm_*.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] || { echo "SKIP: no deskvm_*.deb in $debdir (run build-deb.sh or the deb test first)"; exit 77; }
command -v dpkg >/dev/null || { echo "SKIP: dpkg not installed"; exit 77; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# An empty dpkg database: the package meets no other installed package (its Depends are
# ignored, --force-depends), runs no maintainer script (it has none) and no trigger.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
echo "check-deb-install: $deb into $root"
dpkg --root="$root" --force-depends --force-not-root --log=/dev/null -i "$deb" \
    2>"$root/dpkg-i.err" || { cat "$root/dpkg-i.err"; fail "dpkg -i into the empty root failed"; }
dpkg --root="$root" -s deskvm | grep -qx 'Status: install ok installed' \
    || fail "deskvm is not 'install ok installed' in the new root"

# What the package must bring (docs/packaging.md, "Installed files").
for f in usr/bin/deskvm-vm usr/bin/deskvm \
    usr/share/man/man1/deskvm-vm.1.gz usr/share/man/man1/deskvm.1.gz \
    usr/share/applications/org.deskvm.Deskvm.desktop \
    usr/share/metainfo/org.deskvm.Deskvm.metainfo.xml \
    usr/share/glib-2.0/schemas/org.deskvm.Deskvm.gschema.xml \
    usr/share/icons/hicolor/scalable/apps/org.deskvm.Deskvm.svg \
    usr/share/icons/hicolor/symbolic/apps/org.deskvm.Deskvm-symbolic.svg \
    usr/share/doc/deskvm/copyright; do
    [ -s "$root/$f" ] || fail "the package does not install /$f"
done
for n in 16 24 32 48 64 128 256 512; do
    png=$root/usr/share/icons/hicolor/${n}x$n/apps/org.deskvm.Deskvm.png
    [ -s "$png" ] || fail "no ${n}x$n icon"
    head -c 8 "$png" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a' || fail "$png is not a PNG"
done
[ -x "$root/usr/bin/deskvm-vm" ] && [ -x "$root/usr/bin/deskvm" ] || fail "binaries not executable"
# dpkg's own list matches the tree (every listed path exists in the root).
dpkg --root="$root" -L deskvm | while read -r p; do
    [ -e "$root$p" ] || [ -L "$root$p" ] || fail "dpkg lists $p, which is not in the root"
done

# The installed engine runs (against the host's libraries) and knows its version.
want=$(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')
got=$("$root/usr/bin/deskvm-vm" --version) || fail "deskvm-vm --version failed"
echo "check-deb-install: deskvm-vm --version: $got (package $want)"
case $got in *"$want"*) ;; *) fail "deskvm-vm --version says '$got', the package is $want" ;; esac

# Every Depends group names a package this host's dpkg has installed, or apt knows (the
# dependencies ignored above exist; a misspelt hand-written one fails here).
dpkg-deb -f "$deb" Depends | tr ',' '\n' | while read -r group; do
    [ -n "$group" ] || continue
    found=
    for alt in $(echo "$group" | tr '|' '\n' | sed 's/(.*)//; s/:any//' | tr -d ' ' ); do
        if dpkg-query -W -f='${Status}\n' "$alt" 2>/dev/null | grep -q 'install ok installed' ||
            apt-cache show "$alt" >/dev/null 2>&1; then
            found=$alt
            break
        fi
    done
    [ -n "$found" ] || fail "no package of the Depends group '$group' is known here"
done

# Removal leaves none of the package's files behind.
dpkg --root="$root" --force-depends --force-not-root --log=/dev/null --purge deskvm \
    || fail "dpkg --purge failed"
left=$(find "$root/usr" -type f 2>/dev/null | head -n 5)
[ -z "$left" ] || fail "files left after purge: $left"
echo "check-deb-install: installed, checked, ran and purged"
