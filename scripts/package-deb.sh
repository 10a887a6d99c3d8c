#!/usr/bin/env bash
# Builds the Debian package (make deb) and checks it with lintian:
#   build/deb/libnginx-mod-http-magic-link_<version>_<arch>.deb
# <version> is the top entry of debian/changelog, the one place the version is set.
#
# dpkg-buildpackage writes its results into the parent of the tree it builds, so it builds a copy
# of the sources in build/deb/src: the .deb, its -dbgsym .ddeb, .changes and .buildinfo land in
# build/deb/, nothing in the checkout or its parent. The copy keeps its build/pkg between runs
# and the sources are copied with their times, so a second run compiles only what changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=build/deb
src=$out/src
# What debian/rules and the Makefile's module target read (the Makefile includes fuzz/fuzz.mk).
sources=(Makefile config README.md debian scripts sql src templates fuzz/fuzz.mk)

mkdir -p "$src/fuzz"
for path in "${sources[@]}"; do
    rm -rf "${src:?}/$path"
    cp -a "$path" "$src/$path"
done

package=$(dpkg-parsechangelog -S Source)
version=$(dpkg-parsechangelog -S Version)
deb=$out/libnginx-mod-http-magic-link_${version}_$(dpkg --print-architecture).deb
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo

echo "==> dpkg-buildpackage in $src ($package $version)"
(cd "$src" && dpkg-buildpackage -b -us -uc)
[[ -f $deb ]] || { echo "package-deb.sh: $deb was not built" >&2; exit 1; }

echo "==> lintian $deb"
# Errors fail the build; warnings and notes are printed.
lintian --fail-on error --display-info "$deb"
echo "==> $deb"
