#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The desktop integration files must validate clean: desktop-file-validate prints nothing and
# appstreamcli reports no errors or warnings (infos are allowed).
#   validate-desktop-files.sh DESKTOP METAINFO
set -eu
for tool in desktop-file-validate appstreamcli; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
out=$(desktop-file-validate "$1" 2>&1) || { echo "$out"; exit 1; }
[ -z "$out" ] || { echo "$out"; exit 1; }
appstreamcli validate --no-net --explain "$2"
