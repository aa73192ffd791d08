/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd_log.c: tpmbroker log show|export|verify, the readers of the
 * measurement log (src/common/mlog.h).  They read the file under a shared
 * flock (mlog_read_file) and never write it; verify reads the PCRs through
 * the daemon as raw TPM commands, as `tpmbroker send` does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "cli.h"
#include "cmd_log.h"
#include "common/client.h"
#include "common/mlog.h"
#include "common/mlog_export.h"
#include "common/mlog_replay.h"
#include "common/proto.h"
#include "common/util.h"

#define MAX_EXPECT 16

static int cmd_log(const struct cli_ctx *ctx, int argc, char **argv);

const struct cli_cmd cli_cmd_log = {
	.name = "log",
	.run = cmd_log,
	.synopsis = "log show|export|verify [--log FILE] ...",
	.help = "  log show             print the measurement log, one line per record (seq,\n"
		"                       epoch, kind, register, event type, stream, description,\n"
		"                       digests abbreviated)\n"
		"    --log=FILE         the log (default: the daemon's: measure.log in its\n"
		"                       state directory, or SOCKET.measure.log for a daemon\n"
		"                       on another socket than the default)\n"
		"    --stream=S         only stream S's events, then its virtual registers\n"
		"    --pcr=N            only PCR N's records\n"
		"    --json             one JSON object\n"
		"  log export --format=tcg|cel-json [--log=FILE] [-o FILE]\n"
		"                       the PCR events of the current epoch as a TCG PC Client\n"
		"                       crypto-agile binary event log (tpm2_eventlog reads it)\n"
		"                       or as CEL-JSON records (systemd's JSON-SEQ); RTMR\n"
		"                       records are left out\n"
		"  log verify [--log=FILE] [--stream=S [--expect=REG:BANK=HEX]...]\n"
		"                       replay the current epoch and compare it with the PCRs\n"
		"                       read through the daemon; exit 1 on any difference, a\n"
		"                       torn tail, a gap in the records or an unknown bank; with\n"
		"                       --stream: print S's virtual registers and check them\n"
		"                       against --expect (REG: pcrN or rtmrN)\n",
};

struct log_opts {
	const char *log;
	const char *stream; /* NULL: all */
	long pcr;           /* -1: all */
	bool json;
	const char *format; /* export */
	const char *out;    /* export: NULL stdout */
	const char *socket; /* verify: NULL the global one */
	const char *expect[MAX_EXPECT];
	size_t n_expect;
	char path[4096];
};

/* ---- shared ---- */

static int
load(const struct cli_ctx *ctx, struct log_opts *o, struct mlog_file *f)
{
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r;

	if (o->log == NULL) {
		/* the daemon's default for the socket we talk to (verify's own --socket) */
		if (o->socket != NULL && tb_socket_path(o->socket, sock, sizeof(sock)) == 0)
			r = mlog_default_path(sock, o->path, sizeof(o->path));
		else
			r = mlog_default_path(ctx->path, o->path, sizeof(o->path));
		if (r < 0) {
			fprintf(stderr, "tpmbroker: log: no default log path (%s); give --log FILE\n",
				strerror(-r));
			return EXIT_USAGE;
		}
		o->log = o->path;
	}
	if ((r = mlog_read_file(o->log, f)) < 0) {
		if (r == -EBADMSG)
			fprintf(stderr, "tpmbroker: log: %s is not a tpmbroker measurement log\n",
				o->log);
		else
			fprintf(stderr, "tpmbroker: log: %s: %s\n", o->log, strerror(-r));
		return EXIT_TPM_ERROR;
	}
	return EXIT_OK;
}

