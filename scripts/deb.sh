#!/bin/bash
# make deb: the Debian packages of this tree, built with debhelper (dh with
# meson) from a copy of the working tree (tracked and new files, not the
# build dirs) in OUT/tpmbroker-VERSION, so that dpkg-buildpackage's ../ is OUT.  Installs
# the build dependencies with apt-get when something is missing (root).
# Leaves in OUT (default build-deb/): tpmbroker_*.deb,
# libtss2-tcti-tpmbroker0_*.deb, libtss2-tcti-tpmbroker-dev_*.deb, and
# lintian.txt (lintian's findings, when lintian is installed; LINT=0 skips).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-build-deb}
LINT=${LINT:-1}
version=$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null ||
	sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
src=$OUT/tpmbroker-$version

rm -rf "$OUT"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard |
	xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' |
	tar --null -T - -cf - | tar -xf - -C "$src"

# the build dependencies, and what builds and checks a package
need=()
for p in dpkg-dev debhelper lintian; do
	[ "$p" = lintian ] && [ "$LINT" = 0 ] && continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ] || ! (cd "$src" && dpkg-checkbuilddeps >/dev/null 2>&1); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "make deb: missing build dependencies; as root: apt-get build-dep $src" \
			"&& apt-get install ${need[*]}" >&2
		exit 1
	fi
	echo "make deb: installing build dependencies"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	[ ${#need[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${need[@]}"
	apt-get build-dep -y -qq --no-install-recommends "./$src"
fi

(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$OUT/build.log" 2>&1 || {
	tail -n 40 "$OUT/build.log" >&2
	echo "make deb: dpkg-buildpackage failed; the whole log: $OUT/build.log" >&2
	exit 1
}
rm -rf "$src"
if [ "$LINT" != 0 ]; then
	# informational: what is left is listed in the README
	# every level (-I --pedantic); root's "not recommended" notice dropped
	lintian -I --pedantic "$OUT"/*.changes 2>&1 |
		grep -v '^running with root privileges' >"$OUT/lintian.txt" || true
fi
echo "make deb: packages in $OUT/:"
ls -1 "$OUT"/*.deb
if [ "$LINT" != 0 ]; then
	echo "lintian ($OUT/lintian.txt):"
	if [ -s "$OUT/lintian.txt" ]; then sed 's/^/  /' "$OUT/lintian.txt"; else echo "  clean"; fi
fi
