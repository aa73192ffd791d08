#!/bin/bash
# FAPI (tpm2-tss's Feature API, through tpm2-tools' tss2_* commands) through
# the broker: a FAPI config in $T whose "tcti" is tpmbroker:path=SOCK, the
# distribution's profiles, keystores in $T.  tss2_provision (EK and the SRK,
# which the ECC profile makes persistent at 0x81000001), tss2_createkey,
# tss2_sign (a digest of a file), tss2_verifysignature, and plain OpenSSL
# checks the signature with the public key FAPI hands out; a changed digest is
# refused.  Then 4 signers at once.  Afterwards no handle is left.
# usage: clients-fapi.sh [libtpms|swtpm]
# shellcheck source=clients-lib.sh
. "$(dirname "$0")/clients-lib.sh"
need tss2_provision tss2_createkey tss2_sign tss2_verifysignature tss2_list openssl jq
PROFILES=/etc/tpm2-tss/fapi-profiles
[ -e "$PROFILES/P_ECCP256SHA256.json" ] || { echo "no FAPI profiles in $PROFILES"; exit 77; }
clients_start "${1:-libtpms}"
cd "$T" || exit 1
mkdir -p fapi/user fapi/system fapi/log
# ek_cert_less: a software TPM has no EK certificate to check
cat >fapi-config.json <<EOF
{
	"profile_name": "P_ECCP256SHA256",
	"profile_dir": "$PROFILES/",
	"user_dir": "$T/fapi/user",
	"system_dir": "$T/fapi/system",
	"tcti": "tpmbroker:path=$SOCK",
	"system_pcrs": [],
	"log_dir": "$T/fapi/log",
	"ek_cert_less": "yes"
}
EOF
export TSS2_FAPICONF=$T/fapi-config.json
c0=$(counter connections_total)

tss2_provision >prov.out 2>&1 || fail "tss2_provision: $(cat prov.out)"
tpm tpm2_getcap handles-persistent >pers.out || fail "getcap handles-persistent"
grep -q 0x81000001 pers.out || fail "no SRK at 0x81000001: $(cat pers.out)"
tss2_createkey --path=HS/SRK/sig --type="noDa, sign" --authValue="" >ck.out 2>&1 ||
	fail "tss2_createkey: $(cat ck.out)"
tss2_list >list.out 2>&1 || fail "tss2_list: $(cat list.out)"
grep -q "/HS/SRK/sig" list.out || fail "the key is not listed: $(cat list.out)"

head -c 4096 /dev/urandom >msg
openssl dgst -sha256 -binary msg >digest
printf x | openssl dgst -sha256 -binary >digest.changed
tss2_sign --keyPath=HS/SRK/sig --digest=digest --signature=sig --publicKey=pub.pem \
	--force >sign.out 2>&1 || fail "tss2_sign: $(cat sign.out)"
tss2_verifysignature --keyPath=HS/SRK/sig --digest=digest --signature=sig >ver.out 2>&1 ||
	fail "tss2_verifysignature: $(cat ver.out)"
! tss2_verifysignature --keyPath=HS/SRK/sig --digest=digest.changed --signature=sig \
	>/dev/null 2>&1 || fail "tss2_verifysignature accepts a changed digest"
# FAPI's ECDSA signature is DER, as OpenSSL writes it
openssl dgst -sha256 -verify pub.pem -signature sig msg >/dev/null ||
	fail "the FAPI signature does not verify with plain OpenSSL"

# 4 signers at once, each a FAPI context of its own on the same keystore
pids=()
for i in 1 2 3 4; do
	(
		head -c 512 /dev/urandom >m$i
		openssl dgst -sha256 -binary m$i >d$i
		tss2_sign --keyPath=HS/SRK/sig --digest=d$i --signature=s$i >m$i.err 2>&1 ||
			exit 1
		openssl dgst -sha256 -verify pub.pem -signature s$i m$i >/dev/null 2>>m$i.err ||
			exit 2
	) &
	pids+=($!)
done
wait_signers m

c1=$(counter connections_total)
[ $((c1 - c0)) -ge 10 ] || fail "only $((c1 - c0)) connections reached the broker"
no_leaks FAPI
echo "ok: FAPI ($MODE): provision, createkey, sign, verify, 4 concurrent signers, no handle left"
