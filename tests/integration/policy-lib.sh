#!/bin/bash
# Helpers of the policy tests: an unprivileged user made for the test
# (removed on exit) and a way to run clients as that user.  Needs root.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || fail "the policy tests run clients as another user: run them as root"
command -v setpriv >/dev/null || fail "setpriv (util-linux) missing"
TUSER=tbpol$$
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$TUSER" ||
	fail "useradd $TUSER"
TUID=$(id -u "$TUSER")
trap 'rc=$?; set +e; userdel "$TUSER" 2>/dev/null; (exit $rc); cleanup' EXIT
# what the user reaches: the test directory, the socket in it, the plugin
chmod 755 "$T"
mkdir -p "$T/lib" "$T/u"
cp -a "$BUILD"/src/tcti/libtss2-tcti-tpmbroker.so* "$T/lib/"
chmod -R a+rX "$T/lib"
chown "$TUSER" "$T/u"

# as_user CMD...: run CMD as the test's user, in $T/u, with this build's plugin
as_user() {
	(cd "$T/u" && setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups \
		env HOME="$T/u" LD_LIBRARY_PATH="$T/lib" TPM2TOOLS_TCTI="$TPM2TOOLS_TCTI" "$@")
}

# refused_as_user WHAT CMD...: CMD fails as the user with the policy's code
refused_as_user() {
	local what=$1 out
	shift
	if out=$(as_user "$@" 2>&1); then
		fail "$what: succeeded as $TUSER"
	fi
	grep -qi "0xb0120\|0x000b0120\|0xb0907\|0x000b0907" <<<"$out" ||
		fail "$what: refused without the policy's code: $out"
}
