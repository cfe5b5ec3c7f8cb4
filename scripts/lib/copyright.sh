#!/bin/sh
# Writes a Debian copyright file (machine-readable format 1.0) for Go
# binaries: b2fs itself, the Go standard library, and every module that
# `go version -m` lists in them, each with the license file the module
# ships (read from the module cache). Apache-2.0 refers to
# /usr/share/common-licenses as Debian policy asks.
#
#   scripts/lib/copyright.sh BINARY... >copyright
set -eu

[ $# -gt 0 ] || { echo "usage: copyright.sh BINARY..." >&2; exit 2; }

# license_of FILE prints a short license name for a license text.
license_of() {
	if grep -q "Apache License" "$1" && grep -q "Version 2.0" "$1"; then
		echo Apache-2.0
	elif grep -q "Permission is hereby granted, free of charge" "$1"; then
		echo Expat
	elif grep -q "Neither the name" "$1" || grep -qi "names of its contributors may" "$1"; then
		echo BSD-3-clause
	elif grep -q "Redistributions in binary form" "$1"; then
		echo BSD-2-clause
	elif grep -q "Mozilla Public License" "$1"; then
		echo MPL-2.0
	else
		echo unknown
	fi
}

# as_field prints a file as a copyright field body: indented, blank lines
# as " .".
as_field() {
	sed -e 's/[[:space:]]*$//' -e 's/^/ /' -e 's/^ $/ ./' "$1"
}

# holders prints the Copyright lines of a license text (or a default).
holders() {
	h=$(grep -i '^[[:space:]]*copyright (c)\|^[[:space:]]*copyright [0-9]' "$1" | sed -e 's/^[[:space:]]*[Cc]opyright *\((c)\|(C)\)\{0,1\} *//' -e 's/[[:space:]]*$//' | head -3 || true)
	[ -n "$h" ] || h="$2"
	printf '%s\n' "$h" | sed '2,$s/^/ /'
}

cat <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: b2fs
Source: https://github.com/b2fs/b2fs
Comment: The binaries are statically linked Go programs. Besides b2fs's
 own code they contain the Go standard library and the Go modules listed
 below, each under the license shown.

Files: *
Copyright: b2fs developers
License: no-license-statement
 The b2fs source tree does not carry a license statement; ask the b2fs
 developers before redistributing it.
EOF

goroot=$(go env GOROOT)
if [ -f "$goroot/LICENSE" ]; then
	lic=$(license_of "$goroot/LICENSE")
	printf '\nFiles: go/std\nCopyright: %s\nComment: the Go standard library (%s)\nLicense: %s\n' \
		"$(holders "$goroot/LICENSE" "The Go Authors")" "$(go env GOVERSION)" "$lic"
	as_field "$goroot/LICENSE"
fi

apache=
for mod in $(go version -m "$@" | awk '$1 == "dep" {print $2 "@" $3}' | LC_ALL=C sort -u); do
	path=${mod%@*}
	dir=$(go list -m -f '{{.Dir}}' "$mod" 2>/dev/null || true)
	file=
	for f in LICENSE LICENSE.txt LICENSE.md COPYING LICENCE; do
		if [ -n "$dir" ] && [ -f "$dir/$f" ]; then
			file=$dir/$f
			break
		fi
	done
	if [ -z "$file" ]; then
		echo "copyright.sh: no license file for $mod (is it in the module cache? go mod download)" >&2
		exit 1
	fi
	lic=$(license_of "$file")
	if [ "$lic" = unknown ]; then
		echo "copyright.sh: cannot tell the license of $mod from $file" >&2
		exit 1
	fi
	printf '\nFiles: go/%s\nCopyright: %s\nComment: Go module %s\nLicense: %s\n' \
		"$path" "$(holders "$file" "the authors of $path")" "$mod" "$lic"
	if [ "$lic" = Apache-2.0 ]; then
		apache=yes
		echo " On Debian systems the full text of the Apache License 2.0 is in"
		echo " /usr/share/common-licenses/Apache-2.0."
	else
		as_field "$file"
	fi
done
if [ -n "$apache" ]; then
	printf '\nLicense: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n'
fi
