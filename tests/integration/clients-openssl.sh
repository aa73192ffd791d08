#!/bin/bash
# tpm2-openssl, the OpenSSL 3 provider, through the broker as its users run
# it (TPM2OPENSSL_TCTI=tpmbroker:path=SOCK): an EC P-256 and an RSA-2048 key
# generated in the TPM; files signed with `openssl pkeyutl` and
# `openssl dgst -sign`, verified by plain OpenSSL with the public key (and a
# changed file refused); then 8 signers at once, each signing 3 files.  Every
# openssl run is a client of its own (CreatePrimary, Load, Sign,
# FlushContext); afterwards no handle is left.
# usage: clients-openssl.sh [libtpms|swtpm]
# shellcheck source=clients-lib.sh
. "$(dirname "$0")/clients-lib.sh"
need openssl jq
[ -e "$(openssl version -m | sed 's/^MODULESDIR: "\(.*\)"$/\1/')/tpm2.so" ] ||
	{ echo "tpm2-openssl not installed"; exit 77; }
clients_start "${1:-libtpms}"
cd "$T" || exit 1
export TPM2OPENSSL_TCTI="tpmbroker:path=$SOCK"
P=(-provider tpm2 -provider default)
c0=$(counter connections_total)

# one key of each kind; the private key is a TSS2 blob, the public key PEM
openssl genpkey "${P[@]}" -algorithm EC -pkeyopt group:P-256 -out ec.pem 2>ec.err ||
	fail "genpkey EC: $(cat ec.err)"
openssl genpkey "${P[@]}" -algorithm RSA -pkeyopt bits:2048 -out rsa.pem 2>rsa.err ||
	fail "genpkey RSA: $(cat rsa.err)"
for k in ec rsa; do
	grep -q "BEGIN TSS2 PRIVATE KEY" $k.pem || fail "$k.pem is not a TPM key: $(head -1 $k.pem)"
	openssl pkey "${P[@]}" -in $k.pem -pubout -out $k.pub 2>err || fail "pubout $k: $(cat err)"
done

head -c 4096 /dev/urandom >msg
cp msg msg.changed
printf x >>msg.changed
for k in ec rsa; do
	openssl pkeyutl "${P[@]}" -sign -inkey $k.pem -rawin -digest sha256 -in msg \
		-out $k.sig 2>err || fail "pkeyutl -sign with $k: $(cat err)"
	# dgst picks the default provider's RSA for a key it cannot use
	# unless told to prefer tpm2's implementations
	openssl dgst "${P[@]}" -propquery '?provider=tpm2' -sha256 -sign $k.pem \
		-out $k.dsig msg 2>err || fail "dgst -sign with $k: $(cat err)"
	for s in $k.sig $k.dsig; do
		openssl dgst -sha256 -verify $k.pub -signature "$s" msg >/dev/null ||
			fail "$s does not verify with plain OpenSSL"
		! openssl dgst -sha256 -verify $k.pub -signature "$s" msg.changed >/dev/null 2>&1 ||
			fail "$s verifies a changed file"
	done
done

# 8 signers at once, 3 files each, alternating the key
pids=()
for i in 1 2 3 4 5 6 7 8; do
	k=ec
	[ $((i % 2)) = 0 ] && k=rsa
	(
		for j in 1 2 3; do
			head -c 512 /dev/urandom >m$i.$j
			openssl pkeyutl "${P[@]}" -sign -inkey $k.pem -rawin -digest sha256 \
				-in m$i.$j -out m$i.$j.sig 2>m$i.err || exit 1
			openssl dgst -sha256 -verify $k.pub -signature m$i.$j.sig m$i.$j >/dev/null 2>>m$i.err ||
				exit 2
		done
	) &
	pids+=($!)
done
wait_signers m

# they were the broker's clients: 2 genpkey + 2 pubout + 4 + 24 signers
c1=$(counter connections_total)
[ $((c1 - c0)) -ge 32 ] || fail "only $((c1 - c0)) connections reached the broker"
no_leaks tpm2-openssl
echo "ok: tpm2-openssl ($MODE): keys, signatures, 8 concurrent signers, no handle left"
