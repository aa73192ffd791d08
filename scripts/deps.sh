#!/bin/bash
# Install the Debian 12 packages tpmbroker needs to build, test and bench.
# Runs apt-get only when something is missing; never as a side effect of a
# plain build on a machine that has everything.
#
#   scripts/deps.sh           build, tests, the bench's peers
#   scripts/deps.sh bench     and what only `make bench` needs (the chart)
set -euo pipefail

PKGS=(
	build-essential meson ninja-build pkg-config   # build
	libtss2-dev libtpms-dev libssl-dev             # tss2-mu/rc/esys/tctildr, libtpms, libcrypto
	libinih-dev                                    # the config file (INI)
	dpkg-dev debhelper git                         # the deb test builds the packages (scripts/deb.sh)
	libsystemd-dev                                 # socket activation, sd_notify
	mandoc                                         # man pages: lint (mandoc -T lint)
	systemd                                        # systemd-analyze verify, systemd-socket-activate in tests
	libcmocka-dev                                  # unit tests
	tpm2-tools swtpm swtpm-tools                   # integration tests: real clients, real simulator
	tpm2-abrmd libtss2-tcti-tabrmd0 dbus           # the benchmark's comparison peer
	iproute2 procps openssl xxd jq                 # ss, pkill, digests, hex and JSON in tests
	python3                                        # test helpers (a one-connection mssim proxy, a metrics checker)
	faketime                                       # libfaketime: a sped-up clock for the daemon (sess-idle)
	tss2                                           # IBM's TSS tools: a second unmodified stack on the mssim port
	tpm2-openssl                                   # clients-openssl: the OpenSSL 3 provider through the broker
	libtpm2-pkcs11-1 libtpm2-pkcs11-tools opensc   # clients-pkcs11: the PKCS#11 module, tpm2_ptool, pkcs11-tool
	libtss2-fapi1                                  # clients-fapi: FAPI and its profiles (tpm2-tools' tss2_* run it)
)
if [ "${1:-}" = bench ]; then
	PKGS+=(gnuplot-nox)                            # make bench: the chart (bench/chart.sh), no X
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "tpmbroker: missing Debian packages: ${missing[*]}" >&2
	echo "tpmbroker: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "tpmbroker: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
