#!/bin/bash
# Per-profile limits of the resource manager, with clients run as
# unprivileged users the test creates (two of them: A and B).
# usage: rm-quota.sh reserve|cgroup|nvrate|blob
#   reserve: root's profile says reserved-sessions = 1.  User A holds 48
#            sessions in 48 connections, user B 16: they cannot keep root
#            from starting one; it gets the reserved slot at once, taking
#            nobody's session (sessions_evicted does not move).
#   cgroup:  the user profile says max-sessions-per-cgroup = 3.  In a child
#            cgroup the test makes (cgroup v2), A holds 3 sessions; one more
#            from that cgroup, by A or by B, waits and is refused 0x000B0905
#            (quota_waits, quota_refusals); from outside it, A's start works.
#   nvrate:  the user profile says nv-write-rate = 5.  A loops
#            tpm2_nvincrement on an NV counter for 4 s; the TPM's counter
#            (read as root) moved at most 5/s plus the burst of 5; without a
#            rate (root) it moves far faster.
#   blob:    A saves an object (tpm2_createprimary -c) and a session
#            (tpm2_startauthsession -S) to files B can read: B loading them
#            is refused 0x000B01CB; A still loads both.
# shellcheck source=policy-lib.sh
. "$(dirname "$0")/policy-lib.sh"
# shellcheck source=sess-lib.sh
. "$(dirname "$0")/sess-lib.sh"
command -v jq >/dev/null || { echo "jq not installed"; exit 77; }
cd "$T" || exit 1

# user B, made as policy-lib.sh makes A; both removed on exit
TUSERB=tbpolb$$
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$TUSERB" ||
	fail "useradd $TUSERB"
CG=
# the child cgroup goes once the test's clients in it are gone
cg_cleanup() {
	local p
	[ -n "$CG" ] && [ -d "$CG" ] || return 0
	for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && return 0; sleep 0.1; done
	echo "warning: $CG left behind" >&2
}
# a client of a failed step may still run as a test user: userdel would refuse
users_cleanup() {
	local u
	for u in "$TUSER" "$TUSERB"; do
		pkill -KILL -U "$u" 2>/dev/null || true
		for _ in $(seq 20); do userdel "$u" 2>/dev/null && break; sleep 0.1; done
	done
}
trap 'rc=$?; set +e; cg_cleanup; users_cleanup; (exit $rc); cleanup' EXIT
mkdir -p "$T/u2"
chown "$TUSERB" "$T/u2"
as_userb() {
	(cd "$T/u2" && setpriv --reuid="$TUSERB" --regid="$TUSERB" --init-groups \
		env HOME="$T/u2" LD_LIBRARY_PATH="$T/lib" TPM2TOOLS_TCTI="$TPM2TOOLS_TCTI" "$@")
}
# the clients, where both users reach them
cp "$SESSCLIENT" "$T/lib/sessclient"
chmod a+rx "$T/lib/sessclient"
SC=$T/lib/sessclient

# conf EXTRA-ADMIN EXTRA-USER: the two shipped profiles with extra keys.
# The sessions here authorize extends of PCRs 16 and 23, which log-first
# measurement would own: it is off.
conf() {
	cat >"$T/tb.conf" <<CONF
measure-log = none

[profile admin]
match-uid = 0
localities = 0-4
$1

[profile user]
match = *
deny = Clear ClearControl HierarchyControl HierarchyChangeAuth EvictControl
hierarchies = owner endorsement null
$2
CONF
}

# wait_line FD WANT WHAT: the next line on FD is WANT
wait_line() {
	local line
	read -t 60 -r line <&"$1" || line="(nothing)"
	[ "$line" = "$2" ] || fail "$3: '$line', want '$2'"
}

# fill_end COPROC WHAT: the fill client flushes its first session, the others still work
fill_end() {
	local -n co=$1
	echo flush >&"${co[1]}"
	wait_line "${co[0]}" flushed "$2: flush"
	echo end >&"${co[1]}"
	wait_line "${co[0]}" ok "$2 still work"
}

