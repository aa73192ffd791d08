/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * status.c: a snapshot of the daemon for `tpmbroker status`.  Rendered on
 * the loop thread between jobs' steps, so RM tables are consistent.
 *
 * Every counter is one row of counters[]: where it comes from (the server,
 * an instance's scheduler or RM), its JSON key and its words in the text.
 * The daemon's totals sum the instances; each instance also has its own.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/util.h"
#include "backend.h"
#include "conn.h"
#include "instance.h"
#include "supervise.h"
#include "quote.h"
#include "measure.h"
#include "rm.h"
#include "sched.h"
#include "server.h"
#include "status.h"

/* SRC_CONNS: connections now, the daemon's or one instance's */
/*
 * The connection list is bounded, so that status answers (within
 * TB_PROTO_MAX_STATUS) with 10,000 clients connected: at most this many
 * connections, and none once the text is this long; the rest are counted.
 */
#define STATUS_MAX_LISTED 1000u
#define STATUS_MAX_BYTES (768u * 1024u)

/* May one more connection be listed in f, n listed so far? */
static bool
status_room(FILE *f, unsigned n)
{
	long len = ftell(f);

	return n < STATUS_MAX_LISTED && len >= 0 && (unsigned long)len < STATUS_MAX_BYTES;
}

enum ctr_src { SRC_CONNS, SRC_SERVER, SRC_SCHED, SRC_RM };
enum ctr_type { CT_U64, CT_UINT, CT_BOOL };

struct counter {
	const char *key;     /* JSON key, in "counters" or "handles" */
	bool handles;        /* in "handles" (what is held now), else "counters" */
	const char *line;    /* text: the line it is on */
	const char *label;   /* text: its words after the value */
	enum ctr_src src;
	enum ctr_type type;
	size_t off;          /* in struct server_stats / sched_stats / rm_stats; SRC_CONNS: 0 */
};

#define SRV(f) SRC_SERVER, CT_U64, offsetof(struct server_stats, f)
#define SCH(t, f) SRC_SCHED, t, offsetof(struct sched_stats, f)
#define RMS(t, f) SRC_RM, t, offsetof(struct rm_stats, f)

static const struct counter counters[] = {
	{"connections_now", false, "connections", "now", SRC_CONNS, CT_UINT, 0},
	{"connections_total", false, "connections", "total", SRV(conns_total)},
	{"connections_refused", false, "connections", "refused", SRV(conns_refused)},
	{"commands", false, "commands", "from clients", SCH(CT_U64, jobs)},
	{"tpm_commands", false, "commands", "to the TPM", SCH(CT_U64, tpm_commands)},
	{"broker_answers", false, "commands", "answered by the broker", SRV(broker_answers)},
	{"rm_errors", false, "commands", "refused by the resource manager",
	 RMS(CT_U64, rm_errors)},
	{"bad_frames", false, "commands", "bad frames", SRV(frames_bad)},
	{"status_denied", false, "commands", "status requests refused", SRV(status_denied)},
	{"policy_denied", false, "commands", "refused by a profile", SRV(policy_denied)},
	{"objects", true, "handles", "objects", RMS(CT_UINT, objects)},
	{"objects_loaded", true, "handles", "objects in the TPM", RMS(CT_UINT, objects_loaded)},
	{"sessions", true, "handles", "sessions", RMS(CT_UINT, sessions)},
	{"sessions_loaded", true, "handles", "sessions in the TPM", RMS(CT_UINT, sessions_loaded)},
	{"abandoned", true, "handles", "abandoned", RMS(CT_UINT, abandoned)},
	{"context_saves", false, "resource manager", "context saves", RMS(CT_U64, context_saves)},
	{"context_loads", false, "resource manager", "loads", RMS(CT_U64, context_loads)},
	{"flushes", false, "resource manager", "flushes", RMS(CT_U64, flushes)},
	{"evictions", false, "resource manager", "evictions", RMS(CT_U64, evictions)},
	{"retries", false, "resource manager", "retries", RMS(CT_U64, retries)},
	{"resyncs", false, "resource manager", "resyncs", RMS(CT_U64, resyncs)},
	{"takeovers", false, "resource manager", "take-overs", RMS(CT_U64, takeovers)},
	{"abandoned_flushed", false, "resource manager", "abandoned flushed",
	 RMS(CT_U64, abandoned_flushed)},
	{"readpublic_cached", false, "resource manager", "ReadPublic from cache",
	 RMS(CT_U64, cached)},
	{"gap_refreshes", false, "sessions", "gap refreshes", RMS(CT_U64, gap_refreshes)},
	{"sessions_evicted", false, "sessions", "evicted for others",
	 RMS(CT_U64, sessions_evicted)},
	{"sessions_lost", false, "sessions", "lost (context gap)", RMS(CT_U64, sessions_lost)},
	{"session_waits", false, "sessions", "waited for a slot", RMS(CT_U64, session_waits)},
	{"session_wait_timeouts", false, "sessions", "waited in vain",
	 RMS(CT_U64, session_wait_timeouts)},
	{"quota_refusals", false, "sessions", "quota refusals", RMS(CT_U64, quota_refusals)},
	{"quota_waits", false, "sessions", "waited for a user/cgroup quota",
	 RMS(CT_U64, quota_waits)},
	{"nv_rate_waits", false, "resource manager", "NV writes held to their rate",
	 RMS(CT_U64, nv_rate_waits)},
	{"foreign_blobs", false, "resource manager", "another user's contexts refused",
	 RMS(CT_U64, foreign_blobs)},
	{"backoff_retries", false, "sessions", "warnings retried after a pause",
	 RMS(CT_U64, backoff_retries)},
	{"backend_errors", false, "backend", "errors", SCH(CT_U64, backend_errors)},
	{"reconnects", false, "backend", "reconnects", SCH(CT_U64, reconnects)},
	{"tpm_resets", false, "backend", "TPM resets (started again)", RMS(CT_U64, tpm_startups)},
	{"cancels", false, "backend", "cancels", SCH(CT_U64, cancels)},
	{"tpm_timeouts", false, "backend", "commands not answered in time (client answered)",
	 SCH(CT_U64, timeouts)},
	{"queued", false, "queue", "waiting", SCH(CT_UINT, queued)},
	{"parked", false, "queue", "parked (waiting for a slot or a retry)", SCH(CT_UINT, parked)},
	{"parks", false, "queue", "parks so far", SCH(CT_U64, parks)},
	{"busy", false, "queue", "TPM busy", SCH(CT_BOOL, busy)},
	{"aged", false, "queue", "turns a lower class got by waiting", SCH(CT_U64, aged)},
	{"held", false, "queue", "waits for a user's next command", SCH(CT_U64, holds)},
	{"inline_commands", false, "backend", "cheap commands run on the loop",
	 SCH(CT_U64, inline_cmds)},
	{"inline_max_us", false, "backend", "µs the longest of them took", SCH(CT_UINT, inline_max_us)},
};

/* One instance's (or the whole daemon's) figures, for the table to read. */
struct snapshot {
	unsigned conns_now;
	struct server_stats srv;
	struct sched_stats sched;
	struct rm_stats rm;
};

static uint64_t
ctr_value(const struct counter *k, const struct snapshot *s)
{
	const void *base = k->src == SRC_CONNS	  ? (const void *)&s->conns_now
			   : k->src == SRC_SERVER ? (const void *)&s->srv
			   : k->src == SRC_SCHED  ? (const void *)&s->sched
						  : (const void *)&s->rm;
	const uint8_t *p = (const uint8_t *)base + k->off;
	uint64_t v64;
	unsigned vu;
	bool vb;

	switch (k->type) {
	case CT_U64:
		memcpy(&v64, p, sizeof(v64));
		return v64;
	case CT_UINT:
		memcpy(&vu, p, sizeof(vu));
		return vu;
	case CT_BOOL:
		memcpy(&vb, p, sizeof(vb));
		return vb;
	}
	return 0;
}

static void
snapshot_instance(const struct tpm_instance *ti, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->conns_now = ti->n_conns;
	sched_get_stats(ti->sched, &s->sched);
	rm_get_stats(ti->rm, &s->rm);
}

/* The daemon's totals: the server's own counters, every instance's summed. */
static void
snapshot_total(const struct server *srv, struct snapshot *t)
{
	memset(t, 0, sizeof(*t));
	t->conns_now = srv->n_conns;
	t->srv = srv->st;
	for (size_t i = 0; i < srv->n_inst; i++) {
		struct snapshot s;
		snapshot_instance(srv->inst[i], &s);
		for (size_t k = 0; k < ARRAY_SIZE(counters); k++) {
			const struct counter *c = &counters[k];
			uint8_t *p;
			uint64_t v;

			if (c->src == SRC_SERVER || c->src == SRC_CONNS)
				continue;
			p = (uint8_t *)(c->src == SRC_SCHED ? (void *)&t->sched : (void *)&t->rm) +
			    c->off;
			v = ctr_value(c, t) + ctr_value(c, &s);
			if (c->type == CT_U64) {
				memcpy(p, &v, sizeof(v));
			} else if (c->type == CT_UINT) {
				unsigned u = (unsigned)v;
				memcpy(p, &u, sizeof(u));
			} else {
				bool b = v != 0;
				memcpy(p, &b, sizeof(b));
			}
		}
	}
}

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
void
status_conn_handles(const struct rm *rm, const struct rm_conn *rc, FILE *f, bool json)
{
	struct status_handles sh = {.f = f, .json = json};

	status_list_open(&sh, "objects", false);
	rm_conn_handles(rm, rc, status_conn_handle, &sh);
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
void
status_abandoned(const struct rm *rm, FILE *f, bool json)
{
	struct status_handles sh = {.f = f, .json = json, .first = true};

	fputs(json ? "\"abandoned\": [" : "abandoned sessions:", f);
	rm_abandoned_handles(rm, status_abandoned_handle, &sh);
	status_list_close(&sh);
}

/* The table's rows of one section from s, as JSON members; server rows only if with_srv. */
static void
json_counters(FILE *f, const struct snapshot *s, bool handles, bool with_srv)
{
	const char *sep = "";

	for (size_t k = 0; k < ARRAY_SIZE(counters); k++) {
		const struct counter *c = &counters[k];
		if (c->handles != handles || (c->src == SRC_SERVER && !with_srv))
			continue;
		if (c->type == CT_BOOL)
			fprintf(f, "%s\"%s\": %s", sep, c->key, ctr_value(c, s) ? "true" : "false");
		else
			fprintf(f, "%s\"%s\": %llu", sep, c->key,
				(unsigned long long)ctr_value(c, s));
		sep = ", ";
	}
}

static void
json_tpm(FILE *f, const struct tpm_instance *ti)
{
	const struct tpm_caps *caps = &ti->caps;

	fprintf(f,
		"{\"max_command\": %u, \"transient_slots\": %u, "
		"\"loaded_sessions\": %u, \"active_sessions_max\": %u, \"context_gap_max\": %u, "
		"\"commands_supported\": %zu}",
		caps->max_command, caps->transient_slots, caps->loaded_sessions,
		caps->active_sessions_max, caps->context_gap_max, caps->n_cc);
}

/* Batched quotes (quote.h), every instance's together; the largest batch is the largest. */
static void
quote_totals(const struct server *srv, struct quote_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < srv->n_inst; i++) {
		struct quote_stats s;

		if (srv->inst[i]->quote == NULL)
			continue;
		quote_get_stats(srv->inst[i]->quote, &s);
		t->requests += s.requests;
		t->refused += s.refused;
		t->batches += s.batches;
		t->tpm_quotes += s.tpm_quotes;
		t->failed += s.failed;
		t->batch_max = MAX(t->batch_max, s.batch_max);
	}
}

static void
status_json(struct server *srv, FILE *f)
{
	const struct tpm_instance *shared = srv->inst[0];
	struct quote_stats q;
	struct snapshot t;
	struct conn *c;
	unsigned listed = 0;
	bool first = true;

	snapshot_total(srv, &t);
	fprintf(f, "{\"pid\": %d, \"uptime_s\": %llu, \"backend\": ", (int)getpid(),
		(unsigned long long)((now_ns() - srv->started_ns) / 1000000000u));
	json_str(f, shared->be->desc);
	fputs(", \"tpm\": ", f);
	json_tpm(f, shared);
	fputs(", \"counters\": {", f);
	json_counters(f, &t, false, true);
	fputs("}, \"handles\": {", f);
	json_counters(f, &t, true, true);
	fputs("}, ", f);
	quote_totals(srv, &q);
	fprintf(f,
		"\"quotes\": {\"requests\": %llu, \"tpm_quotes\": %llu, \"batches\": %llu, "
		"\"largest_batch\": %u, \"refused\": %llu, \"failed\": %llu}, ",
		(unsigned long long)q.requests, (unsigned long long)q.tpm_quotes,
		(unsigned long long)q.batches, q.batch_max, (unsigned long long)q.refused,
		(unsigned long long)q.failed);
	status_abandoned(shared->rm, f, true);
	if (shared->measure != NULL) {
		fputs(", ", f);
		measure_status(shared->measure, f, true);
	}
	fputs(", \"instances\": [", f);
	for (size_t i = 0; i < srv->n_inst; i++) {
		const struct tpm_instance *ti = srv->inst[i];
		struct snapshot s;

		snapshot_instance(ti, &s);
		fprintf(f, "%s{\"name\": ", i == 0 ? "" : ", ");
		json_str(f, ti->name);
		fputs(", \"backend\": ", f);
		json_str(f, ti->be->desc);
		if (ti->sup != NULL) {
			char w[200];
			sup_describe(ti, w, sizeof(w));
			fputs(", \"worker\": ", f);
			json_str(f, w);
		}
		fputs(", \"tpm\": ", f);
		json_tpm(f, ti);
		fputs(", \"counters\": {", f);
		json_counters(f, &s, false, false);
		fputs("}, \"handles\": {", f);
		json_counters(f, &s, true, false);
		fputs("}}", f);
	}
	fputs("], \"connections\": [", f);
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (!status_room(f, listed))
			break;
		listed++;
		fprintf(f,
			"%s{\"id\": %llu, \"protocol\": \"%s\", \"instance\": ",
			first ? "" : ", ", (unsigned long long)c->id, c->fr->name);
		json_str(f, c->inst->name);
		fprintf(f, ", \"pid\": %d, \"uid\": %d, \"profile\": ",
			c->peer.pid > 0 ? (int)c->peer.pid : -1,
			c->peer.uid_known ? (int)c->peer.uid : -1);
		json_str(f, c->profile != NULL ? c->profile->name : "");
		fprintf(f, ", \"state\": \"%s\", \"commands\": %llu, ", conn_state_name(c),
			(unsigned long long)c->commands);
		status_conn_handles(c->inst->rm, c->rmc, f, true);
		fputc('}', f);
		first = false;
	}
	fprintf(f, "], \"connections_listed\": %u, \"connections_not_listed\": %u}\n", listed,
		srv->n_conns - listed);
}

