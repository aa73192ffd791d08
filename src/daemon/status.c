/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * status.c: a snapshot of the daemon for `tpmbroker status`.  Rendered on
 * the loop thread between jobs' steps, so RM tables are consistent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/util.h"
#include "backend.h"
#include "conn.h"
#include "rm.h"
#include "sched.h"
#include "server.h"
#include "status.h"

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Renders rm_conn_handles() / rm_abandoned_handles() as text or JSON. */
struct status_handles {
	FILE *f;
	bool json;
	bool sessions; /* the sessions' list is open */
	bool first;    /* nothing in the open list yet */
};

static const char *
status_hstate(enum rm_handle_state st)
{
	return st == RM_H_LOADED ? "loaded" : st == RM_H_CLIENT_SAVED ? "client-saved" : "saved";
}

static void
status_list_open(struct status_handles *sh, const char *name, bool after)
{
	if (sh->json)
		fprintf(sh->f, "%s\"%s\": [", after ? ", " : "", name);
	else
		fprintf(sh->f, "%s%s:", after ? "; " : "", name);
	sh->first = true;
}

static void
status_list_close(struct status_handles *sh)
{
	if (sh->json)
		fputc(']', sh->f);
	else if (sh->first)
		fputs(" -", sh->f);
}

static void
status_conn_handle(const struct rm_handle_info *hi, void *ctx)
{
	struct status_handles *sh = ctx;
	FILE *f = sh->f;

	if (hi->session && !sh->sessions) {
		status_list_close(sh);
		status_list_open(sh, "sessions", true);
		sh->sessions = true;
	}
	if (sh->json && hi->state == RM_H_LOADED && !hi->session)
		fprintf(f,
			"%s{\"handle\": \"0x%08x\", \"state\": \"%s\", \"tpm_handle\": \"0x%08x\"}",
			sh->first ? "" : ", ", (unsigned)hi->handle, status_hstate(hi->state),
			(unsigned)hi->tpm_handle);
	else if (sh->json)
		fprintf(f, "%s{\"handle\": \"0x%08x\", \"state\": \"%s\"}", sh->first ? "" : ", ",
			(unsigned)hi->handle, status_hstate(hi->state));
	else
		fprintf(f, " 0x%08x(%s)", (unsigned)hi->handle, status_hstate(hi->state));
	sh->first = false;
}

/* "objects": [...], "sessions": [...]  or  objects: 0x80000000(loaded) ...; sessions: - */
static void
status_conn_handles(struct server *srv, const struct rm_conn *rc, FILE *f, bool json)
{
	struct status_handles sh = {.f = f, .json = json};

	status_list_open(&sh, "objects", false);
	rm_conn_handles(srv->rm, rc, status_conn_handle, &sh);
	if (!sh.sessions) {
		status_list_close(&sh);
		status_list_open(&sh, "sessions", true);
	}
	status_list_close(&sh);
}

static void
status_abandoned_handle(const struct rm_handle_info *hi, void *ctx)
{
	struct status_handles *sh = ctx;

	if (sh->json)
		fprintf(sh->f, "%s{\"handle\": \"0x%08x\", \"uid\": %lld}", sh->first ? "" : ", ",
			(unsigned)hi->handle, (long long)hi->uid);
	else
		fprintf(sh->f, " 0x%08x(uid %lld)", (unsigned)hi->handle, (long long)hi->uid);
	sh->first = false;
}

/* "abandoned": [{"handle": ..., "uid": 1000}]  or  abandoned sessions: 0x03000001(uid 1000) */
static void
status_abandoned(struct server *srv, FILE *f, bool json)
{
	struct status_handles sh = {.f = f, .json = json, .first = true};

	fputs(json ? "\"abandoned\": [" : "abandoned sessions:", f);
	rm_abandoned_handles(srv->rm, status_abandoned_handle, &sh);
	status_list_close(&sh);
}

