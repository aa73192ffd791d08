/* SPDX-License-Identifier: BSD-2-Clause */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <stdarg.h>

#include "../common/proto.h"
#include "../common/util.h"
#include "config.h"

#ifndef TB_VERSION
#define TB_VERSION "0.1.0"
#endif

enum {
	OPT_MAX_CONN = 256,
	OPT_SOCKET_MODE,
	OPT_BACKEND_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_READ_TIMEOUT,
	OPT_MAX_OBJECTS,
	OPT_MAX_SESSIONS,
	OPT_MAX_ABANDONED_UID,
	OPT_MAX_ABANDONED,
	OPT_MAX_OBJECTS_UID,
	OPT_MAX_SESSIONS_UID,
	OPT_SESSION_WAIT,
	OPT_RETRY_TIME,
	OPT_QUOTE_WINDOW,
	OPT_QUOTE_BATCH,
	OPT_USER,
	OPT_CHECK,
	OPT_SWEEP,
	OPT_RESERVE_SLOTS,
	OPT_STATE_FILE,
	OPT_INSTANCE_DIR,
	OPT_INSTANCE_KEY,
	OPT_INSTANCE_IDLE,
	OPT_MAX_INSTANCES,
	OPT_MAX_INSTANCES_UID,
	OPT_SWTPM,
	OPT_MEASURE_LOG,
	OPT_MEASURE_PCRS,
	OPT_MEASURE_RTMR,
};