case ${1:?mode} in
reserve)
	conf "reserved-sessions = 1" ""
	start_daemon --config "$T/tb.conf" --session-wait 3000
	coproc FA { as_user "$SC" "$TPM2TOOLS_TCTI" fill 48 1 2>"$T/fa.err"; }
	fa=$FA_PID # bash unsets FA_PID as soon as it reaps the coproc
	wait_line "${FA[0]}" full "A's 48 sessions"
	coproc FB { as_userb "$SC" "$TPM2TOOLS_TCTI" fill 16 1 2>"$T/fb.err"; }
	fb=$FB_PID
	wait_line "${FB[0]}" full "B's 16 sessions"
	st=$(status)
	n=$(jq '.handles.sessions' <<<"$st")
	[ "$n" = 63 ] || fail "A and B hold $n sessions, want 63 (the 64th is reserved)"
	ev=$(counter sessions_evicted "$st")
	out=$("$SC" "$TPM2TOOLS_TCTI" start) || fail "root's start: $out"
	[ "$(tr '\n' ' ' <<<"$out")" = "rc 0x00000000 used 0x00000000 " ] ||
		fail "root's start with A's 48 and B's 16 sessions: '$out'"
	[ "$(counter sessions_evicted)" = "$ev" ] || fail "root's session took someone's"
	echo "root started a session next to A's and B's 64 ($ev evicted between A and B)"
	# B's sessions all still work; A lost the one B's 16th took (above its share)
	fill_end FB "B's sessions after root's start"
	wait "$fb" || fail "B's fill"
	printf 'flush\nend\n' >&"${FA[1]}"
	wait "$fa" 2>/dev/null || true
	;;
cgroup)
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	[ -n "$root" ] || fail "no cgroup v2 hierarchy mounted: cannot test the per-cgroup quota"
	CG=$root/tbquota$$
	mkdir "$CG" || fail "cannot make a child cgroup in $root (cgroup v2 not writable)"
	conf "" "max-sessions-per-cgroup = 3"
	start_daemon --config "$T/tb.conf" --session-wait 1500
	# in_cg CMD...: CMD in the child cgroup (the subshell moves itself first)
	in_cg() { (echo "$BASHPID" >"$CG/cgroup.procs" && "$@"); }
	coproc FA { in_cg as_user "$SC" "$TPM2TOOLS_TCTI" fill 3 1 2>"$T/fa.err"; }
	fa=$FA_PID
	wait_line "${FA[0]}" full "A's 3 sessions in the cgroup"
	[ -n "$(cat "$CG/cgroup.procs")" ] || fail "the client is not in $CG"
	q0=$(counter quota_refusals)
	w0=$(counter quota_waits)
	out=$(in_cg as_user "$SC" "$TPM2TOOLS_TCTI" start) || true
	[ "$out" = "rc 0x000b0905" ] || fail "A's 4th session in the cgroup: '$out', want rc 0x000b0905"
	out=$(in_cg as_userb "$SC" "$TPM2TOOLS_TCTI" start) || true
	[ "$out" = "rc 0x000b0905" ] || fail "B's session in A's full cgroup: '$out', want rc 0x000b0905"
	[ "$(counter quota_refusals)" = $((q0 + 2)) ] || fail "quota_refusals not counted"
	[ "$(counter quota_waits)" = $((w0 + 2)) ] || fail "the starts did not wait first"
	out=$(as_user "$SC" "$TPM2TOOLS_TCTI" start) || fail "A outside the cgroup: $out"
	[ "$(tr '\n' ' ' <<<"$out")" = "rc 0x00000000 used 0x00000000 " ] ||
		fail "A's start outside the cgroup: '$out'"
	fill_end FA "A's sessions in the cgroup"
	wait "$fa" || fail "fill in the cgroup"
	;;