static void
status_json(struct server *srv, FILE *f)
{
	struct sched_stats ss;
	struct rm_stats rs;
	struct conn *c;
	bool first = true;

	sched_get_stats(srv->sched, &ss);
	rm_get_stats(srv->rm, &rs);
	fprintf(f, "{\"pid\": %d, \"uptime_s\": %llu, \"backend\": ", (int)getpid(),
		(unsigned long long)((now_ns() - srv->started_ns) / 1000000000u));
	json_str(f, srv->be->desc);
	fprintf(f,
		", \"tpm\": {\"max_command\": %u, \"transient_slots\": %u, "
		"\"loaded_sessions\": %u, \"active_sessions_max\": %u, \"context_gap_max\": %u, "
		"\"commands_supported\": %zu}",
		srv->caps.max_command, srv->caps.transient_slots, srv->caps.loaded_sessions,
		srv->caps.active_sessions_max, srv->caps.context_gap_max, srv->caps.n_cc);
	fprintf(f,
		", \"counters\": {\"connections_now\": %u, \"connections_total\": %llu, "
		"\"connections_refused\": %llu, \"commands\": %llu, \"tpm_commands\": %llu, "
		"\"rm_errors\": %llu, \"bad_frames\": %llu, \"context_saves\": %llu, "
		"\"context_loads\": %llu, \"flushes\": %llu, \"evictions\": %llu, "
		"\"backend_errors\": %llu, \"reconnects\": %llu, \"tpm_resets\": %llu, "
		"\"cancels\": %llu, \"queued\": %u, \"busy\": %s, "
		"\"retries\": %llu, \"resyncs\": %llu, \"takeovers\": %llu, "
		"\"abandoned_flushed\": %llu, \"readpublic_cached\": %llu",
		srv->n_conns, (unsigned long long)srv->conns_total,
		(unsigned long long)srv->conns_refused, (unsigned long long)ss.jobs,
		(unsigned long long)ss.tpm_commands, (unsigned long long)rs.rm_errors,
		(unsigned long long)srv->frames_bad, (unsigned long long)rs.context_saves,
		(unsigned long long)rs.context_loads, (unsigned long long)rs.flushes,
		(unsigned long long)rs.evictions, (unsigned long long)ss.backend_errors,
		(unsigned long long)ss.reconnects, (unsigned long long)ss.tpm_resets,
		(unsigned long long)ss.cancels, ss.queued, ss.busy ? "true" : "false",
		(unsigned long long)rs.retries, (unsigned long long)rs.resyncs,
		(unsigned long long)rs.takeovers, (unsigned long long)rs.abandoned_flushed,
		(unsigned long long)rs.cached);
	/* sessions at scale */
	fprintf(f,
		", \"gap_refreshes\": %llu, \"sessions_evicted\": %llu, \"sessions_lost\": %llu, "
		"\"session_waits\": %llu, "
		"\"session_wait_timeouts\": %llu, \"quota_refusals\": %llu, "
		"\"backoff_retries\": %llu, \"parked\": %u, \"parks\": %llu}",
		(unsigned long long)rs.gap_refreshes, (unsigned long long)rs.sessions_evicted,
		(unsigned long long)rs.sessions_lost, (unsigned long long)rs.session_waits,
		(unsigned long long)rs.session_wait_timeouts, (unsigned long long)rs.quota_refusals,
		(unsigned long long)rs.backoff_retries, ss.parked, (unsigned long long)ss.parks);
	fprintf(f,
		", \"handles\": {\"objects\": %u, \"objects_loaded\": %u, \"sessions\": %u, "
		"\"sessions_loaded\": %u, \"abandoned\": %u}, ",
		rs.objects, rs.objects_loaded, rs.sessions, rs.sessions_loaded, rs.abandoned);
	status_abandoned(srv, f, true);
	fputs(", \"connections\": [", f);
	TAILQ_FOREACH(c, &srv->conns, entry) {
		fprintf(f,
			"%s{\"id\": %llu, \"protocol\": \"%s\", \"pid\": %d, \"uid\": %d, "
			"\"state\": \"%s\", \"commands\": %llu, ",
			first ? "" : ", ", (unsigned long long)c->id, conn_proto_name(c->proto),
			c->peer_known ? (int)c->peer.pid : -1, c->peer_known ? (int)c->peer.uid : -1,
			conn_state_name(c->state), (unsigned long long)c->commands);
		status_conn_handles(srv, c->rmc, f, true);
		fputc('}', f);
		first = false;
	}
	fputs("]}\n", f);
}

