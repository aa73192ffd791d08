/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main.c: start like ntpd: parse the configuration, open the TPM, learn its
 * commands and sizes, bind the sockets, drop privileges, then enter the
 * loop.  SIGTERM/SIGINT: stop accepting, release every client's TPM
 * resources through the scheduler, exit.  SIGHUP: read the configuration
 * again; profiles and limits apply to the next command of every client; a
 * file with errors leaves the running configuration as it is.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/mlog_replay.h"
#include "../common/util.h"
#include "backend.h"
#include "config.h"
#include "conn.h"
#include "framer.h"
#include "held.h"
#include "instance.h"
#include "listen.h"
#include "loop.h"
#include "measure.h"
#include "sdglue.h"
#include "server.h"
#include "status.h"
#include "supervise.h"

/* started as root without --user, the daemon runs as this user */
#define TB_DEFAULT_USER "tss"

#define DRAIN_POLL_NS 10000000u   /* 10 ms */
#define DRAIN_MAX_POLLS 500       /* 5 s */

static struct instance_params instance_params(const struct config *cfg, char *state_file,
					      size_t cap);

struct signals {
	struct loop_io io;
	struct server *srv;
	int argc;                /* the command line, read again on SIGHUP */
	char **argv;
	struct loop_timer drain;
	unsigned drain_polls;
	bool stopping;
	struct sdnotify sd;      /* READY=1, STATUS=, STOPPING=1 under systemd */
};

static void
drain_check(struct loop_timer *t)
{
	struct signals *sg = t->data;
	struct server *srv = sg->srv;
	bool idle = true;

	for (size_t i = 0; i < srv->n_inst; i++) {
		struct sched_stats st;
		sched_get_stats(srv->inst[i]->sched, &st);
		idle = idle && !st.busy && st.queued == 0;
	}
	if (idle || ++sg->drain_polls >= DRAIN_MAX_POLLS) {
		loop_quit(sg->srv->loop, 0);
		return;
	}
	loop_timer_arm(sg->srv->loop, t, DRAIN_POLL_NS, drain_check, sg);
}

/* A setting that only a restart changes: warn when the new file changes it. */
static void
restart_only(const char *what, bool changed)
{
	if (changed)
		log_warnx("SIGHUP: %s changed: that needs a restart; kept as it is", what);
}

static void
reload(struct signals *sg)
{
	struct server *srv = sg->srv;
	struct config *n = calloc(1, sizeof(*n));
	const struct config *o = &srv->cfg;

	if (n == NULL) {
		log_warnx("SIGHUP: out of memory; configuration unchanged");
		return;
	}
	optind = 0;
	if (cfg_parse(sg->argc, sg->argv, n) != 0) {
		log_warnx("SIGHUP: %s has errors (above); the running configuration stays",
			  o->config_path[0] != '\0' ? o->config_path : "the command line");
		free(n);
		return;
	}
	restart_only("the backend", strcmp(n->backend, o->backend) != 0);
	restart_only("the frontends (socket, listen)",
		     n->n_listen != o->n_listen || n->no_unix != o->no_unix ||
			     memcmp(n->listen, o->listen, sizeof(n->listen)) != 0);
	restart_only("the user", strcmp(n->user, o->user) != 0);
	restart_only("measure-log, measure-pcrs or measure-rtmr",
		     strcmp(n->measure_log, o->measure_log) != 0 ||
			     n->measure_pcrs != o->measure_pcrs ||
			     n->n_measure_rtmr != o->n_measure_rtmr ||
			     memcmp(n->measure_rtmr, o->measure_rtmr, sizeof(n->measure_rtmr)) != 0);
	restart_only("sweep, reserve-slots or state-file",
		     n->sweep != o->sweep || strcmp(n->state_file, o->state_file) != 0 ||
			     memcmp(n->reserve_slots, o->reserve_slots, sizeof(n->reserve_slots)) != 0);
	srv->cfg.policy = n->policy;
	srv->cfg.max_connections = n->max_connections;
	srv->cfg.write_timeout_ms = n->write_timeout_ms;
	srv->cfg.read_timeout_ms = n->read_timeout_ms;
	/* the daemon-wide RM limits; connections' inherited ones follow in conn_rematch_all() */
	{
		char unused[8];
		struct instance_params ip = instance_params(n, unused, sizeof(unused));

		for (size_t i = 0; i < srv->n_inst; i++) {
			rm_set_defaults(srv->inst[i]->rm, &ip.rm);
			quote_set_params(srv->inst[i]->quote, &ip.quote);
		}
		if (srv->sup != NULL)
			sup_set_params(srv->sup, &ip);
	}
	srv->cfg.log_level = n->log_level;
	log_set_level(n->log_level);
	conn_rematch_all(srv);
	log_info("SIGHUP: configuration read again: %zu profiles, up to %u connections",
		 n->policy.n, n->max_connections);
	free(n);
}