/* The table as text: a line per group, "group: value words, value words". */
static void
text_counters(FILE *f, const struct snapshot *s, bool with_srv, const char *indent)
{
	const char *line = NULL;

	for (size_t k = 0; k < ARRAY_SIZE(counters); k++) {
		const struct counter *c = &counters[k];
		uint64_t v;

		if (c->src == SRC_SERVER && !with_srv)
			continue;
		if (line == NULL || strcmp(line, c->line) != 0) {
			fprintf(f, "%s%s%s: ", line != NULL ? "\n" : "", indent, c->line);
			line = c->line;
		} else {
			fputs(", ", f);
		}
		v = ctr_value(c, s);
		if (c->type == CT_BOOL)
			fprintf(f, "%s %s", c->label, v ? "yes" : "no");
		else
			fprintf(f, "%llu %s", (unsigned long long)v, c->label);
	}
	fputc('\n', f);
}

static void
status_text(struct server *srv, FILE *f)
{
	const struct tpm_instance *shared = srv->inst[0];
	struct quote_stats q;
	struct snapshot t;
	struct conn *c;
	unsigned listed = 0;

	snapshot_total(srv, &t);
	fprintf(f, "tpmbrokerd pid %d, up %llu s, backend %s\n", (int)getpid(),
		(unsigned long long)((now_ns() - srv->started_ns) / 1000000000u),
		shared->be->desc);
	fprintf(f, "TPM: %u object slots, %u session slots, %u active sessions max, "
		   "%zu commands\n",
		shared->caps.transient_slots, shared->caps.loaded_sessions,
		shared->caps.active_sessions_max, shared->caps.n_cc);
	text_counters(f, &t, true, "");
	quote_totals(srv, &q);
	fprintf(f, "quotes: %llu requests, %llu TPM2_Quote, %llu batches, largest batch %u, "
		   "%llu refused, %llu failed\n",
		(unsigned long long)q.requests, (unsigned long long)q.tpm_quotes,
		(unsigned long long)q.batches, q.batch_max, (unsigned long long)q.refused,
		(unsigned long long)q.failed);
	status_abandoned(shared->rm, f, false);
	fputc('\n', f);
	if (shared->measure != NULL)
		measure_status(shared->measure, f, false);
	fprintf(f, "\ninstances: %zu\n", srv->n_inst);
	for (size_t i = 0; i < srv->n_inst; i++) {
		const struct tpm_instance *ti = srv->inst[i];
		struct snapshot s;
		char w[200];

		snapshot_instance(ti, &s);
		sup_describe(ti, w, sizeof(w));
		fprintf(f, "  %s: backend %s, %u connections%s%s\n", ti->name, ti->be->desc,
			ti->n_conns, w[0] != '\0' ? "; " : "", w);
		if (srv->n_inst > 1)
			text_counters(f, &s, false, "    ");
	}
	if (!TAILQ_EMPTY(&srv->conns))
		fprintf(f, "\n%6s %-14s %-8s %7s %6s %-8s %-8s %9s  %s\n", "ID", "PROTOCOL",
			"INSTANCE", "PID", "UID", "PROFILE", "STATE", "COMMANDS", "HANDLES");
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (!status_room(f, listed)) {
			fprintf(f, "... and %u more connections, not listed\n", srv->n_conns - listed);
			break;
		}
		listed++;
		fprintf(f, "%6llu %-14s %-8s %7d %6d %-8s %-8s %9llu  ", (unsigned long long)c->id,
			c->fr->name, c->inst->name, c->peer.pid > 0 ? (int)c->peer.pid : -1,
			c->peer.uid_known ? (int)c->peer.uid : -1,
			c->profile != NULL ? c->profile->name : "-", conn_state_name(c),
			(unsigned long long)c->commands);
		status_conn_handles(c->inst->rm, c->rmc, f, false);
		fputc('\n', f);
	}
}

