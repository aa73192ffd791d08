/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config.h: every tunable and every hard limit of the daemon, in one place.
 * Sources, later ones win: built-in defaults, the config file
 * (--config FILE: INI; [daemon] "key = value" lines with the long option
 * names, also before any section; [profile NAME] sections, policy.h), the
 * command line.  A file that defines profiles replaces the built-in ones.
 */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "../common/log.h"
#include "policy.h"

#define CFG_MAX_LISTEN 8

enum listen_kind {
	LISTEN_UNIX,  /* our framed protocol, through the TCTI plugin */
	LISTEN_MSSIM, /* the MS/IBM simulator protocol: port (TPM) and port+1 (platform) */
};

struct cfg_listen {
	enum listen_kind kind;
	char path[108]; /* LISTEN_UNIX */
	char host[64];  /* LISTEN_MSSIM: a numeric address */
	unsigned port;  /* LISTEN_MSSIM: the TPM command port */
};

/* a limit the daemon works out from the TPM's properties */
#define CFG_AUTO UINT_MAX

struct config {
	char backend[512];
	struct cfg_listen listen[CFG_MAX_LISTEN];
	size_t n_listen;
	bool no_unix;           /* --socket none: no default unix socket */
	mode_t socket_mode;     /* of unix sockets; default 0666 (access is per-command policy) */
	unsigned max_connections;
	unsigned backend_timeout_ms;   /* one TPM command; then cancel, then fail */
	unsigned write_timeout_ms;     /* a client that does not read its response is dropped */
	unsigned read_timeout_ms;      /* a client that stops halfway through a frame is dropped */
	unsigned max_objects_per_conn;
	unsigned max_sessions_per_conn;
	unsigned max_abandoned_per_uid;
	unsigned max_abandoned;
	unsigned max_objects_per_uid;  /* 0: no limit; root is exempt */
	unsigned max_sessions_per_uid; /* 0: no limit; CFG_AUTO: 3/4 of the TPM's; root is exempt */
	unsigned session_wait_ms;      /* a new session waits this long for a slot */
	unsigned retry_time_ms;        /* TPM warnings retried with backoff this long */
	unsigned quote_window_ms;      /* batched quotes: how long a batch collects requests */
	unsigned quote_batch;          /* ... and how many at most (1: no batching) */
	/* at start, flush the transient objects and sessions of: */
	enum { CFG_SWEEP_NONE, CFG_SWEEP_ALL, CFG_SWEEP_OWN } sweep; /* default own */
	unsigned reserve_slots[2];     /* objects, sessions left to others; CFG_AUTO: by backend */
	char state_file[256];          /* record of held handles; "": the default; "none" */
	char user[64];          /* run as this user after set-up; "": tss if started as root */
	/* private instances (supervise.h) */
	char instance_dir[200]; /* "": none, unless a profile names one (then the default) */
	char instance_key[256]; /* AES-256 key of their state at rest; "": plain */
	char swtpm[256];        /* the workers' program */
	unsigned instance_idle_s;      /* stop a worker idle this long; 0: never */
	unsigned max_instances;        /* per host */
	unsigned max_instances_per_uid;
	/* log-first measurement (measure.h) */
	char measure_log[256];  /* "": the default (mlog_default_path); "none": off */
	uint32_t measure_pcrs;  /* the PCRs the log owns; default MEASURE_DEFAULT_PCRS */
	struct {
		unsigned index;
		char path[256];
	} measure_rtmr[4];      /* TDX RTMR (stand-in) files */
	size_t n_measure_rtmr;
	enum log_level log_level;
	struct policy policy;   /* the profiles, in match order */
	char config_path[256];  /* --config, "" if none: what SIGHUP reads again */
	bool check_only;        /* --check-config */
};

/*
 * Fill cfg from defaults, config file and argv.  Returns 0, 1 when the
 * program should exit 0 (--help, --version printed), -EINVAL on bad
 * usage (message printed).
 */
int cfg_parse(int argc, char **argv, struct config *cfg);
void cfg_usage(FILE *out);

#endif