/* damage that is not a torn tail or a gap: say it; true if there is some */
static bool
report_damage(const struct log_opts *o, const struct mlog_file *f)
{
	if (f->valid_end < f->size)
		fprintf(stderr,
			"tpmbroker: log: %s: torn tail: %zu bytes at offset %zu after seq %llu "
			"are not a whole record (a crash during an append; tpmbrokerd cuts it "
			"at its next start)\n",
			o->log, f->size - f->valid_end, f->valid_end, (unsigned long long)f->last_seq);
	if (f->seq_gap)
		fprintf(stderr, "tpmbroker: log: %s: records out of sequence (a gap or a "
				"repeat in seq: damage, not a crash)\n", o->log);
	return f->valid_end < f->size || f->seq_gap;
}

static void
reg_label(char *buf, size_t cap, uint8_t reg_type, uint32_t reg)
{
	snprintf(buf, cap, "%s%u", mlog_reg_type_name(reg_type), reg);
}

/* text output: printable ASCII as is, the rest escaped; never a control byte */
static void
print_safe(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			putchar(c);
		else
			printf("\\x%02x", c);
	}
}

static void
print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static int
flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "tpmbroker: writing to stdout: %s\n", strerror(errno));
		return EXIT_TPM_ERROR;
	}
	return EXIT_OK;
}

/* ---- show ---- */

static bool
shown(const struct log_opts *o, const struct mlog_rec *r)
{
	if (o->pcr >= 0 && (r->reg_type != MLOG_REG_PCR || r->reg != (uint32_t)o->pcr))
		return false;
	if (o->stream != NULL && (r->kind != MLOG_EVENT || r->stream_len != strlen(o->stream) ||
				  memcmp(r->stream, o->stream, r->stream_len) != 0))
		return false;
	return true;
}

static void
show_text_rec(const struct mlog_rec *r)
{
	const char *et = mlog_event_type_name(r->event_type);
	char reg[16];

	reg_label(reg, sizeof(reg), r->reg_type, r->reg);
	printf("%6llu %u/%u %-7s %-6s ", (unsigned long long)r->seq, r->reset_count,
	       r->restart_count, r->kind == MLOG_SECTION ? "section" : "event", reg);
	if (et != NULL)
		printf("%-14s ", et);
	else
		printf("0x%08x     ", r->event_type);
	if (r->stream_len == 0)
		printf("-");
	else
		print_safe(r->stream, r->stream_len);
	printf(" \"");
	print_safe(r->desc, r->desc_len);
	printf("\"");
	for (size_t i = 0; i < r->n_dig; i++) {
		const char *a = mlog_alg_name(r->dig[i].alg);

		if (a != NULL)
			printf(" %s:", a);
		else
			printf(" 0x%04x:", r->dig[i].alg);
		print_hex(r->dig[i].d, MIN(r->dig[i].size, 4u));
		printf("%s", r->dig[i].size > 4 ? ".." : "");
	}
	printf("\n");
}

static void
json_rec(struct mlog_buf *b, const struct mlog_rec *r, bool first)
{
	const char *et = mlog_event_type_name(r->event_type);

	mlog_buf_printf(b, "%s{\"seq\":%llu,\"reset_count\":%u,\"restart_count\":%u,"
			   "\"time_ns\":%llu,\"kind\":\"%s\",\"register\":\"%s%u\",",
			first ? "" : ",", (unsigned long long)r->seq, r->reset_count,
			r->restart_count, (unsigned long long)r->time_ns,
			r->kind == MLOG_SECTION ? "section" : "event", mlog_reg_type_name(r->reg_type),
			r->reg);
	if (et != NULL)
		mlog_buf_printf(b, "\"event_type\":\"%s\",", et);
	else
		mlog_buf_printf(b, "\"event_type\":\"0x%08x\",", r->event_type);
	mlog_buf_printf(b, "\"uid\":%u,\"pid\":%u,\"stream\":", r->uid, r->pid);
	mlog_buf_json_str(b, r->stream, r->stream_len);
	mlog_buf_printf(b, ",\"description\":");
	mlog_buf_json_str(b, r->desc, r->desc_len);
	mlog_buf_printf(b, ",\"data_size\":%zu,\"digests\":[", r->data_len);
	for (size_t i = 0; i < r->n_dig; i++) {
		const char *a = mlog_alg_name(r->dig[i].alg);

		if (a != NULL)
			mlog_buf_printf(b, "%s{\"hashAlg\":\"%s\",\"digest\":\"", i ? "," : "", a);
		else
			mlog_buf_printf(b, "%s{\"hashAlg\":\"0x%04x\",\"digest\":\"", i ? "," : "",
					r->dig[i].alg);
		mlog_buf_hex(b, r->dig[i].d, r->dig[i].size);
		mlog_buf_printf(b, "\"}");
	}
	mlog_buf_printf(b, "]}");
}