static const struct option cfg_options[] = {
	{"backend", required_argument, NULL, 'b'},
	{"socket", required_argument, NULL, 's'},
	{"listen", required_argument, NULL, 'l'},
	{"config", required_argument, NULL, 'c'},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"max-connections", required_argument, NULL, OPT_MAX_CONN},
	{"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
	{"backend-timeout", required_argument, NULL, OPT_BACKEND_TIMEOUT},
	{"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
	{"read-timeout", required_argument, NULL, OPT_READ_TIMEOUT},
	{"max-objects", required_argument, NULL, OPT_MAX_OBJECTS},
	{"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
	{"max-abandoned-per-user", required_argument, NULL, OPT_MAX_ABANDONED_UID},
	{"max-abandoned", required_argument, NULL, OPT_MAX_ABANDONED},
	{"max-objects-per-user", required_argument, NULL, OPT_MAX_OBJECTS_UID},
	{"max-sessions-per-user", required_argument, NULL, OPT_MAX_SESSIONS_UID},
	{"session-wait", required_argument, NULL, OPT_SESSION_WAIT},
	{"retry-time", required_argument, NULL, OPT_RETRY_TIME},
	{"quote-window", required_argument, NULL, OPT_QUOTE_WINDOW},
	{"quote-batch", required_argument, NULL, OPT_QUOTE_BATCH},
	{"user", required_argument, NULL, OPT_USER},
	{"check-config", no_argument, NULL, OPT_CHECK},
	{"sweep", required_argument, NULL, OPT_SWEEP},
	{"reserve-slots", required_argument, NULL, OPT_RESERVE_SLOTS},
	{"state-file", required_argument, NULL, OPT_STATE_FILE},
	{"instance-dir", required_argument, NULL, OPT_INSTANCE_DIR},
	{"instance-key", required_argument, NULL, OPT_INSTANCE_KEY},
	{"instance-idle", required_argument, NULL, OPT_INSTANCE_IDLE},
	{"max-instances", required_argument, NULL, OPT_MAX_INSTANCES},
	{"max-instances-per-user", required_argument, NULL, OPT_MAX_INSTANCES_UID},
	{"swtpm", required_argument, NULL, OPT_SWTPM},
	{"measure-log", required_argument, NULL, OPT_MEASURE_LOG},
	{"measure-pcrs", required_argument, NULL, OPT_MEASURE_PCRS},
	{"measure-rtmr", required_argument, NULL, OPT_MEASURE_RTMR},
	{NULL, 0, NULL, 0},
};

void
cfg_usage(FILE *out)
{
	fputs("Usage: tpmbrokerd [OPTION]...\n"
	      "TPM 2.0 access broker and resource manager.\n"
	      "\n"
	      "Serves any number of clients on one TPM: each command runs atomically, clients\n"
	      "take fair turns, and errors the broker raises itself are TPM responses with the\n"
	      "resource-manager layer (0x000B0000 | TPM_RC_x).  Runs in the foreground;\n"
	      "takes its sockets from systemd when socket-activated (tpmbrokerd.socket).\n"
	      "\n"
	      "Options:\n"
	      "  -b, --backend=SPEC      the TPM to use (default: libtpms):\n"
	      "                            libtpms[:state=DIR]   embedded software TPM; state in DIR\n"
	      "                                                  (root: /var/lib/tpmbroker/libtpms)\n"
	      "                            swtpm:host=H,port=P   swtpm's TCP data port (ctrl port P+1)\n"
	      "                            mssim:host=H,port=P   MS/IBM simulator (platform port P+1)\n"
	      "                            device[:PATH]         Linux TPM device (default /dev/tpm0)\n"
	      "  -s, --socket=PATH       Unix socket for the tpmbroker TCTI (default: $TPMBROKER_SOCKET,\n"
	      "                          else " TB_SOCKET_DEFAULT_ROOT " as root,\n"
	      "                          else $XDG_RUNTIME_DIR/" TB_SOCKET_NAME "); 'none' disables it\n"
	      "  -l, --listen=SPEC       another frontend (repeatable):\n"
	      "                            unix:PATH             one more Unix socket\n"
	      "                            mssim:ADDR:PORT       MS simulator protocol on TCP PORT (TPM)\n"
	      "                                                  and PORT+1 (platform); loopback only\n"
	      "                                                  unless ADDR says otherwise\n"
	      "  -c, --config=FILE       read settings and profiles from FILE (INI: [daemon] with\n"
	      "                          these options' long names, [profile NAME] sections); the\n"
	      "                          command line wins; SIGHUP reads it again\n"
	      "      --check-config      check the configuration, print a summary and exit\n"
	      "      --max-connections=N a connection beyond N gets TPM_RC_RETRY and is closed\n"
	      "                          (default 1024)\n"
	      "      --socket-mode=MODE  permissions of Unix sockets, octal (default 0666)\n"
	      "      --backend-timeout=MS  one TPM command's limit (default 300000)\n"
	      "      --write-timeout=MS  drop a client that does not read its response (default 10000)\n"
	      "      --read-timeout=MS   drop a client that sends part of a frame and then\n"
	      "                          nothing more for this long (default 10000)\n"
	      "      --max-objects=N     transient objects per connection (default 32)\n"
	      "      --max-sessions=N    sessions per connection (default 16)\n"
	      "      --max-abandoned-per-user=N  saved sessions kept after their client left (8)\n"
	      "      --max-abandoned=N   the same, all users together (32)\n"
	      "      --max-objects-per-user=N  transient objects of one user's connections\n"
	      "                          together (default 256; 0: no limit; not for root)\n"
	      "      --max-sessions-per-user=N  sessions of one user's connections together\n"
	      "                          (default: 3/4 of the TPM's active sessions, 48 of 64;\n"
	      "                          0: no limit; not for root, who may open the TPM itself)\n"
	      "      --session-wait=MS   when every TPM session slot is taken and no client holds\n"
	      "                          more than its fair share, a new session waits this long\n"
	      "                          for one (other clients go on), then fails (default 10000)\n"
	      "      --retry-time=MS     how long TPM_RC_RETRY, TESTING, NV_RATE... are retried\n"
	      "                          with backoff before the client sees them (default 2000)\n"
	      "      --quote-window=MS   quote requests for one key that come within MS share one\n"
	      "                          TPM2_Quote (tpmbroker quote; default 5; 0: only those\n"
	      "                          that come while the TPM is busy)\n"
	      "      --quote-batch=N     at most N requests per TPM2_Quote (default 64, max 256;\n"
	      "                          1: no batching)\n"
	      "      --sweep=own|all|none  at start, flush the transient objects and sessions an\n"
	      "                          earlier broker left: own: only those its record names\n"
	      "                          (the TPM's other users keep theirs; default), all: every\n"
	      "                          one in the TPM, none: nothing\n"
	      "      --reserve-slots=OBJECTS,SESSIONS  TPM slots the broker leaves free for the\n"
	      "                          TPM's other users between commands (default 1,1 on a\n"
	      "                          device backend, 0,0 on the others)\n"
	      "      --state-file=PATH   where the broker records the TPM handles it holds, for\n"
	      "                          --sweep=own (default /run/tpmbroker/held-shared as root,\n"
	      "                          else beside the socket: SOCKET.held-shared); 'none'\n"
	      "      --instance-dir=DIR  private TPM instances (profiles' instance = private or\n"
	      "                          NAME): one swtpm worker each, state in DIR/NAME (default\n"
	      "                          /var/lib/tpmbroker/instances as root when a profile\n"
	      "                          names one; without it and such profiles: none)\n"
	      "      --instance-key=FILE encrypt their state at rest (aes-256-cbc): a 32-byte key\n"
	      "                          or 64 hex digits; read once, as root\n"
	      "      --instance-idle=SEC stop a worker idle this long; the next command starts it\n"
	      "                          again (default 300; 0: never)\n"
	      "      --max-instances=N   private instances per host (default 32, at most 63)\n"
	      "      --max-instances-per-user=N  private instances owned by one uid (default 2)\n"
	      "      --swtpm=PATH        the workers' program (default swtpm, on $PATH)\n"
	      "      --measure-log=PATH  the log of log-first measurement (tpmbroker measure):\n"
	      "                          events are logged and synced before their extend\n"
	      "                          (default: measure.log in the state directory,\n"
	      "                          /var/lib/tpmbroker as root, for the daemon on the\n"
	      "                          default socket, else SOCKET.measure.log); 'none': off\n"
	      "      --measure-pcrs=LIST the PCRs the log owns (default 16,23: no firmware,\n"
	      "                          boot loader or systemd uses them); only profiles with\n"
	      "                          measure-admin may extend, reset or PCR_Event them raw;\n"
	      "                          'none': RTMRs only\n"
	      "      --measure-rtmr=N:FILE  TDX RTMR N is extended by writing its sha384 digest\n"
	      "                          to FILE (the kernel's RTMR file; repeatable)\n"
	      "      --user=USER         run as USER once the TPM and the sockets are open\n"
	      "                          (started as root, default tss; --user=root stays root)\n"
	      "  -v, --verbose           more log output (repeat for debug)\n"
	      "  -q, --quiet             only warnings and errors\n"
	      "  -h, --help              this text\n"
	      "  -V, --version           version\n"
	      "\n"
	      "Clients:\n"
	      "  tpm2_getrandom -T tpmbroker 16            (or -T tpmbroker:path=SOCKET)\n"
	      "  TPM2TOOLS_TCTI=tpmbroker tpm2_pcrread\n"
	      "  tpm2_getrandom -T mssim:host=127.0.0.1,port=PORT 16   (with --listen mssim:...)\n"
	      "  tpmbroker status [--json]                 connections, handles, counters\n"
	      "\n"
	      "Profiles ([profile NAME] in the config file) say who may send which commands,\n"
	      "at which localities, and how many connections a user may hold; without them,\n"
	      "root and group tss may do everything and other users may not Clear the TPM,\n"
	      "change its hierarchies' auth, remove persistent objects, reset PCRs... (see\n"
	      "dist/tpmbrokerd.conf).  Refusals are TPM responses 0x000B0120 / 0x000B0907.\n"
	      "\n"
	      "Signals: SIGTERM and SIGINT stop the daemon; every client's TPM objects are flushed.\n"
	      "SIGHUP reads the config file again (profiles and limits; a bad file is refused).\n"
	      "Exit status: 0 on a clean stop, 1 on a start-up failure, 2 on bad usage.\n",
	      out);
}

/* Where a setting's error goes: the message, for the caller to print with its place. */
struct cfg_err {
	char msg[256];
};

static int
cfg_fail(struct cfg_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
cfg_fail(struct cfg_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int
cfg_uint(const char *name, const char *val, unsigned min, unsigned max, unsigned *ret,
	 struct cfg_err *e)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno != 0 || end == val || *end != '\0' || v < min || v > max)
		return cfg_fail(e, "%s: '%s' is not a number in [%u, %u]", name, val, min, max);
	*ret = (unsigned)v;
	return 0;
}

static int
cfg_add_listen(struct config *cfg, const char *spec, struct cfg_err *e)
{
	struct cfg_listen *l;

	if (cfg->n_listen >= CFG_MAX_LISTEN)
		return cfg_fail(e, "at most %d listen options", CFG_MAX_LISTEN);
	l = &cfg->listen[cfg->n_listen];
	memset(l, 0, sizeof(*l));
	if (strncmp(spec, "unix:", 5) == 0) {
		l->kind = LISTEN_UNIX;
		if (spec[5] == '\0' || strlen(spec + 5) >= sizeof(l->path))
			return cfg_fail(e, "listen %s: bad socket path", spec);
		strcpy(l->path, spec + 5);
	} else if (strncmp(spec, "mssim:", 6) == 0) {
		const char *hp = spec + 6, *colon = strrchr(hp, ':');
		size_t hlen;

		l->kind = LISTEN_MSSIM;
		if (colon == NULL) {
			strcpy(l->host, "127.0.0.1");
			colon = hp - 1;
		} else {
			hlen = (size_t)(colon - hp);
			if (hlen == 0 || hlen >= sizeof(l->host))
				return cfg_fail(e, "listen %s: bad address", spec);
			memcpy(l->host, hp, hlen);
			l->host[hlen] = '\0';
		}
		if (cfg_uint("listen", colon + 1, 1, 65534, &l->port, e) < 0)
			return -EINVAL;
	} else {
		return cfg_fail(e, "listen %s: expected unix:PATH or mssim:ADDR:PORT", spec);
	}
	cfg->n_listen++;
	return 0;
}

static int
cfg_set_socket(struct config *cfg, const char *path, struct cfg_err *e)
{
	/* the default socket is listen[0] */
	if (strcmp(path, "none") == 0) {
		cfg->no_unix = true;
		return 0;
	}
	if (strlen(path) >= sizeof(cfg->listen[0].path) || path[0] == '\0')
		return cfg_fail(e, "socket: path too long or empty");
	cfg->no_unix = false;
	strcpy(cfg->listen[0].path, path);
	return 0;
}

/* "16,23", "16 23", "16-18", or "none": a PCR mask */
static int
cfg_pcr_list(const char *arg, uint32_t *ret, struct cfg_err *e)
{
	char buf[128], *save = NULL, *w;
	uint32_t mask = 0;

	if (strcmp(arg, "none") == 0) {
		*ret = 0;
		return 0;
	}
	if (strlen(arg) >= sizeof(buf))
		return cfg_fail(e, "measure-pcrs: too long");
	strcpy(buf, arg);
	for (w = strtok_r(buf, " \t,", &save); w != NULL; w = strtok_r(NULL, " \t,", &save)) {
		char *end;
		unsigned long a = strtoul(w, &end, 10), b = a;

		if (end != w && *end == '-') {
			const char *s2 = end + 1;
			b = strtoul(s2, &end, 10);
			if (end == s2)
				return cfg_fail(e, "measure-pcrs: '%s' is not N or N-M", w);
		}
		if (end == w || *end != '\0' || a > b || b > 23)
			return cfg_fail(e, "measure-pcrs: '%s' is not a PCR 0..23 or a range", w);
		for (unsigned long i = a; i <= b; i++)
			mask |= 1u << i;
	}
	*ret = mask;
	return 0;
}

/* Apply one option; shared by the command line and the config file. */
static int
cfg_apply(struct config *cfg, int opt, const char *name, const char *arg, struct cfg_err *e)
{
	unsigned v;

	switch (opt) {
	case 'b':
		if (strlen(arg) >= sizeof(cfg->backend))
			return cfg_fail(e, "backend: too long");
		strcpy(cfg->backend, arg);
		return 0;
	case 's':
		return cfg_set_socket(cfg, arg, e);
	case 'l':
		return cfg_add_listen(cfg, arg, e);
	case 'v':
		if (cfg->log_level < LOG_LVL_DEBUG)
			cfg->log_level++;
		return 0;
	case 'q':
		cfg->log_level = LOG_LVL_WARN;
		return 0;
	case OPT_MAX_CONN:
		return cfg_uint(name, arg, 1, 1u << 20, &cfg->max_connections, e);
	case OPT_SOCKET_MODE: {
		char *end;
		unsigned long m = strtoul(arg, &end, 8);
		if (end == arg || *end != '\0' || m > 0777)
			return cfg_fail(e, "socket-mode: '%s' is not an octal mode", arg);
		cfg->socket_mode = (mode_t)m;
		return 0;
	}
	case OPT_BACKEND_TIMEOUT:
		return cfg_uint(name, arg, 10, 3600000, &cfg->backend_timeout_ms, e);
	case OPT_WRITE_TIMEOUT:
		return cfg_uint(name, arg, 10, 3600000, &cfg->write_timeout_ms, e);
	case OPT_READ_TIMEOUT:
		return cfg_uint(name, arg, 10, 3600000, &cfg->read_timeout_ms, e);
	case OPT_MAX_OBJECTS:
		return cfg_uint(name, arg, 1, 4096, &cfg->max_objects_per_conn, e);
	case OPT_MAX_SESSIONS:
		return cfg_uint(name, arg, 1, 4096, &cfg->max_sessions_per_conn, e);
	case OPT_MAX_ABANDONED_UID:
		return cfg_uint(name, arg, 0, 4096, &cfg->max_abandoned_per_uid, e);
	case OPT_MAX_ABANDONED:
		if (cfg_uint(name, arg, 0, 4096, &v, e) < 0)
			return -EINVAL;
		cfg->max_abandoned = v;
		return 0;
	case OPT_MAX_OBJECTS_UID:
		return cfg_uint(name, arg, 0, 1u << 20, &cfg->max_objects_per_uid, e);
	case OPT_MAX_SESSIONS_UID:
		return cfg_uint(name, arg, 0, 4096, &cfg->max_sessions_per_uid, e);
	case OPT_SESSION_WAIT:
		return cfg_uint(name, arg, 0, 3600000, &cfg->session_wait_ms, e);
	case OPT_RETRY_TIME:
		return cfg_uint(name, arg, 0, 600000, &cfg->retry_time_ms, e);
	case OPT_QUOTE_WINDOW:
		return cfg_uint(name, arg, 0, 10000, &cfg->quote_window_ms, e);
	case OPT_QUOTE_BATCH:
		return cfg_uint(name, arg, 1, 256, &cfg->quote_batch, e);
	case OPT_SWEEP:
		if (strcmp(arg, "own") == 0)
			cfg->sweep = CFG_SWEEP_OWN;
		else if (strcmp(arg, "all") == 0)
			cfg->sweep = CFG_SWEEP_ALL;
		else if (strcmp(arg, "none") == 0)
			cfg->sweep = CFG_SWEEP_NONE;
		else
			return cfg_fail(e, "sweep: '%s' is not own, all or none", arg);
		return 0;
	case OPT_RESERVE_SLOTS: {
		char obj[16];
		const char *comma = strchr(arg, ',');
		size_t n = comma != NULL ? (size_t)(comma - arg) : 0;

		if (comma == NULL || n >= sizeof(obj))
			return cfg_fail(e, "reserve-slots: '%s' is not OBJECTS,SESSIONS", arg);
		memcpy(obj, arg, n);
		obj[n] = '\0';
		if (cfg_uint(name, obj, 0, 64, &cfg->reserve_slots[0], e) < 0 ||
		    cfg_uint(name, comma + 1, 0, 64, &cfg->reserve_slots[1], e) < 0)
			return -EINVAL;
		return 0;
	}
	case OPT_STATE_FILE:
		if (strlen(arg) >= sizeof(cfg->state_file) || arg[0] == '\0')
			return cfg_fail(e, "state-file: path too long or empty");
		strcpy(cfg->state_file, arg);
		return 0;
	case OPT_INSTANCE_DIR:
		if (strlen(arg) >= sizeof(cfg->instance_dir) || arg[0] != '/')
			return cfg_fail(e, "instance-dir: an absolute path of at most %zu bytes",
					sizeof(cfg->instance_dir) - 1);
		strcpy(cfg->instance_dir, arg);
		return 0;
	case OPT_INSTANCE_KEY:
		if (strlen(arg) >= sizeof(cfg->instance_key))
			return cfg_fail(e, "instance-key: path too long");
		strcpy(cfg->instance_key, arg);
		return 0;
	case OPT_SWTPM:
		if (strlen(arg) >= sizeof(cfg->swtpm) || arg[0] == '\0')
			return cfg_fail(e, "swtpm: path too long or empty");
		strcpy(cfg->swtpm, arg);
		return 0;
	case OPT_INSTANCE_IDLE:
		return cfg_uint(name, arg, 0, 86400 * 365, &cfg->instance_idle_s, e);
	case OPT_MAX_INSTANCES:
		return cfg_uint(name, arg, 1, 63, &cfg->max_instances, e);
	case OPT_MAX_INSTANCES_UID:
		return cfg_uint(name, arg, 1, 63, &cfg->max_instances_per_uid, e);
	case OPT_MEASURE_LOG:
		if (strlen(arg) >= sizeof(cfg->measure_log) ||
		    (arg[0] != '/' && strcmp(arg, "none") != 0))
			return cfg_fail(e, "measure-log: an absolute path or none, at most %zu bytes",
					sizeof(cfg->measure_log) - 1);
		strcpy(cfg->measure_log, arg);
		return 0;
	case OPT_MEASURE_PCRS:
		return cfg_pcr_list(arg, &cfg->measure_pcrs, e);
	case OPT_MEASURE_RTMR: {
		const char *colon = strchr(arg, ':');
		char idx[8];
		size_t n = colon != NULL ? (size_t)(colon - arg) : 0;
		unsigned i;

		if (colon == NULL || n == 0 || n >= sizeof(idx) || colon[1] != '/' ||
		    strlen(colon + 1) >= sizeof(cfg->measure_rtmr[0].path))
			return cfg_fail(e, "measure-rtmr: '%s' is not N:/ABSOLUTE/FILE", arg);
		memcpy(idx, arg, n);
		idx[n] = '\0';
		if (cfg_uint(name, idx, 0, 3, &i, e) < 0)
			return -EINVAL;
		for (size_t k = 0; k < cfg->n_measure_rtmr; k++)
			if (cfg->measure_rtmr[k].index == i)
				return cfg_fail(e, "measure-rtmr: RTMR %u given twice", i);
		if (cfg->n_measure_rtmr >= ARRAY_SIZE(cfg->measure_rtmr))
			return cfg_fail(e, "measure-rtmr: at most 4");
		cfg->measure_rtmr[cfg->n_measure_rtmr].index = i;
		strcpy(cfg->measure_rtmr[cfg->n_measure_rtmr].path, colon + 1);
		cfg->n_measure_rtmr++;
		return 0;
	}
	case OPT_USER:
		if (strlen(arg) >= sizeof(cfg->user))
			return cfg_fail(e, "user: too long");
		strcpy(cfg->user, arg);
		return 0;
	default:
		return cfg_fail(e, "%s: not a setting", name);
	}
}

/* ---- the config file: INI, [daemon] and [profile NAME] sections (libinih) ---- */

struct cfg_ini {
	struct config *cfg;
	char section[96];        /* the section of the last line seen */
	struct profile *prof;    /* the [profile NAME] being read; NULL in [daemon] */
	bool profiles;           /* the file defines profiles: the built-in ones are dropped */
	struct cfg_err err;      /* the first error */
	bool failed;
};

/* One "key = value" line in section; 1 to go on, 0 for an error (libinih's way). */
static int
cfg_ini_line(void *user, const char *sec, const char *key, const char *value)
{
	const char *section = sec != NULL ? sec : "";
	struct cfg_ini *ini = user;
	struct config *cfg = ini->cfg;
	struct cfg_err e = {{0}};
	const struct option *o;
	int r;

	if (ini->failed)
		return 0; /* libinih goes on; the first error is the one to report */
	if (strcmp(section, ini->section) != 0) {
		/* not snprintf: gcc 12 with -fsanitize=undefined calls section "null" (-Werror) */
		size_t n = strnlen(section, sizeof(ini->section) - 1);

		memcpy(ini->section, section, n);
		ini->section[n] = '\0';
		ini->prof = NULL;
		if (strncmp(section, "profile ", 8) == 0) {
			if (!ini->profiles) {
				cfg->policy.n = 0;
				ini->profiles = true;
			}
			if (policy_add(&cfg->policy, section + 8, 0, &ini->prof, e.msg,
				       sizeof(e.msg)) < 0)
				goto fail;
		} else if (section[0] != '\0' && strcmp(section, "daemon") != 0) {
			cfg_fail(&e, "unknown section [%s] (daemon, profile NAME)", section);
			goto fail;
		}
	}
	if (ini->prof != NULL) {
		if (policy_set(ini->prof, key, value, e.msg, sizeof(e.msg)) < 0)
			goto fail;
		return 1;
	}
	for (o = cfg_options; o->name != NULL; o++)
		if (strcmp(o->name, key) == 0)
			break;
	if (o->name == NULL || o->val == 'c' || o->val == 'h' || o->val == 'V' ||
	    o->val == OPT_CHECK) {
		cfg_fail(&e, "unknown setting '%s'", key);
		goto fail;
	}
	if ((r = cfg_apply(cfg, o->val, o->name, value, &e)) < 0)
		goto fail;
	return 1;
fail:
	ini->err = e;
	ini->failed = true;
	return 0;
}

static int
cfg_read_file(struct config *cfg, const char *path)
{
	struct cfg_ini ini = {.cfg = cfg};
	int line;

	if (strlen(path) >= sizeof(cfg->config_path)) {
		fprintf(stderr, "tpmbrokerd: --config: path too long\n");
		return -EINVAL;
	}
	strcpy(cfg->config_path, path);
	line = ini_parse(path, cfg_ini_line, &ini);
	if (line < 0) {
		fprintf(stderr, "tpmbrokerd: %s: %s\n", path,
			line == -1 ? strerror(errno) : "out of memory");
		return -EINVAL;
	}
	if (line > 0) {
		fprintf(stderr, "tpmbrokerd: %s:%d: %s\n", path, line,
			ini.failed ? ini.err.msg : "not a \"key = value\" line or a [section]");
		return -EINVAL;
	}
	return 0;
}

static void
cfg_defaults(struct config *cfg)
{
	char path[108];

	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->backend, "libtpms");
	cfg->n_listen = 1;
	cfg->listen[0].kind = LISTEN_UNIX;
	if (tb_socket_path(NULL, path, sizeof(path)) == 0)
		strcpy(cfg->listen[0].path, path);
	cfg->socket_mode = 0666;
	cfg->max_connections = 1024;
	cfg->backend_timeout_ms = 300000;
	cfg->write_timeout_ms = 10000;
	cfg->read_timeout_ms = 10000;
	cfg->max_objects_per_conn = 32;
	cfg->max_sessions_per_conn = 16;
	cfg->max_abandoned_per_uid = 8;
	cfg->max_abandoned = 32;
	cfg->max_objects_per_uid = 256;
	cfg->max_sessions_per_uid = CFG_AUTO; /* 3/4 of the TPM's active sessions */
	cfg->session_wait_ms = 10000;
	cfg->retry_time_ms = 2000;
	cfg->quote_window_ms = 5;
	cfg->quote_batch = 64;
	cfg->sweep = CFG_SWEEP_OWN;
	cfg->reserve_slots[0] = cfg->reserve_slots[1] = CFG_AUTO;
	strcpy(cfg->swtpm, "swtpm");
	cfg->instance_idle_s = 300;
	cfg->max_instances = 32;
	cfg->max_instances_per_uid = 2;
	cfg->log_level = LOG_LVL_INFO;
	cfg->measure_pcrs = (1u << 16) | (1u << 23); /* MEASURE_DEFAULT_PCRS */
	policy_defaults(&cfg->policy);
}

/* A profile names a private instance: there must be somewhere to keep them. */
static int
cfg_instance_dir(struct config *cfg)
{
	const char *who = NULL;

	for (size_t i = 0; i < cfg->policy.n && who == NULL; i++)
		if (strcmp(cfg->policy.p[i].instance, "shared") != 0)
			who = cfg->policy.p[i].name;
	if (who == NULL || cfg->instance_dir[0] != '\0')
		return 0;
	if (geteuid() == 0) {
		strcpy(cfg->instance_dir, "/var/lib/tpmbroker/instances");
		return 0;
	}
	fprintf(stderr, "tpmbrokerd: profile %s names a private instance: --instance-dir is "
		"needed\n", who);
	return -EINVAL;
}

int
cfg_parse(int argc, char **argv, struct config *cfg)
{
	const char *optstr = "b:s:l:c:vqhV";
	struct cfg_err e = {{0}};
	int opt, r;

	cfg_defaults(cfg);
	/* first pass: the config file, so that the command line overrides it */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, optstr, cfg_options, NULL)) != -1)
		if (opt == 'c' && (r = cfg_read_file(cfg, optarg)) < 0)
			return r;
	opterr = 1;
	optind = 0;
	while ((opt = getopt_long(argc, argv, optstr, cfg_options, NULL)) != -1) {
		const char *name = "";
		for (const struct option *o = cfg_options; o->name != NULL; o++)
			if (o->val == opt)
				name = o->name;
		switch (opt) {
		case 'h':
			cfg_usage(stdout);
			return 1;
		case 'V':
			printf("tpmbrokerd " TB_VERSION "\n");
			return 1;
		case 'c':
			break;
		case OPT_CHECK:
			cfg->check_only = true;
			break;
		case '?':
			fprintf(stderr, "Try 'tpmbrokerd --help' for more information.\n");
			return -EINVAL;
		default:
			if ((r = cfg_apply(cfg, opt, name, optarg, &e)) < 0) {
				fprintf(stderr, "tpmbrokerd: --%s\n", e.msg);
				return r;
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tpmbrokerd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	/* the log's PCRs are closed to raw extends but for measure-admin profiles */
	if (strcmp(cfg->measure_log, "none") != 0)
		policy_exclude_pcrs(&cfg->policy, cfg->measure_pcrs);
	return cfg_instance_dir(cfg);
}