static void
on_signal(struct loop_io *io, uint32_t events)
{
	struct signals *sg = io->data;
	struct server *srv = sg->srv;
	struct signalfd_siginfo si;
	struct conn *c;

	(void)events;
	if (read(io->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		if (!sg->stopping)
			reload(sg);
		return;
	}
	if (sg->stopping) {
		log_warnx("second signal: exiting now");
		loop_quit(srv->loop, 0);
		return;
	}
	sg->stopping = true;
	sd_stopping(srv, &sg->sd);
	log_info("signal %u: stopping; releasing clients' TPM resources", si.ssi_signo);
	for (size_t i = 0; i < srv->n_listeners; i++)
		listener_free(srv, srv->listeners[i]);
	srv->n_listeners = 0;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_kill(c, "daemon stopping");
	loop_timer_arm(srv->loop, &sg->drain, 0, drain_check, sg);
}

/*
 * Who the daemon runs as once the TPM and the sockets are open: --user,
 * else tss when started as root (tpm-udev gives tss the TPM devices).
 * --user=root, or any name of uid 0, keeps root.  Started as root without
 * --user and no tss on the system: refuse to start rather than serve every
 * client from a root process; the message names both ways out.
 * ret->name "": stay as we are.
 */
struct run_as {
	char name[64];
	uid_t uid;
	gid_t gid;
};

static int
run_as(const struct config *cfg, struct run_as *ret)
{
	const char *user = cfg->user[0] != '\0' ? cfg->user : TB_DEFAULT_USER;
	struct passwd *pw;

	memset(ret, 0, sizeof(*ret));
	if (cfg->user[0] == '\0' && geteuid() != 0)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (cfg->user[0] != '\0')
			log_msg(LOG_LVL_ERR, "--user %s: no such user", user);
		else
			log_msg(LOG_LVL_ERR, "started as root, tpmbrokerd runs as user %s, which "
				"does not exist: create it (Debian: apt install tpm-udev, or "
				"adduser --system --group %s), or say --user=USER "
				"(--user=root to stay root)", user, user);
		return errno != 0 ? -errno : -ENOENT;
	}
	if (pw->pw_uid == geteuid())
		return 0;
	/* getpwnam()'s storage does not outlive the next NSS call */
	snprintf(ret->name, sizeof(ret->name), "%s", pw->pw_name);
	ret->uid = pw->pw_uid;
	ret->gid = pw->pw_gid;
	return 0;
}