/* the virtual registers of o->stream: text lines, or a JSON array into b */
static int
show_virtual(const struct log_opts *o, const struct mlog_file *f, struct mlog_buf *b)
{
	_cleanup_(freep) struct mlog_replay *rp = calloc(1, sizeof(*rp));
	bool first = true;
	int r;

	if (rp == NULL)
		return -ENOMEM;
	if ((r = mlog_replay(f, o->stream, strlen(o->stream), rp)) < 0)
		return r;
	if (rp->bad_seq != 0)
		fprintf(stderr, "tpmbroker: log: seq %llu: %s; the virtual registers stop there\n",
			(unsigned long long)rp->bad_seq, rp->bad_why);
	if (!o->json)
		printf("stream \"%s\", epoch %u/%u: virtual registers (fold from zeros of its "
		       "own events)\n", o->stream, rp->reset_count, rp->restart_count);
	for (size_t i = 0; i < rp->n_regs; i++) {
		const struct mlog_reg *g = &rp->regs[i];

		if (o->pcr >= 0 && (g->reg_type != MLOG_REG_PCR || g->reg != (uint32_t)o->pcr))
			continue;
		for (size_t k = 0; k < g->n_banks; k++) {
			if (o->json) {
				mlog_buf_printf(b, "%s{\"register\":\"%s%u\",\"bank\":\"%s\","
						   "\"events\":%llu,\"value\":\"",
						first ? "" : ",", mlog_reg_type_name(g->reg_type),
						g->reg, mlog_alg_name(g->v[k].alg),
						(unsigned long long)g->n_events);
				mlog_buf_hex(b, g->v[k].d, g->v[k].size);
				mlog_buf_printf(b, "\"}");
				first = false;
				continue;
			}
			printf("  %s%u %-6s %3llu events ", mlog_reg_type_name(g->reg_type), g->reg,
			       mlog_alg_name(g->v[k].alg), (unsigned long long)g->n_events);
			print_hex(g->v[k].d, g->v[k].size);
			printf("\n");
		}
	}
	return 0;
}

static int
log_show(const struct cli_ctx *ctx, struct log_opts *o)
{
	_cleanup_(mlog_file_free) struct mlog_file f = {0};
	struct mlog_buf b = {0};
	struct mlog_rec rec;
	size_t off = 0;
	bool first = true;
	int r;

	if ((r = load(ctx, o, &f)) != EXIT_OK)
		return r;
	(void)report_damage(o, &f);
	if (o->json) {
		mlog_buf_printf(&b, "{\"log\":");
		mlog_buf_json_str(&b, o->log, strlen(o->log));
		mlog_buf_printf(&b, ",\"size\":%zu,\"valid_end\":%zu,\"torn_tail\":%s,"
				    "\"seq_gap\":%s,\"records\":[",
				f.size, f.valid_end, f.valid_end < f.size ? "true" : "false",
				f.seq_gap ? "true" : "false");
	}
	while (mlog_next(&f, &off, &rec) > 0) {
		if (!shown(o, &rec))
			continue;
		if (o->json)
			json_rec(&b, &rec, first);
		else
			show_text_rec(&rec);
		first = false;
	}
	if (o->json)
		mlog_buf_printf(&b, "]");
	if (o->stream != NULL) {
		if (o->json) {
			mlog_buf_printf(&b, ",\"stream\":");
			mlog_buf_json_str(&b, o->stream, strlen(o->stream));
			mlog_buf_printf(&b, ",\"virtual\":[");
		}
		if ((r = show_virtual(o, &f, &b)) < 0) {
			fprintf(stderr, "tpmbroker: log: %s\n", strerror(-r));
			mlog_buf_free(&b);
			return EXIT_TPM_ERROR;
		}
		if (o->json)
			mlog_buf_printf(&b, "]");
	}
	if (o->json) {
		mlog_buf_printf(&b, "}\n");
		if (b.nomem) {
			fprintf(stderr, "tpmbroker: log: out of memory\n");
			mlog_buf_free(&b);
			return EXIT_TPM_ERROR;
		}
		(void)fwrite(b.p, 1, b.len, stdout);
	}
	mlog_buf_free(&b);
	return flush_stdout();
}