nvrate)
	conf "" "nv-write-rate = 5"
	start_daemon --config "$T/tb.conf"
	IDX=0x1500016
	tpm tpm2_nvdefine -Q -C o -s 8 -a "nt=counter|ownerread|authread|authwrite" "$IDX" ||
		fail "nvdefine"
	tpm tpm2_nvincrement -Q "$IDX" || fail "first increment as root"
	nvcount() { tpm tpm2_nvread -C o -s 8 "$IDX" | od -An -tx1 | tr -d ' \n'; }
	# loop4 WHO...: increments for 4 s; prints how many the TPM counted and the seconds
	loop4() {
		local c0 c1 t0 t1
		c0=$(nvcount) || fail "nvread"
		c0=$((16#$c0))
		t0=$(date +%s.%N)
		"$@" bash -c "end=\$((\$(date +%s) + 4)); while [ \$(date +%s) -lt \$end ]; do
			tpm2_nvincrement -Q $IDX || exit 1; done" || fail "nvincrement loop ($*)"
		t1=$(date +%s.%N)
		c1=$(nvcount) || fail "nvread"
		c1=$((16#$c1))
		echo "$((c1 - c0)) $(echo "$t1 - $t0" | bc)"
	}
	read -r n secs <<<"$(loop4 as_user)"
	max=$(echo "5 * $secs + 5 + 1" | bc | cut -d. -f1)
	echo "user A: $n NV writes in $secs s (rate 5/s, burst 5: at most $max)"
	[ "$n" -ge 10 ] || fail "A's NV writes were stopped, not slowed: $n in $secs s"
	[ "$n" -le "$max" ] || fail "A wrote NV $n times in $secs s, over the profile's rate"
	[ "$(counter nv_rate_waits)" -gt 0 ] || fail "nv_rate_waits not counted"
	read -r nr secs <<<"$(loop4 env)"
	echo "root: $nr NV writes in $secs s (no rate)"
	[ "$nr" -gt "$max" ] || fail "root's NV writes ($nr) were held too: the test cannot tell"
	tpm tpm2_nvundefine -C o "$IDX" || fail "nvundefine"
	;;
blob)
	conf "" ""
	start_daemon --config "$T/tb.conf"
	as_user tpm2_createprimary -Q -C o -G ecc -c a.ctx || fail "A's createprimary -c a.ctx"
	as_user tpm2_startauthsession --policy-session -S s.ctx || fail "A's startauthsession -S"
	chmod a+r "$T/u/a.ctx" "$T/u/s.ctx"
	f0=$(counter foreign_blobs)
	t0=$(counter tpm_commands)
	out=$(as_userb tpm2_readpublic -c "$T/u/a.ctx" 2>&1) && fail "B loaded A's object context: $out"
	grep -qi "0x\(000\)\?b01cb" <<<"$out" || fail "B's load of A's object: not 0x000B01CB: $out"
	out=$(as_userb tpm2_policyauthvalue -S "$T/u/s.ctx" 2>&1) && fail "B loaded A's session: $out"
	grep -qi "0x\(000\)\?b01cb" <<<"$out" || fail "B's load of A's session: not 0x000B01CB: $out"
	[ "$(counter foreign_blobs)" = $((f0 + 2)) ] || fail "foreign_blobs not counted"
	# the refused loads never reached the TPM (tpm2-tools may send other commands first)
	echo "B refused ($(($(counter tpm_commands) - t0)) TPM commands meanwhile)"
	as_user tpm2_readpublic -Q -c a.ctx || fail "A's own object context no longer loads"
	as_user tpm2_policyauthvalue -Q -S s.ctx || fail "A's own session no longer loads"
	as_user tpm2_flushcontext s.ctx || fail "A's flush of its session"
	;;
*) fail "unknown mode $1" ;;
esac
stop_daemon
echo "ok: rm quota ($1)"
