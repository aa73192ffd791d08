#!/bin/bash
# tpm2-pkcs11 through the broker, as its users run it: the PKCS#11 module
# reaches the TPM through TPM2_PKCS11_TCTI, tpm2_ptool (which runs
# tpm2-tools and tpm2-pytss) through TPM2TOOLS_TCTI.  A store in $T,
# `tpm2_ptool init` (a primary it makes persistent), a token, an ECC P-256
# and an RSA-2048 key; `pkcs11-tool --sign` with each, the signatures checked
# by plain OpenSSL with the exported public keys (a changed file refused) and
# by `pkcs11-tool --verify`; then 4 pkcs11-tool signers at once.  Afterwards
# no handle is left.
# usage: clients-pkcs11.sh [libtpms|swtpm]
# shellcheck source=clients-lib.sh
. "$(dirname "$0")/clients-lib.sh"
need tpm2_ptool pkcs11-tool openssl jq
MOD=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
[ -e "$MOD" ] || { echo "libtpm2-pkcs11-1 not installed"; exit 77; }
clients_start "${1:-libtpms}"
cd "$T" || exit 1
export TPM2_PKCS11_TCTI="tpmbroker:path=$SOCK" TPM2_PKCS11_STORE=$T/store
mkdir store
c0=$(counter connections_total)

tpm2_ptool init >init.out 2>&1 || fail "tpm2_ptool init: $(cat init.out)"
tpm2_ptool addtoken --pid=1 --label=tok --userpin=1234 --sopin=5678 >tok.out 2>&1 ||
	fail "tpm2_ptool addtoken: $(cat tok.out)"
# Keys are named by CKA_ID: given --label, pkcs11-tool 0.23 --sign took the
# token's first private key (CKR_MECHANISM_INVALID for the other type), with
# or without the broker.
declare -A id
for k in ec rsa; do
	alg=ecc256
	[ $k = rsa ] && alg=rsa2048
	tpm2_ptool addkey --label=tok --algorithm=$alg --userpin=1234 --key-label=$k >key.out 2>&1 ||
		fail "tpm2_ptool addkey $alg: $(cat key.out)"
	# CKA_ID: '3132...'
	id[$k]=$(sed -n "s/^ *CKA_ID: '\([0-9a-f]*\)'$/\1/p" key.out | head -1)
	[ -n "${id[$k]}" ] || fail "no CKA_ID from addkey: $(cat key.out)"
done

p11() {
	pkcs11-tool --module "$MOD" --token-label tok "$@"
}
p11 -L >slots.out 2>&1 || fail "pkcs11-tool -L: $(cat slots.out)"
grep -q "token label *: tok" slots.out || fail "no token tok: $(cat slots.out)"

head -c 4096 /dev/urandom >data
cp data data.changed
printf x >>data.changed
declare -A mech=([ec]=ECDSA-SHA256 [rsa]=SHA256-RSA-PKCS)
for k in ec rsa; do
	# the public key, from the token's attributes
	if [ $k = rsa ]; then
		p11 --read-object --type pubkey --id "${id[$k]}" -o $k.der >err 2>&1 ||
			fail "export $k: $(cat err)"
	else
		# pkcs11-tool 0.23 --read-object of an EC key reads freed memory
		# (valgrind: the OSSL_PARAMs of EVP_PKEY_export, used by
		# EVP_PKEY_fromdata) and fails or not with the heap's layout; so
		# the SubjectPublicKeyInfo is built from CKA_EC_POINT (an OCTET
		# STRING 04 41 holding 04 || x || y) and the P-256 header
		p11 -O --type pubkey --id "${id[$k]}" >obj.out 2>&1 || fail "list $k: $(cat obj.out)"
		pt=$(sed -n 's/^ *EC_POINT: *0441\(04[0-9a-f]\{128\}\)$/\1/p' obj.out)
		[ -n "$pt" ] || fail "no P-256 EC_POINT for $k: $(cat obj.out)"
		echo "3059301306072a8648ce3d020106082a8648ce3d030107034200$pt" | xxd -r -p >$k.der
	fi
	openssl pkey -pubin -inform DER -in $k.der -out $k.pub || fail "$k.der is no public key"
	p11 --login --pin 1234 --sign --mechanism "${mech[$k]}" --id "${id[$k]}" \
		--signature-format openssl -i data -o $k.sig >err 2>&1 || fail "sign with $k: $(cat err)"
	openssl dgst -sha256 -verify $k.pub -signature $k.sig data >/dev/null ||
		fail "the $k signature does not verify with plain OpenSSL"
	! openssl dgst -sha256 -verify $k.pub -signature $k.sig data.changed >/dev/null 2>&1 ||
		fail "the $k signature verifies a changed file"
	# pkcs11-tool --verify exits 0 either way: its verdict is in its output
	p11 --login --pin 1234 --verify --mechanism "${mech[$k]}" --id "${id[$k]}" \
		--signature-format openssl -i data --signature-file $k.sig >ver.out 2>&1 ||
		fail "pkcs11-tool --verify $k: $(cat ver.out)"
	grep -q "Signature is valid" ver.out || fail "pkcs11-tool --verify $k: $(cat ver.out)"
done

# 4 signers at once, one PKCS#11 session each
pids=()
for i in 1 2 3 4; do
	k=ec
	[ $((i % 2)) = 0 ] && k=rsa
	(
		head -c 512 /dev/urandom >d$i
		p11 --login --pin 1234 --sign --mechanism "${mech[$k]}" --id "${id[$k]}" \
			--signature-format openssl -i d$i -o d$i.sig >d$i.err 2>&1 || exit 1
		openssl dgst -sha256 -verify $k.pub -signature d$i.sig d$i >/dev/null 2>>d$i.err || exit 2
	) &
	pids+=($!)
done
wait_signers d

c1=$(counter connections_total)
[ $((c1 - c0)) -ge 10 ] || fail "only $((c1 - c0)) connections reached the broker"
no_leaks tpm2-pkcs11
echo "ok: tpm2-pkcs11 ($MODE): token, EC and RSA keys, pkcs11-tool signatures, no handle left"