/* ---- export ---- */

static int
log_export(const struct cli_ctx *ctx, struct log_opts *o)
{
	_cleanup_(mlog_file_free) struct mlog_file f = {0};
	_cleanup_(closep) int fd = -1;
	struct mlog_export_info info;
	struct mlog_buf b = {0};
	enum mlog_export_format fmt;
	int r;

	if (o->format == NULL) {
		fprintf(stderr, "tpmbroker: log export: --format tcg or cel-json is required\n");
		return EXIT_USAGE;
	}
	if (strcmp(o->format, "tcg") == 0) {
		fmt = MLOG_EXPORT_TCG;
	} else if (strcmp(o->format, "cel-json") == 0) {
		fmt = MLOG_EXPORT_CEL_JSON;
	} else {
		fprintf(stderr, "tpmbroker: log export: --format is tcg or cel-json, not '%s'\n",
			o->format);
		return EXIT_USAGE;
	}
	if (o->out == NULL && fmt == MLOG_EXPORT_TCG && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "tpmbroker: log export: not writing a binary log to a terminal; "
				"give -o FILE or a pipe\n");
		return EXIT_USAGE;
	}
	if ((r = load(ctx, o, &f)) != EXIT_OK)
		return r;
	(void)report_damage(o, &f); /* the valid records are exported all the same */
	if ((r = mlog_export(&f, fmt, &b, &info)) < 0) {
		if (r == -EBADMSG)
			fprintf(stderr, "tpmbroker: log export: seq %llu: %s\n",
				(unsigned long long)info.bad_seq, info.bad_why);
		else
			fprintf(stderr, "tpmbroker: log export: %s\n", strerror(-r));
		mlog_buf_free(&b);
		return EXIT_TPM_ERROR;
	}
	for (uint32_t i = 0; i < MLOG_PCRS; i++)
		if (info.nonzero_base & (1u << i))
			fprintf(stderr, "tpmbroker: log export: note: PCR %u began this epoch at a "
					"value other than zero; a replay of the export from zero "
					"will not give the TPM's value\n", i);
	if (info.n_no_action > 0)
		fprintf(stderr, "tpmbroker: log export: note: %llu events of type EV_NO_ACTION were "
				"extended, but TCG readers do not replay such events\n",
			(unsigned long long)info.n_no_action);
	if (info.n_rtmr_skipped > 0)
		fprintf(stderr, "tpmbroker: log export: note: %llu RTMR events left out (not PCR "
				"events)\n", (unsigned long long)info.n_rtmr_skipped);
	fd = o->out != NULL ? open(o->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
			    : dup(STDOUT_FILENO);
	if (fd < 0 || (r = write_all(fd, b.p, b.len)) < 0 || (o->out != NULL && close(TAKE_FD(fd)) < 0)) {
		fprintf(stderr, "tpmbroker: log export: %s: %s\n", o->out ? o->out : "stdout",
			strerror(fd < 0 || r == 0 ? errno : -r));
		mlog_buf_free(&b);
		return EXIT_TPM_ERROR;
	}
	mlog_buf_free(&b);
	return EXIT_OK;
}

