#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A man page must format without a warning (man --warnings), and, given the program, document
# every option its --help lists; given docs/exit-status.md, every exit status of that table.
#   check-man.sh PAGE [PROGRAM [EXIT_STATUS_MD]]
set -eu
page=$1
command -v man >/dev/null || { echo "SKIP: man (man-db) not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# groff's warnings go to stderr; the rendered page must not be empty either.
LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=100 man --warnings -E UTF-8 -l "$page" \
    >"$tmp/page.utf8" 2>"$tmp/warnings"
if [ -s "$tmp/warnings" ]; then
    echo "$page: man --warnings:"; cat "$tmp/warnings"; exit 1
fi
# ASCII rendering for the checks below (\- and - both become '-').
LC_ALL=C MANWIDTH=200 man -l "$page" 2>/dev/null | col -bx >"$tmp/page"
grep -q '^NAME' "$tmp/page" || { echo "$page: no NAME section"; exit 1; }
fail=0

if [ $# -ge 2 ]; then
    # Option names as --help lists them at the start of its lines: "  -S, --paused", "  --cpus N".
    "$2" --help >"$tmp/help" || [ $? -eq 1 ]
    sed -n 's/^ \{1,4\}\(-[A-Za-z0-9], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\1 \2/p' "$tmp/help" \
        | tr -d ',' | tr ' ' '\n' | sed '/^$/d' | sort -u >"$tmp/options"
    [ -s "$tmp/options" ] || { echo "$2 --help lists no options"; exit 1; }
    # An option is documented where the OPTIONS section has a tag line naming it.
    sed -n '/^OPTIONS/,/^[A-Z]/p' "$tmp/page" | grep -E '^ {7}-' >"$tmp/tags" || true
    while read -r opt; do
        if ! grep -qE -- "(^|[ ,])$opt([ ,=]|$)" "$tmp/tags"; then
            echo "$page: option $opt of '$2 --help' is not documented in OPTIONS"; fail=1
        fi
    done <"$tmp/options"
    echo "$(wc -l <"$tmp/options") options of --help documented"
fi

if [ $# -ge 3 ]; then
    # Statuses are the first cells of the table rows: "| 0 |", "| (V << 1) \| 1, modulo 256 |".
    sed -n '/^EXIT STATUS/,/^[A-Z]/p' "$tmp/page" >"$tmp/exit"
    grep -E '^\| *[0-9(]' "$3" | sed 's/^| *\([^ |]*\).*/\1/' | while read -r st; do
        if ! grep -qF -- "       $st" "$tmp/exit"; then
            echo "$page: exit status $st of $3 is not in EXIT STATUS"; exit 1
        fi
    done || fail=1
fi
exit $fail