static void
status_text(struct server *srv, FILE *f)
{
	struct sched_stats ss;
	struct rm_stats rs;
	struct conn *c;

	sched_get_stats(srv->sched, &ss);
	rm_get_stats(srv->rm, &rs);
	fprintf(f, "tpmbrokerd pid %d, up %llu s, backend %s\n", (int)getpid(),
		(unsigned long long)((now_ns() - srv->started_ns) / 1000000000u), srv->be->desc);
	fprintf(f, "TPM: %u object slots, %u session slots, %u active sessions max, "
		   "%zu commands\n",
		srv->caps.transient_slots, srv->caps.loaded_sessions,
		srv->caps.active_sessions_max, srv->caps.n_cc);
	fprintf(f, "connections: %u now, %llu total, %llu refused\n", srv->n_conns,
		(unsigned long long)srv->conns_total, (unsigned long long)srv->conns_refused);
	fprintf(f,
		"commands: %llu from clients, %llu to the TPM, %llu answered by the broker, "
		"%llu bad frames\n",
		(unsigned long long)ss.jobs, (unsigned long long)ss.tpm_commands,
		(unsigned long long)rs.rm_errors, (unsigned long long)srv->frames_bad);
	fprintf(f,
		"handles: %u objects (%u in the TPM), %u sessions (%u in the TPM), "
		"%u abandoned\n",
		rs.objects, rs.objects_loaded, rs.sessions, rs.sessions_loaded, rs.abandoned);
	fprintf(f,
		"resource manager: %llu context saves, %llu loads, %llu flushes, %llu evictions, "
		"%llu retries, %llu resyncs, %llu take-overs, %llu abandoned flushed, "
		"%llu ReadPublic from cache\n",
		(unsigned long long)rs.context_saves, (unsigned long long)rs.context_loads,
		(unsigned long long)rs.flushes, (unsigned long long)rs.evictions,
		(unsigned long long)rs.retries, (unsigned long long)rs.resyncs,
		(unsigned long long)rs.takeovers, (unsigned long long)rs.abandoned_flushed,
		(unsigned long long)rs.cached);
	fprintf(f,
		"sessions: %llu gap refreshes, %llu evicted for others, %llu lost (context gap), "
		"%llu waited for a slot (%llu in vain), %llu quota refusals, %llu warnings "
		"retried after a pause\n",
		(unsigned long long)rs.gap_refreshes, (unsigned long long)rs.sessions_evicted,
		(unsigned long long)rs.sessions_lost,
		(unsigned long long)rs.session_waits, (unsigned long long)rs.session_wait_timeouts,
		(unsigned long long)rs.quota_refusals, (unsigned long long)rs.backoff_retries);
	status_abandoned(srv, f, false);
	fputc('\n', f);
	fprintf(f, "backend: %llu errors, %llu reconnects, %llu TPM resets, %llu cancels\n",
		(unsigned long long)ss.backend_errors, (unsigned long long)ss.reconnects,
		(unsigned long long)ss.tpm_resets, (unsigned long long)ss.cancels);
	fprintf(f, "queue: %u waiting, %u parked (waiting for a slot or a retry), %s\n", ss.queued,
		ss.parked, ss.busy ? "TPM busy" : "TPM idle");
	if (!TAILQ_EMPTY(&srv->conns))
		fprintf(f, "\n%6s %-14s %7s %6s %-8s %9s  %s\n", "ID", "PROTOCOL", "PID", "UID",
			"STATE", "COMMANDS", "HANDLES");
	TAILQ_FOREACH(c, &srv->conns, entry) {
		fprintf(f, "%6llu %-14s %7d %6d %-8s %9llu  ", (unsigned long long)c->id,
			conn_proto_name(c->proto), c->peer_known ? (int)c->peer.pid : -1,
			c->peer_known ? (int)c->peer.uid : -1, conn_state_name(c->state),
			(unsigned long long)c->commands);
		status_conn_handles(srv, c->rmc, f, false);
		fputc('\n', f);
	}
}

int
status_render(struct server *srv, bool json, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return -errno;
	if (json)
		status_json(srv, f);
	else
		status_text(srv, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