/* ---- verify (cmd_log_verify.c) ---- */

static int
log_verify(const struct cli_ctx *ctx, struct log_opts *o)
{
	_cleanup_(mlog_file_free) struct mlog_file f = {0};
	int r;

	if (o->stream == NULL && o->n_expect > 0) {
		fprintf(stderr, "tpmbroker: log verify: --expect needs --stream\n");
		return EXIT_USAGE;
	}
	/* a first read: the default path resolved, the file there and ours */
	if ((r = load(ctx, o, &f)) != EXIT_OK)
		return r;
	return cli_log_verify(ctx, o->socket, o->log, o->stream, o->expect, o->n_expect);
}

/* ---- the command word ---- */

static int
cmd_log(const struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"log", required_argument, NULL, 'L'},
		{"stream", required_argument, NULL, 'S'},
		{"pcr", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"socket", required_argument, NULL, 's'},
		{"expect", required_argument, NULL, 'e'},
		{NULL, 0, NULL, 0},
	};
	/* the options each subcommand takes, by their getopt value */
	static const struct {
		const char *name;
		const char *opts;
	} subs[] = {
		{"show", "LSpj"},
		{"export", "Lfo"},
		{"verify", "LSse"},
	};
	struct log_opts o = {.pcr = -1, .json = ctx->json};
	const char *sub;
	size_t si = 0;
	unsigned long v;
	int opt;

	if (argc < 2) {
		fprintf(stderr, "tpmbroker: log: show, export or verify?\n");
		return EXIT_USAGE;
	}
	sub = argv[1];
	while (si < ARRAY_SIZE(subs) && strcmp(subs[si].name, sub) != 0)
		si++;
	if (si == ARRAY_SIZE(subs)) {
		fprintf(stderr, "tpmbroker: log: unknown subcommand '%s' (show, export, verify)\n",
			sub);
		return EXIT_USAGE;
	}
	optind = 0; /* glibc: rescan with fresh state, from argv[1] of the subcommand */
	while ((opt = getopt_long(argc - 1, argv + 1, "+o:js:", opts, NULL)) != -1) {
		if (opt != '?' && strchr(subs[si].opts, opt) == NULL) {
			size_t k = 0;

			while (opts[k].name != NULL && opts[k].val != opt)
				k++;
			fprintf(stderr, "tpmbroker: log %s takes no --%s\n", sub, opts[k].name);
			return EXIT_USAGE;
		}
		switch (opt) {
		case 'L':
			o.log = optarg;
			break;
		case 'S':
			o.stream = optarg;
			break;
		case 'p':
			if (cli_parse_uint(optarg, MLOG_PCRS - 1, &v) < 0) {
				fprintf(stderr, "tpmbroker: log: --pcr is 0..%u, not '%s'\n",
					MLOG_PCRS - 1, optarg);
				return EXIT_USAGE;
			}
			o.pcr = (long)v;
			break;
		case 'j':
			o.json = true;
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'e':
			if (o.n_expect >= MAX_EXPECT) {
				fprintf(stderr, "tpmbroker: log: at most %u --expect\n", MAX_EXPECT);
				return EXIT_USAGE;
			}
			o.expect[o.n_expect++] = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tpmbroker: log: unexpected argument '%s'\n", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (o.log != NULL && o.log[0] == '\0') {
		fprintf(stderr, "tpmbroker: log: --log wants a path\n");
		return EXIT_USAGE;
	}
	if (strcmp(sub, "show") == 0)
		return log_show(ctx, &o);
	if (strcmp(sub, "export") == 0)
		return log_export(ctx, &o);
	return log_verify(ctx, &o);
}
