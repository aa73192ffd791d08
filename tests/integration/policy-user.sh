#!/bin/bash
# The shipped profiles: an unprivileged user (created by the test) may not
# take the shared TPM from others, on the Unix socket and on the mssim port
# (its uid from the kernel's socket diagnostics), and may not use the
# late-launch localities, nor extend the PCRs of log-first measurement (16,
# 23) raw; its ordinary work goes through; root may do all of it.  The TPM's state is checked as root after every refusal.
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
POLCLIENT=$BUILD/tests/integration/polclient
cd "$T" || exit 1
PORT=$(free_port)
start_daemon --listen "mssim:127.0.0.1:$PORT"
MSSIM="mssim:host=127.0.0.1,port=$PORT"

# root's things, which the user must not touch
tpm tpm2_createprimary -Q -C o -G ecc -c prim.ctx || fail "createprimary as root"
tpm tpm2_evictcontrol -Q -C o -c prim.ctx 0x81000077 || fail "evictcontrol as root"
tpm tpm2_flushcontext -t || fail "flushcontext"
tpm tpm2_pcrextend "16:sha256=$(printf '%064d' 7)" || fail "pcrextend 16 as root"
pcr16=$(pcr_value 16)
pcr17=$(pcr_value 17)
pcr20=$(pcr_value 20)

echo "refused as $TUSER (uid $TUID) on the Unix socket"
refused_as_user "tpm2_clear" tpm2_clear
refused_as_user "tpm2_clear -c p" tpm2_clear -c p
refused_as_user "tpm2_changeauth -c owner" tpm2_changeauth -c owner stolen
refused_as_user "tpm2_changeauth -c lockout" tpm2_changeauth -c lockout stolen
refused_as_user "tpm2_evictcontrol of root's key" tpm2_evictcontrol -C o -c 0x81000077
refused_as_user "tpm2_pcrreset 16" tpm2_pcrreset 16
refused_as_user "tpm2_dictionarylockout -c" tpm2_dictionarylockout -c
refused_as_user "tpm2_createprimary -C p" tpm2_createprimary -Q -C p -c pp.ctx
refused_as_user "tpm2_pcrextend 10" tpm2_pcrextend "10:sha256=$(printf '%064d' 1)"
# PCRs 16 and 23 belong to log-first measurement: a raw extend would bypass the log
pcr23=$(pcr_value 23)
refused_as_user "tpm2_pcrextend 23 (the log's)" tpm2_pcrextend "23:sha256=$(printf '%064d' 1)"
echo event >"$T/ev.txt" && chmod a+r "$T/ev.txt"
refused_as_user "tpm2_pcrevent 16 (the log's)" tpm2_pcrevent "$T/ev.txt" 16
[ "$(pcr_value 23)" = "$pcr23" ] || fail "PCR 23 changed by a refused extend"

echo "refused on the mssim port (identity from sock_diag)"
refused_as_user "tpm2_clear over mssim" tpm2_clear -T "$MSSIM"
refused_as_user "tpm2_changeauth over mssim" tpm2_changeauth -T "$MSSIM" -c owner stolen
as_user tpm2_getrandom -T "$MSSIM" 8 >/dev/null || fail "getrandom over mssim as $TUSER"
grep -q "refused (0x000b0120): profile user, tcp .* uid $TUID" "$T/daemon.log" ||
	fail "the refusal was not logged with the profile and uid"

echo "the TPM is as root left it"
h=$(tpm tpm2_getcap handles-persistent) || fail "getcap as root"
grep -qi 0x81000077 <<<"$h" || fail "root's persistent key is gone: $h"
tpm tpm2_createprimary -Q -C o -G ecc -c p2.ctx || fail "owner auth changed: root's createprimary fails"
tpm tpm2_flushcontext -t || fail "flushcontext"
[ "$(pcr_value 16)" = "$pcr16" ] || fail "PCR 16 changed"

echo "localities: 3 and 4 are for the late launch"
out=$(printf 'pcrextend 17 3\npcrextend 23 0\npcrreset 20 2\ngetrandom\n' |
	as_user "$POLCLIENT" "$SOCK") || fail "polclient as $TUSER"
[ "$(sed -n 1p <<<"$out")" = 0x000b0907 ] || fail "PCR 17 at locality 3: $(sed -n 1p <<<"$out")"
[ "$(sed -n 2p <<<"$out")" = 0x000b0120 ] || fail "PCR 23 (the log's) raw: $(sed -n 2p <<<"$out")"
[ "$(sed -n 3p <<<"$out")" = 0x000b0120 ] || fail "PCR 20 reset at 2: $(sed -n 3p <<<"$out")"
[ "$(sed -n 4p <<<"$out")" = 0x00000000 ] || fail "getrandom after refusals: $(sed -n 4p <<<"$out")"
[ "$(pcr_value 17)" = "$pcr17" ] || fail "PCR 17 changed"
[ "$(pcr_value 20)" = "$pcr20" ] || fail "PCR 20 changed"

echo "allowed work as $TUSER"
as_user tpm2_getrandom 16 >/dev/null || fail "getrandom"
as_user tpm2_createprimary -Q -C o -G ecc -c uprim.ctx || fail "createprimary -C o"
as_user tpm2_create -Q -C uprim.ctx -G ecc -u k.pub -r k.priv || fail "create"
as_user tpm2_load -Q -C uprim.ctx -u k.pub -r k.priv -c k.ctx || fail "load"
echo data >"$T/u/msg" && chmod a+r "$T/u/msg"
as_user tpm2_sign -c k.ctx -g sha256 -o sig msg || fail "sign"
as_user tpm2_verifysignature -c k.ctx -g sha256 -m msg -s sig || fail "verifysignature"
as_user tpm2_startauthsession -S hmac.ctx --hmac-session || fail "hmac session"
as_user tpm2_sign -c k.ctx -p session:hmac.ctx -g sha256 -o sig2 msg ||
	fail "sign authorized by an hmac session"
as_user tpm2_flushcontext hmac.ctx || fail "flush hmac session"
as_user tpm2_startauthsession -S pol.ctx --policy-session || fail "policy session"
as_user tpm2_policypcr -S pol.ctx -l sha256:0 >/dev/null || fail "policypcr"
as_user tpm2_flushcontext pol.ctx || fail "flush policy session"

echo "root may do all of it"
tpm tpm2_pcrreset 16 || fail "pcrreset 16 as root"
tpm tpm2_dictionarylockout -c || fail "dictionarylockout -c as root"
tpm tpm2_changeauth -c owner newauth || fail "changeauth as root"
tpm tpm2_changeauth -c owner -p newauth || fail "changeauth back as root"
tpm tpm2_evictcontrol -Q -C o -c 0x81000077 || fail "evictcontrol as root"
out=$(printf 'pcrextend 17 3\n' | "$POLCLIENT" "$SOCK") || fail "polclient as root"
[ "$out" = 0x00000000 ] || fail "root's PCR 17 extend at locality 3: $out"
tpm tpm2_clear || fail "clear as root"
stop_daemon
echo "policy-user: ok"