/*
 * Prometheus: every row of the table, for the daemon (no label) and each
 * instance (instance="NAME"): counters as tpmbroker_KEY_total, gauges
 * (what is held or waiting now) as tpmbroker_KEY.
 */
static bool
ctr_is_gauge(const struct counter *k)
{
	return k->handles || k->type != CT_U64;
}

static void
status_prometheus(struct server *srv, FILE *f)
{
	struct snapshot t, s[SRV_MAX_INSTANCES];
	struct quote_stats q;

	snapshot_total(srv, &t);
	for (size_t n = 0; n < srv->n_inst; n++)
		snapshot_instance(srv->inst[n], &s[n]);
	for (size_t i = 0; i < ARRAY_SIZE(counters); i++) {
		const struct counter *k = &counters[i];
		size_t kl = strlen(k->key);
		bool has_total = kl > 6 && strcmp(k->key + kl - 6, "_total") == 0;
		const char *suffix = ctr_is_gauge(k) || has_total ? "" : "_total";

		fprintf(f, "# HELP tpmbroker_%s%s %s: %s\n", k->key, suffix, k->line, k->label);
		fprintf(f, "# TYPE tpmbroker_%s%s %s\n", k->key, suffix,
			ctr_is_gauge(k) ? "gauge" : "counter");
		fprintf(f, "tpmbroker_%s%s %llu\n", k->key, suffix,
			(unsigned long long)ctr_value(k, &t));
		if (k->src == SRC_SERVER)
			continue;
		for (size_t n = 0; n < srv->n_inst; n++)
			fprintf(f, "tpmbroker_%s%s{instance=\"%s\"} %llu\n", k->key, suffix,
				srv->inst[n]->name, (unsigned long long)ctr_value(k, &s[n]));
	}
	quote_totals(srv, &q);
	fprintf(f,
		"# HELP tpmbroker_quote_requests_total quote requests (tpmbroker quote)\n"
		"# TYPE tpmbroker_quote_requests_total counter\n"
		"tpmbroker_quote_requests_total %llu\n"
		"# HELP tpmbroker_quote_tpm_quotes_total TPM2_Quote commands the batches sent\n"
		"# TYPE tpmbroker_quote_tpm_quotes_total counter\n"
		"tpmbroker_quote_tpm_quotes_total %llu\n"
		"# HELP tpmbroker_quote_batches_total batches of quote requests\n"
		"# TYPE tpmbroker_quote_batches_total counter\n"
		"tpmbroker_quote_batches_total %llu\n"
		"# HELP tpmbroker_quote_largest_batch the largest batch so far\n"
		"# TYPE tpmbroker_quote_largest_batch gauge\n"
		"tpmbroker_quote_largest_batch %u\n",
		(unsigned long long)q.requests, (unsigned long long)q.tpm_quotes,
		(unsigned long long)q.batches, q.batch_max);
	fprintf(f, "# HELP tpmbroker_uptime_seconds seconds since the daemon started\n"
		   "# TYPE tpmbroker_uptime_seconds gauge\n"
		   "tpmbroker_uptime_seconds %llu\n",
		(unsigned long long)((now_ns() - srv->started_ns) / 1000000000u));
}

int
status_render(struct server *srv, int fmt, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return -errno;
	if (fmt == STATUS_PROMETHEUS)
		status_prometheus(srv, f);
	else if (fmt == STATUS_JSON)
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