static int
drop_privileges(struct server *srv, const struct run_as *ra)
{
	struct backend *be = srv->inst[0]->be;
	int r;

	/* what libtpms writes after the drop must be the user's */
	if (be->ops->chown != NULL && (r = be->ops->chown(be, ra->uid, ra->gid)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: handing the state to %s", be->desc, ra->name);
		return r;
	}
	for (size_t i = 0; i < srv->n_listeners; i++)
		if ((r = listener_chown(srv->listeners[i], ra->uid, ra->gid)) < 0)
			log_errno(LOG_LVL_WARN, -r, "%s: chown of its directory to %s",
				  listener_name(srv->listeners[i]), ra->name);
	if (initgroups(ra->name, ra->gid) < 0 || setresgid(ra->gid, ra->gid, ra->gid) < 0 ||
	    setresuid(ra->uid, ra->uid, ra->uid) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	log_info("running as %s (uid %u, gid %u)", ra->name, (unsigned)ra->uid,
		 (unsigned)ra->gid);
	if (srv->cfg.config_path[0] != '\0' && access(srv->cfg.config_path, R_OK) < 0)
		log_errno(LOG_LVL_WARN, errno, "%s: SIGHUP cannot read it again as %s",
			  srv->cfg.config_path, ra->name);
	return 0;
}

/* The sockets systemd passed, else those of --socket and --listen. */
static int
open_frontends(struct server *srv)
{
	const struct config *cfg = &srv->cfg;
	int r;

	if ((r = sd_adopt_frontends(srv)) != 0) {
		srv->activated = r > 0;
		return r < 0 ? r : 0;
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct cfg_listen *cl = &cfg->listen[i];
		struct listener **slot = &srv->listeners[srv->n_listeners];

		if (i == 0 && cfg->no_unix)
			continue;
		if (cl->kind == LISTEN_UNIX) {
			if ((r = listen_unix(srv, cl->path, cfg->socket_mode, slot)) < 0) {
				log_errno(LOG_LVL_ERR, -r, "listening on %s", cl->path);
				return r;
			}
			srv->n_listeners++;
			continue;
		}
		if ((r = listen_tcp(srv, cl->host, cl->port, &framer_mssim_tpm, slot)) < 0) {
			log_errno(LOG_LVL_ERR, -r, "listening on %s:%u", cl->host, cl->port);
			return r;
		}
		srv->n_listeners++;
		slot = &srv->listeners[srv->n_listeners];
		if ((r = listen_tcp(srv, cl->host, cl->port + 1, &framer_mssim_platform, slot)) < 0) {
			log_errno(LOG_LVL_ERR, -r, "listening on %s:%u (mssim platform port)",
				  cl->host, cl->port + 1);
			return r;
		}
		srv->n_listeners++;
	}
	if (srv->n_listeners == 0) {
		log_msg(LOG_LVL_ERR, "no frontend: --socket none and no --listen");
		return -EINVAL;
	}
	return 0;
}

static void
print_ready(const struct server *srv)
{
	const struct config *cfg = &srv->cfg;

	printf("tpmbrokerd: ready on %s.", srv->inst[0]->be->desc);
	if (srv->activated) {
		printf(" Sockets from systemd:");
		for (size_t i = 0; i < srv->n_listeners; i++)
			printf(" %s", listener_name(srv->listeners[i]));
		printf("\n");
		(void)fflush(stdout);
		return;
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct cfg_listen *cl = &cfg->listen[i];
		if (i == 0 && cfg->no_unix)
			continue;
		if (cl->kind == LISTEN_UNIX)
			printf(" Connect: tpm2_getrandom -T tpmbroker:path=%s 16", cl->path);
		else
			printf(" | tpm2_getrandom -T mssim:host=%s,port=%u 16", cl->host, cl->port);
	}
	printf("\n");
	(void)fflush(stdout);
}

static int
setup_signals(struct server *srv, struct signals *sg)
{
	sigset_t mask;
	int fd, r;

	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	sg->srv = srv;
	if ((r = loop_io_add(srv->loop, &sg->io, fd, EPOLLIN, on_signal, sg)) < 0) {
		(void)close(fd);
		return r;
	}
	return 0;
}

/*
 * One fd per client: raise the soft limit on open files to what
 * --max-connections needs (plus the listeners, the backend and some slack),
 * within the hard limit.  Past it accept() gets EMFILE and pauses.
 */
static void
raise_nofile(unsigned max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : MIN(want, rl.rlim_max);
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_errno(LOG_LVL_WARN, errno, "setrlimit(RLIMIT_NOFILE, %llu)",
			  (unsigned long long)rl.rlim_cur);
		return;
	}
	if (rl.rlim_cur < want)
		log_warnx("open files limited to %llu: fewer than %u clients can connect "
			  "(raise the hard limit, e.g. LimitNOFILE= in the unit)",
			  (unsigned long long)rl.rlim_cur, max_connections);
}

/* --check-config: the file parsed; say what it amounts to. */
static int
check_config(const struct config *cfg)
{
	printf("%s: ok\n", cfg->config_path[0] != '\0' ? cfg->config_path : "(no --config)");
	printf("backend %s, %zu frontends, up to %u connections\n", cfg->backend,
	       cfg->n_listen - (cfg->no_unix ? 1 : 0), cfg->max_connections);
	for (size_t i = 0; i < cfg->policy.n; i++) {
		const struct profile *p = &cfg->policy.p[i];
		printf("profile %s%s: matches %s%zu users, %zu groups, %zu cgroups, %zu listeners; "
		       "localities 0x%02x\n",
		       p->name, p->line == 0 && cfg->config_path[0] == '\0' ? " (built in)" : "",
		       p->match_any ? "everyone; " : "", p->n_uid, p->n_gid, p->n_cgroup,
		       p->n_listen, p->localities);
		printf("  share: weight %u, priority %s\n", p->weight,
		       policy_priority_name(p->priority));
	}
	return 0;
}

/*
 * Log-first measurement on the shared instance, unless --measure-log=none:
 * recovery runs here, before any client is served.  A log that cannot be
 * opened leaves the service refusing (logged); only a bad configuration
 * stops the start.
 */
static int
open_measure(struct server *srv, const struct run_as *ra)
{
	const struct config *cfg = &srv->cfg;
	struct measure_params mp = {.pcrs = cfg->measure_pcrs,
				    .owner = ra->name[0] != '\0' ? ra->uid : (uid_t)-1,
				    .group = ra->name[0] != '\0' ? ra->gid : (gid_t)-1};
	char path[300];
	int r;

	if (strcmp(cfg->measure_log, "none") == 0)
		return 0;
	if (cfg->measure_log[0] != '\0')
		snprintf(path, sizeof(path), "%s", cfg->measure_log);
	else if ((r = mlog_default_path(cfg->no_unix ? NULL : cfg->listen[0].path, path,
					sizeof(path))) < 0) {
		log_errno(LOG_LVL_ERR, -r, "measure: no default log (say --measure-log)");
		return 0;
	}
	mp.log_path = path;
	for (size_t i = 0; i < cfg->n_measure_rtmr; i++) {
		mp.rtmr_index[i] = cfg->measure_rtmr[i].index;
		mp.rtmr_path[i] = cfg->measure_rtmr[i].path;
	}
	mp.n_rtmr = cfg->n_measure_rtmr;
	return measure_open(srv->loop, srv->inst[0], &mp, &srv->inst[0]->measure);
}

static struct instance_params
instance_params(const struct config *cfg, char *state_file, size_t cap)
{
	static const enum inst_sweep sweep[] = {
		[CFG_SWEEP_NONE] = INST_SWEEP_NONE,
		[CFG_SWEEP_ALL] = INST_SWEEP_ALL,
		[CFG_SWEEP_OWN] = INST_SWEEP_OWN,
	};

	/* the record of held handles: --state-file, else beside the default socket */
	if (strcmp(cfg->state_file, "none") == 0)
		state_file[0] = '\0';
	else if (cfg->state_file[0] != '\0')
		snprintf(state_file, cap, "%s", cfg->state_file);
	else if (held_default_path(cfg->no_unix ? NULL : cfg->listen[0].path, "shared", state_file,
				   cap) < 0)
		state_file[0] = '\0';
	return (struct instance_params){
		.rm = {
			.max_objects_per_conn = cfg->max_objects_per_conn,
			.max_sessions_per_conn = cfg->max_sessions_per_conn,
			.max_abandoned_per_uid = cfg->max_abandoned_per_uid,
			.max_abandoned = cfg->max_abandoned,
			.max_objects_per_uid = cfg->max_objects_per_uid,
			.max_sessions_per_uid = cfg->max_sessions_per_uid,
			.session_wait_ms = cfg->session_wait_ms,
			.reserved_sessions = rm_policy_reserved(&cfg->policy),
			.retry_time_ms = cfg->retry_time_ms,
			.reserve = {cfg->reserve_slots[0], cfg->reserve_slots[1]},
		},
		.sched = {.backend_timeout_ms = cfg->backend_timeout_ms},
		.quote = {.window_ms = cfg->quote_window_ms, .max_batch = cfg->quote_batch},
		.sweep = sweep[cfg->sweep],
		.state_file = state_file,
	};
}

/* Private instances: read the key and make the directory while still root. */
static int
start_supervisor(struct server *srv, const struct run_as *ra, struct instance_params ip)
{
	const struct config *cfg = &srv->cfg;
	struct sup_params sp = {
		.idle_s = cfg->instance_idle_s,
		.max_per_uid = cfg->max_instances_per_uid,
		.max_total = cfg->max_instances,
		.ip = ip,
	};

	snprintf(sp.dir, sizeof(sp.dir), "%s", cfg->instance_dir);
	snprintf(sp.swtpm, sizeof(sp.swtpm), "%s", cfg->swtpm);
	snprintf(sp.key_file, sizeof(sp.key_file), "%s", cfg->instance_key);
	return sup_new(srv, &sp, ra->name[0] != '\0' ? ra->uid : (uid_t)-1,
		       ra->name[0] != '\0' ? ra->gid : (gid_t)-1, &srv->sup);
}

int
main(int argc, char **argv)
{
	static struct server srv;
	struct signals sg = {0};
	struct instance_params ip;
	static char state_file[300];
	struct run_as ra;
	int r;

	r = cfg_parse(argc, argv, &srv.cfg);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (srv.cfg.check_only)
		return check_config(&srv.cfg);
	sg.argc = argc;
	sg.argv = argv;
	log_init("tpmbrokerd", srv.cfg.log_level);
	raise_nofile(srv.cfg.max_connections);
	TAILQ_INIT(&srv.conns);
	srv.started_ns = now_ns();
	srv.render_status = status_render;

	if ((r = loop_new(&srv.loop)) < 0)
		fatal(-r, "event loop");
	if ((r = setup_signals(&srv, &sg)) < 0)
		fatal(-r, "signals");
	/* before anything is opened: a missing user stops us with nothing to undo */
	if (run_as(&srv.cfg, &ra) < 0)
		return 1;
	ip = instance_params(&srv.cfg, state_file, sizeof(state_file));
	if ((r = instance_open(srv.loop, "shared", srv.cfg.backend, &ip, &srv.inst[0])) < 0)
		fatal(-r, "TPM instance 'shared' on backend '%s'", srv.cfg.backend);
	srv.n_inst = 1;
	if (srv.cfg.instance_dir[0] != '\0' &&
	    (r = start_supervisor(&srv, &ra, ip)) < 0)
		fatal(-r, "private instances in %s", srv.cfg.instance_dir);
	if ((r = open_measure(&srv, &ra)) < 0)
		fatal(-r, "log-first measurement");
	if ((r = open_frontends(&srv)) < 0)
		return 1;
	if (ra.name[0] != '\0' && (r = drop_privileges(&srv, &ra)) < 0)
		fatal(-r, "dropping privileges to %s", ra.name);
	srv.uid = geteuid();
	if (srv.sup != NULL && (r = sup_load(srv.sup)) < 0)
		fatal(-r, "private instances in %s", srv.cfg.instance_dir);
	print_ready(&srv);
	sd_ready(&srv, &sg.sd);

	r = loop_run(srv.loop);

	for (size_t i = 0; i < srv.n_listeners; i++)
		listener_free(&srv, srv.listeners[i]);
	conn_linger_flush(&srv);
	for (size_t i = 0; i < srv.n_inst; i++)
		instance_free(srv.inst[i]);
	sup_free(srv.sup);
	loop_io_del(srv.loop, &sg.io);
	(void)close(sg.io.fd);
	loop_free(srv.loop);
	log_info("stopped");
	return r < 0 ? 1 : 0;
}
