#!/bin/bash
# The Debian packages (issue 10): built by scripts/deb.sh (make deb) once per
# content of the tree, into a cache shared by the build trees
# ($TPMBROKER_DEB_CACHE, default /tmp/tpmbroker-deb-cache/HASH: a plain and
# an ASan check of the same tree build it once); then unpacked into a
# scratch root with dpkg -x.  Checked: every file the README lists, the
# conffile, the dependencies (tpm-udev makes tss), the units as packaged
# (systemd-analyze verify), and the packaged daemon, CLI and TCTI serving
# tpm2-tools from the scratch root.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${SRC:?SRC must point at the source tree}"

for t in dpkg-buildpackage dh git; do
	command -v "$t" >/dev/null || fail "$t missing (Debian: dpkg-dev, debhelper, git)"
done
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# the cache key: names and contents of the files make deb copies
# shellcheck disable=SC2016 # $f is the inner shell's
hash=$(cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\n" "$f" && cat "$f"; done' sh |
	sha256sum | cut -c1-16)
CACHE=${TPMBROKER_DEB_CACHE:-/tmp/tpmbroker-deb-cache}
mkdir -p "$CACHE"
OUT=$CACHE/$hash
(
	flock 9
	if [ ! -e "$OUT/ok" ]; then
		start=$(date +%s)
		LINT=0 "$SRC/scripts/deb.sh" "$OUT" >"$T/deb.log" 2>&1 ||
			{ cat "$T/deb.log" >&2; exit 1; }
		touch "$OUT/ok"
		echo "built the packages in $(($(date +%s) - start)) s"
		# older trees' packages go
		find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -mmin +60 \
			-exec rm -rf {} + 2>/dev/null || true
	else
		echo "packages of this tree cached in $OUT"
	fi
) 9>"$CACHE/.lock" || fail "make deb failed"

version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
ROOT=$T/root
for p in tpmbroker libtss2-tcti-tpmbroker0 libtss2-tcti-tpmbroker-dev; do
	deb=$OUT/${p}_${version}_$arch.deb
	[ -f "$deb" ] || fail "no $deb"
	dpkg -x "$deb" "$ROOT" || fail "dpkg -x $deb"
done

# the files the README lists ("Debian package")
for f in usr/sbin/tpmbrokerd usr/bin/tpmbroker \
	"usr/lib/$MA/libtss2-tcti-tpmbroker.so.0" \
	"usr/lib/$MA/libtss2-tcti-tpmbroker.so" \
	"usr/lib/$MA/pkgconfig/tss2-tcti-tpmbroker.pc" \
	usr/include/tss2/tss2_tcti_tpmbroker.h \
	lib/systemd/system/tpmbrokerd.service lib/systemd/system/tpmbrokerd.socket \
	etc/tpmbroker/tpmbrokerd.conf \
	usr/share/man/man8/tpmbrokerd.8.gz usr/share/man/man1/tpmbroker.1.gz \
	usr/share/man/man5/tpmbroker.conf.5.gz usr/share/man/man7/tss2-tcti-tpmbroker.7.gz \
	usr/share/doc/tpmbroker/copyright; do
	[ -e "$ROOT/$f" ] || fail "the package lacks /$f"
done
[ -x "$ROOT/usr/sbin/tpmbrokerd" ] || fail "tpmbrokerd not executable"
readelf -d "$ROOT/usr/lib/$MA/libtss2-tcti-tpmbroker.so.0" |
	grep -q 'SONAME.*libtss2-tcti-tpmbroker\.so\.0' || fail "the plugin's SONAME"

# control data: the conffile, tss from tpm-udev, the plugin at this version
dpkg-deb --ctrl-tarfile "$OUT/tpmbroker_${version}_$arch.deb" | tar -xO ./conffiles |
	grep -qx /etc/tpmbroker/tpmbrokerd.conf || fail "tpmbrokerd.conf is not a conffile"
deps=$(dpkg-deb -f "$OUT/tpmbroker_${version}_$arch.deb" Depends)
grep -q 'tpm-udev' <<<"$deps" || fail "tpmbroker does not depend on tpm-udev: $deps"
grep -q "libtss2-tcti-tpmbroker0 (= $version)" <<<"$deps" || fail "Depends: $deps"

# the units as packaged: ExecStart= and the config path are Debian's
grep -qx 'ExecStart=/usr/sbin/tpmbrokerd --config /etc/tpmbroker/tpmbrokerd.conf' \
	"$ROOT/lib/systemd/system/tpmbrokerd.service" || fail "ExecStart= of the packaged service"
mkdir "$T/units"
sed "s|^ExecStart=/usr/sbin/tpmbrokerd |ExecStart=$ROOT/usr/sbin/tpmbrokerd |" \
	"$ROOT/lib/systemd/system/tpmbrokerd.service" >"$T/units/tpmbrokerd.service"
cp "$ROOT/lib/systemd/system/tpmbrokerd.socket" "$T/units/"
systemd-analyze verify --man=no "$T/units/tpmbrokerd.socket" "$T/units/tpmbrokerd.service" \
	>"$T/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify warned: $(cat "$T/verify.out")"

# the packaged programs work: daemon with its shipped config, TCTI, CLI
"$ROOT/usr/sbin/tpmbrokerd" --config "$ROOT/etc/tpmbroker/tpmbrokerd.conf" --check-config \
	>/dev/null || fail "the shipped config does not pass --check-config"
# start_daemon (lib.sh) runs $TPMBROKERD: the packaged one
# shellcheck disable=SC2034
TPMBROKERD=$ROOT/usr/sbin/tpmbrokerd
CLI=$ROOT/usr/bin/tpmbroker
# the packaged plugin, not this build tree's (lib.sh set that one)
export LD_LIBRARY_PATH=$ROOT/usr/lib/$MA
start_daemon --config "$ROOT/etc/tpmbroker/tpmbrokerd.conf"
out=$(tpm tpm2_getrandom --hex 8) || fail "tpm2_getrandom through the packaged TCTI"
[ ${#out} -eq 16 ] || fail "getrandom gave '$out'"
tpm "$CLI" --socket "$SOCK" status >/dev/null || fail "the packaged tpmbroker status"
stop_daemon
echo "deb: ok ($(find "$OUT" -maxdepth 1 -name '*.deb' | wc -l) packages, version $version)"
