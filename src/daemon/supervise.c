/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * supervise.c: the swtpm worker processes of private instances
 * (supervise.h; the state table is in sup_int.h).  Nothing here waits on a
 * worker inside the loop: a start is a fork and exec, then a 2 ms timer
 * looks for the worker's sockets; an exit is seen on the worker's pidfd.
 * Only sup_load() (start-up) and sup_free() (exit) wait, bounded.
 *
 * The worker runs as the daemon's user, in its own process group, and dies
 * with the daemon (PR_SET_PDEATHSIG).  Its sockets live in the instance's
 * directory (0700), so no other local user reaches the TPM but through the
 * broker; the key of the state at rest goes to swtpm through a pipe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "backend.h"
#include "peer.h"
#include "rm.h"
#include "sched.h"
#include "service.h"
#include "sup_int.h"

#define SUP_POLL_NS 2000000u          /* 2 ms: looking for a starting worker's sockets */
#define SUP_START_NS 5000000000ull    /* a worker not up in 5 s failed to start */
#define SUP_TICK_NS 1000000000u       /* idle checks */
#define SUP_STOP_WAIT_MS 2000         /* at exit: SIGTERM, then SIGKILL after this */

static void sup_start_poll(struct loop_timer *t);

const char *
sup_state_name(const struct sup_inst *si)
{
	static const char *const names[] = {"stopped", "starting", "running", "stopping", "vm"};

	return names[si->state];
}

void
sup_path(const struct sup_inst *si, const char *file, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", si->dir, file);
}

bool
sup_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= INSTANCE_NAME_MAX || name[0] == '.' || strcmp(name, "shared") == 0 ||
	    strcmp(name, "private") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
		      name[i] == '.'))
			return false;
	return true;
}

struct sup_inst *
sup_find(struct sup *sup, const char *name)
{
	for (size_t i = 0; i < sup->n; i++)
		if (strcmp(sup->inst[i]->name, name) == 0)
			return sup->inst[i];
	return NULL;
}

unsigned
sup_count_uid(const struct sup *sup, uid_t uid)
{
	unsigned n = 0;

	for (size_t i = 0; i < sup->n; i++)
		n += sup->inst[i]->owner == uid;
	return n;
}

/* Jobs queued, parked or running on it, or a connection bound to it. */
bool
sup_inst_busy(const struct sup_inst *si)
{
	struct sched_stats st;

	if (si->ti == NULL)
		return false;
	sched_get_stats(si->ti->sched, &st);
	return si->ti->n_conns > 0 || st.busy || st.queued > 0 || st.parked > 0;
}

/* ---- spawning and reaping ---- */

/* Find prog on $PATH (start-up, before the loop): 0 and the path, or -ENOENT. */
static int
sup_which(const char *prog, char *buf, size_t cap)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/') != NULL) {
		snprintf(buf, cap, "%s", prog);
		return access(buf, X_OK) == 0 ? 0 : -errno;
	}
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path != '\0') {
		const char *end = strchrnul(path, ':');
		int n = snprintf(buf, cap, "%.*s/%s", (int)(end - path), path, prog);
		if (n > 0 && (size_t)n < cap && end > path && access(buf, X_OK) == 0)
			return 0;
		path = *end == ':' ? end + 1 : end;
	}
	return -ENOENT;
}

/*
 * QEMU's control socket, bound and listening before swtpm starts: swtpm
 * takes it as fd= and accepts on it, so QEMU may connect as soon as attach
 * has answered (a socket swtpm binds itself is there before it listens: a
 * connect in between is refused, and a test connect would end a
 * --terminate swtpm).  0600 in the instance's 0700 directory: root and the
 * daemon's user.
 */
static int
sup_vm_socket(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	_cleanup_(closep) int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 1) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/*
 * fork and exec swtpm for the state in dir: broker mode (data and control
 * sockets) or VM mode (the control socket QEMU connects to, made here;
 * swtpm ends when QEMU does).  Its output goes to dir/swtpm.log: with
 * ret_out, through a pipe whose read end is returned there, for the loop
 * to filter (swlog.h) into *ret_log, the log opened; else straight.
 */
static int
sup_spawn(struct sup *sup, const char *dir, bool vm_mode, pid_t *ret_pid, int *ret_out,
	  int *ret_log)
{
	char state[512], server[560], ctrl[560], key[64], logp[512], sock[512];
	const char *argv[16];
	int keyp[2] = {-1, -1}, outp[2] = {-1, -1}, logfd, nul, n = 0;
	_cleanup_(closep) int vmfd = -1;
	pid_t parent = getpid(), pid;
	int r;

	snprintf(state, sizeof(state), "dir=%s", dir);
	snprintf(sock, sizeof(sock), "%s/data.sock", dir);
	(void)unlink(sock);
	snprintf(server, sizeof(server), "type=unixio,path=%s", sock);
	snprintf(sock, sizeof(sock), "%s/%s", dir, vm_mode ? "vm.sock" : "ctrl.sock");
	(void)unlink(sock);
	if (vm_mode) {
		if ((vmfd = sup_vm_socket(sock)) < 0)
			return vmfd;
		snprintf(ctrl, sizeof(ctrl), "type=unixio,fd=4");
	} else {
		snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s,mode=0600", sock);
	}
	argv[n++] = sup->swtpm_path;
	argv[n++] = "socket";
	argv[n++] = "--tpm2";
	argv[n++] = "--tpmstate";
	argv[n++] = state;
	argv[n++] = "--ctrl";
	argv[n++] = ctrl;
	if (vm_mode) {
		argv[n++] = "--terminate";
	} else {
		argv[n++] = "--server";
		argv[n++] = server;
		argv[n++] = "--flags";
		argv[n++] = "not-need-init,startup-clear";
	}
	if (sup->key_len > 0) {
		snprintf(key, sizeof(key), "fd=3,mode=aes-256-cbc,format=%s",
			 sup->key_hex ? "hex" : "binary");
		argv[n++] = "--key";
		argv[n++] = key;
		if (pipe2(keyp, O_CLOEXEC) < 0)
			return -errno;
		/* a pipe holds 64 KiB: the key (<= 128 bytes) goes in without waiting */
		if (write_all(keyp[1], sup->key, sup->key_len) < 0) {
			(void)close(keyp[0]);
			(void)close(keyp[1]);
			return -EIO;
		}
		(void)close(keyp[1]);
	}
	argv[n] = NULL;
	snprintf(logp, sizeof(logp), "%s/swtpm.log", dir);
	logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (ret_out != NULL && pipe2(outp, O_CLOEXEC) < 0) {
		r = -errno;
		if (keyp[0] >= 0)
			(void)close(keyp[0]);
		if (logfd >= 0)
			(void)close(logfd);
		return r;
	}
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		/* the child: async-signal-safe calls only, then exec */
		sigset_t none;
		int k = -1, v = -1;

		(void)setpgid(0, 0); /* a ^C at the daemon's terminal is the daemon's to handle */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		if (nul >= 0)
			(void)dup2(nul, 0);
		if (outp[1] >= 0) {
			(void)dup2(outp[1], 1);
			(void)dup2(outp[1], 2);
		} else if (logfd >= 0) {
			(void)dup2(logfd, 1);
			(void)dup2(logfd, 2);
		}
		/* above 4 first, so that neither lands on the other's number */
		if (keyp[0] >= 0)
			k = fcntl(keyp[0], F_DUPFD_CLOEXEC, 10);
		if (vmfd >= 0)
			v = fcntl(vmfd, F_DUPFD_CLOEXEC, 10);
		if ((keyp[0] >= 0 && (k < 0 || dup2(k, 3) < 0)) ||
		    (vmfd >= 0 && (v < 0 || dup2(v, 4) < 0)))
			_exit(125);
		execv(sup->swtpm_path, (char *const *)argv);
		_exit(127);
	}
	r = pid < 0 ? -errno : 0;
	if (keyp[0] >= 0)
		(void)close(keyp[0]);
	if (nul >= 0)
		(void)close(nul);
	if (outp[1] >= 0)
		(void)close(outp[1]);
	if (r < 0 || ret_out == NULL) {
		if (logfd >= 0)
			(void)close(logfd);
		if (outp[0] >= 0)
			(void)close(outp[0]);
		if (r < 0)
			return r;
	} else {
		(void)fcntl_nonblock(outp[0]);
		*ret_out = outp[0];
		*ret_log = logfd;
	}
	*ret_pid = pid;
	return 0;
}

/* A Unix socket at path accepts connections (connect does not wait on Unix sockets). */
static bool
sup_listening(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	_cleanup_(closep) int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return false;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
}

/*
 * Up: the sockets listen (bound is not enough: a connect between bind and
 * listen is refused).  QEMU's listens from the start (sup_vm_socket).
 */
static bool
sup_sockets_up(const struct sup_inst *si)
{
	char p[512];

	if (si->vm_mode)
		return true;
	sup_path(si, "ctrl.sock", p, sizeof(p));
	if (!sup_listening(p))
		return false;
	sup_path(si, "data.sock", p, sizeof(p));
	return sup_listening(p);
}

static void
sup_attach_answer(struct sup_inst *si, uint32_t rc)
{
	struct svc_req *r = si->attach_req;
	char text[1400], p[512];

	if (r == NULL)
		return;
	si->attach_req = NULL;
	sup_path(si, "vm.sock", p, sizeof(p));
	snprintf(text, sizeof(text),
		 "%s\n"
		 "# instance %s is attached to a VM (swtpm pid %d); host clients get 0x%08X "
		 "until it exits or is detached\n"
		 "qemu-system-x86_64 ... -chardev socket,id=chrtpm,path=%s "
		 "-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-crb,tpmdev=tpm0\n",
		 p, si->name, (int)si->pid, SUP_RC_VM, p);
	svc_reply(r, rc, rc == 0 ? text : NULL, rc == 0 ? strlen(text) : 0);
}

/*
 * The last line swtpm wrote to its log (why it did not start: "Verification
 * of HMAC failed" for a state under another key), "" if none.
 */
static void
sup_log_tail(const struct sup_inst *si, char *buf, size_t cap)
{
	char p[512], chunk[512];
	_cleanup_(closep) int fd = -1;
	ssize_t n;
	off_t end;
	char *nl;

	buf[0] = '\0';
	sup_path(si, "swtpm.log", p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0 || (end = lseek(fd, 0, SEEK_END)) <= 0)
		return;
	n = pread(fd, chunk, sizeof(chunk) - 1, end > (off_t)sizeof(chunk) - 1 ?
			end - (off_t)sizeof(chunk) + 1 : 0);
	if (n <= 0)
		return;
	chunk[n] = '\0';
	while (n > 0 && chunk[n - 1] == '\n')
		chunk[--n] = '\0';
	/* swtpm's own reason ("Verification of HMAC failed") before its last words */
	if ((nl = strstr(chunk, "HMAC")) != NULL) {
		while (nl > chunk && nl[-1] != '\n')
			nl--;
		*strchrnul(nl, '\n') = '\0';
	} else if ((nl = strrchr(chunk, '\n')) != NULL) {
		nl++;
	} else {
		nl = chunk;
	}
	n = (ssize_t)MIN(strlen(nl), cap - 1);
	memcpy(buf, nl, (size_t)n);
	buf[n] = '\0';
}

/*
 * An import is answered once its worker has opened the state (the key is
 * right: swtpm decrypts and checks the state's HMAC before it serves) or
 * has failed to.  A failed import leaves no instance behind.
 */
static void
sup_import_answer(struct sup_inst *si, bool ok)
{
	struct svc_req *r = si->import_req;
	char text[700], why[400];

	if (r == NULL)
		return;
	si->import_req = NULL;
	if (ok) {
		snprintf(text, sizeof(text), "instance %s imported (owner %ld)\n", si->name,
			 si->owner == (uid_t)-1 ? -1L : (long)si->owner);
		svc_reply(r, 0, text, strlen(text));
		return;
	}
	sup_log_tail(si, why, sizeof(why));
	snprintf(text, sizeof(text), "instance %s: the state does not open with this daemon's "
		 "--instance-key (another key, or not a TPM state); nothing imported%s%s", si->name,
		 why[0] != '\0' ? "; " : "", why);
	log_warnx("%s", text);
	svc_reply(r, SUP_RC_BADSTATE, text, strlen(text));
	if (sup_delete(si->sup, si) < 0) {
		char p[512];

		/* a tenant came meanwhile: it keeps an empty instance, not one it cannot open */
		sup_path(si, "tpm2-00.permall", p, sizeof(p));
		(void)unlink(p);
	}
}

/* The worker's output, through the filter; at its end the pipe is closed. */
static void
sup_out_end(struct sup_inst *si)
{
	if (si->out.fd < 0)
		return;
	loop_io_del(si->sup->srv->loop, &si->out);
	(void)close(si->out.fd);
	si->out.fd = -1;
	swlog_end(&si->swlog);
}

/* read what is there (all of it once the worker has exited: drain) */
static void
sup_out_read(struct sup_inst *si, bool drain)
{
	char buf[4096];

	for (int i = 0; si->out.fd >= 0 && (drain || i < 16); i++) {
		ssize_t n = read(si->out.fd, buf, sizeof(buf));

		if (n > 0) {
			swlog_feed(&si->swlog, buf, (size_t)n);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n == 0 || errno != EAGAIN || drain)
				sup_out_end(si);
			return;
		}
	}
}

static void
sup_on_out(struct loop_io *io, uint32_t events)
{
	(void)events;
	sup_out_read(io->data, false);
}

/* The worker exited: reap it and move the table on. */
static void
sup_on_exit(struct loop_io *io, uint32_t events)
{
	struct sup_inst *si = io->data;
	struct sup *sup = si->sup;
	int status = 0;
	enum sup_state was = si->state;

	(void)events;
	if (waitpid(si->pid, &status, WNOHANG) == 0)
		return; /* not yet (never: the pidfd is readable once it has exited) */
	loop_io_del(sup->srv->loop, &si->pidfd);
	(void)close(si->pidfd.fd);
	si->pidfd.fd = -1;
	sup_out_read(si, true);
	loop_timer_disarm(sup->srv->loop, &si->start_timer);
	if (si->be != NULL)
		supbe_unlink(si->be);
	si->state = SUP_STOPPED;
	if (was == SUP_RUNNING) {
		si->crashed = true;
		si->crashes++;
		log_warnx("instance %s: worker %d died (%s %d); the tenant's next command gets "
			  "0x%08X, then it starts again from its state on disk", si->name,
			  (int)si->pid, WIFSIGNALED(status) ? "signal" : "status",
			  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			  SUP_RC_RESTARTED);
	} else if (was == SUP_STARTING) {
		si->start_failed = true;
		log_warnx("instance %s: worker %d exited at start (status 0x%x); see %s/swtpm.log",
			  si->name, (int)si->pid, status, si->dir);
		sup_attach_answer(si, SUP_RC_FAILED);
	} else if (was == SUP_VM || si->vm_mode) {
		log_info("instance %s: the VM's worker %d ended; host clients may use it again",
			 si->name, (int)si->pid);
	} else {
		log_verbose("instance %s: worker %d stopped", si->name, (int)si->pid);
	}
	if (si->vm_mode) {
		char p[512];

		sup_path(si, "vm.sock", p, sizeof(p));
		(void)unlink(p); /* no QEMU may connect to an instance it no longer holds */
	}
	si->pid = 0;
	si->vm_mode = false;
	if (si->attach_req != NULL && sup_worker_start(si, true) < 0)
		sup_attach_answer(si, SUP_RC_FAILED);
	if (si->be != NULL)
		supbe_worker_event(si->be);
	if (was == SUP_STARTING)
		sup_import_answer(si, false); /* last: it may delete si */
}

int
sup_worker_start(struct sup_inst *si, bool vm_mode)
{
	struct sup *sup = si->sup;
	pid_t pid;
	int fd, out = -1, logfd = -1, r;

	if (si->state != SUP_STOPPED)
		return si->vm_mode == vm_mode ? 0 : -EBUSY;
	sup_out_end(si); /* a last worker's, if its end was never read */
	if ((r = sup_spawn(sup, si->dir, vm_mode, &pid, &out, &logfd)) < 0) {
		log_errno(LOG_LVL_WARN, -r, "instance %s: starting %s", si->name, sup->swtpm_path);
		return r;
	}
	swlog_init(&si->swlog, logfd);
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 || loop_io_add(sup->srv->loop, &si->pidfd, fd, EPOLLIN, sup_on_exit, si) < 0 ||
	    loop_io_add(sup->srv->loop, &si->out, out, EPOLLIN, sup_on_out, si) < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		loop_io_del(sup->srv->loop, &si->pidfd);
		if (fd >= 0)
			(void)close(fd);
		si->pidfd.fd = -1;
		loop_io_del(sup->srv->loop, &si->out);
		(void)close(out);
		si->out.fd = -1;
		swlog_end(&si->swlog);
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return r;
	}
	si->pid = pid;
	si->vm_mode = vm_mode;
	si->state = SUP_STARTING;
	si->start_failed = false;
	si->spawn_ns = now_ns();
	si->gen++;
	si->starts++;
	log_verbose("instance %s: worker %d starting%s", si->name, (int)pid,
		    vm_mode ? " for a VM" : "");
	loop_timer_arm(sup->srv->loop, &si->start_timer, SUP_POLL_NS / 2, sup_start_poll, si);
	return 0;
}

static void
sup_start_poll(struct loop_timer *t)
{
	struct sup_inst *si = t->data;
	struct sup *sup = si->sup;
	uint64_t now = now_ns();

	if (si->state != SUP_STARTING)
		return;
	if (!sup_sockets_up(si)) {
		if (now - si->spawn_ns < SUP_START_NS) {
			loop_timer_arm(sup->srv->loop, t, SUP_POLL_NS, sup_start_poll, si);
			return;
		}
		log_warnx("instance %s: worker %d not up in %llu s; killed", si->name, (int)si->pid,
			  SUP_START_NS / 1000000000ull);
		(void)kill(si->pid, SIGKILL); /* sup_on_exit: start failed */
		return;
	}
	/*
	 * swtpm listens before it loads the state, and serves the control
	 * channel only once it has: the link's control exchange tells a
	 * worker that runs from one that is about to exit (a state it cannot
	 * decrypt, say), which then counts as a failed start, not a crash.
	 */
	if (!si->vm_mode && si->be != NULL && supbe_link(si->be) < 0) {
		log_warnx("instance %s: worker %d did not open its state; see %s/swtpm.log",
			  si->name, (int)si->pid, si->dir);
		(void)kill(si->pid, SIGKILL); /* sup_on_exit: start failed */
		return;
	}
	si->last_start_us = (now - si->spawn_ns) / 1000u;
	si->state = si->vm_mode ? SUP_VM : SUP_RUNNING;
	si->idle_since_ns = 0;
	log_verbose("instance %s: worker %d up in %llu us", si->name, (int)si->pid,
		    (unsigned long long)si->last_start_us);
	if (si->vm_mode)
		sup_attach_answer(si, 0);
	else if (si->be != NULL)
		supbe_worker_event(si->be);
	sup_import_answer(si, true);
}

/*
 * The broker stops the worker of an instance nothing uses (idle, attach):
 * its RM forgets now what the TPM loses with the worker (abandoned
 * sessions, the context counter) and plans TPM2_Startup, and the backend
 * takes the next worker for the TPM the RM knows.  No "reset underneath"
 * warning, then: that is for a worker that died (sup_on_exit).
 */
static void
sup_forget(struct sup_inst *si)
{
	if (si->ti == NULL || si->be == NULL || sup_inst_busy(si))
		return;
	rm_tpm_reset(si->ti->rm);
	supbe_forget(si->be);
}

void
sup_worker_stop(struct sup_inst *si)
{
	if (si->pid == 0 || si->state == SUP_STOPPING)
		return;
	if (si->state == SUP_RUNNING)
		sup_forget(si);
	if (si->be != NULL)
		supbe_unlink(si->be);
	(void)kill(si->pid, SIGTERM);
	si->state = SUP_STOPPING;
}

void
sup_worker_lost(struct sup_inst *si, const char *why)
{
	if (si->state != SUP_RUNNING)
		return;
	log_warnx("instance %s: worker %d: %s; taken for a crash", si->name, (int)si->pid, why);
	si->crashed = true;
	si->crashes++;
	if (si->be != NULL)
		supbe_unlink(si->be);
	(void)kill(si->pid, SIGKILL);
	si->state = SUP_STOPPING;
}

/* The idle stop, after its Shutdown's round: unless a client came meanwhile. */
static void
sup_idle_stop_now(struct loop_timer *t)
{
	struct sup_inst *si = t->data;

	if (si->state == SUP_RUNNING && !sup_inst_busy(si))
		sup_worker_stop(si);
}

static void
sup_shut_done(struct job *j, int r)
{
	struct sup_inst *si = j->data;
	uint32_t rc = r == 0 && j->rsp_len >= 10 ? get_be32(j->rsp + 6) : 0;

	if (r < 0 || (rc != TPM2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE))
		log_warnx("instance %s: TPM2_Shutdown before the idle stop failed (%d, 0x%08x)",
			  si->name, r, rc);
	/* the scheduler is still in this job: stop in a round of our own */
	loop_timer_arm(si->sup->srv->loop, &si->stop_timer, 0, sup_idle_stop_now, si);
}

/* Stop an idle worker the orderly way: TPM2_Shutdown(STATE), then the stop. */
static void
sup_idle_stop(struct sup_inst *si)
{
	size_t n;

	if (si->shut_job.state != JOB_IDLE || si->ti == NULL)
		return;
	n = tpmcmd_shutdown(si->shut_cmd, sizeof(si->shut_cmd), TPM2_SU_STATE);
	job_init(&si->shut_job, JOB_INTERNAL, sup_shut_done, si);
	si->shut_job.cmd = si->shut_cmd;
	si->shut_job.cmd_len = n;
	si->shut_job.rsp = si->shut_rsp;
	si->shut_job.rsp_cap = sizeof(si->shut_rsp);
	sched_submit_first(si->ti->sched, &si->shut_job);
}

/* Once a second: stop the workers idle for --instance-idle. */
static void
sup_tick(struct loop_timer *t)
{
	struct sup *sup = t->data;
	uint64_t now = now_ns();

	for (size_t i = 0; i < sup->n; i++) {
		struct sup_inst *si = sup->inst[i];

		if (si->state != SUP_RUNNING || sup->p.idle_s == 0)
			continue;
		if (sup_inst_busy(si)) {
			si->idle_since_ns = 0;
			continue;
		}
		if (si->idle_since_ns == 0)
			si->idle_since_ns = now;
		else if (now - si->idle_since_ns >= (uint64_t)sup->p.idle_s * 1000000000u) {
			log_verbose("instance %s: idle for %u s; stopping worker %d", si->name,
				    sup->p.idle_s, (int)si->pid);
			si->idle_since_ns = 0;
			sup_idle_stop(si);
		}
	}
	loop_timer_arm(sup->srv->loop, t, SUP_TICK_NS, sup_tick, sup);
}

/* ---- instances: made, found at start-up, deleted ---- */

static int
sup_caps_copy(const struct tpm_caps *from, struct tpm_caps *to)
{
	*to = *from;
	to->cc = malloc(from->n_cc * sizeof(*to->cc) + 1);
	if (to->cc == NULL)
		return -ENOMEM;
	memcpy(to->cc, from->cc, from->n_cc * sizeof(*to->cc));
	return 0;
}

/* Serve an instance whose directory exists: a row in srv->inst[]; no worker yet. */
static int
sup_register(struct sup *sup, const char *name, uid_t owner, struct sup_inst **ret)
{
	struct server *srv = sup->srv;
	struct sup_inst *si;
	struct backend *be;
	struct tpm_caps caps;
	int r;

	if (srv->n_inst >= SRV_MAX_INSTANCES || sup->n >= SRV_MAX_INSTANCES)
		return -ENOSPC;
	if ((si = calloc(1, sizeof(*si))) == NULL)
		return -ENOMEM;
	si->sup = sup;
	snprintf(si->name, sizeof(si->name), "%s", name);
	snprintf(si->dir, sizeof(si->dir), "%s/%s", sup->p.dir, name);
	si->owner = owner;
	si->pidfd.fd = -1;
	si->out.fd = -1;
	if ((r = supbe_new(si, &be)) < 0) {
		free(si);
		return r;
	}
	if ((r = sup_caps_copy(&sup->caps, &caps)) < 0) {
		be_close(be);
		free(si);
		return r;
	}
	/* instance_new owns be and caps.cc from here, also on failure */
	if ((r = instance_new(srv->loop, name, be, &caps, &sup->p.ip, &si->ti)) < 0) {
		free(si);
		return r;
	}
	si->ti->sup = si;
	si->be = be;
	srv->inst[srv->n_inst++] = si->ti;
	sup->inst[sup->n++] = si;
	*ret = si;
	return 0;
}

static int
sup_write_owner(const char *dir, uid_t owner)
{
	char p[600], text[32];
	_cleanup_(closep) int fd = -1;
	int n;

	snprintf(p, sizeof(p), "%s/owner", dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	n = snprintf(text, sizeof(text), "%ld\n", owner == (uid_t)-1 ? -1L : (long)owner);
	return write_all(fd, text, (size_t)n);
}

static uid_t
sup_read_owner(const char *dir)
{
	char p[600];
	long v = -1;
	FILE *f;

	snprintf(p, sizeof(p), "%s/owner", dir);
	if ((f = fopen(p, "re")) == NULL)
		return (uid_t)-1;
	if (fscanf(f, "%ld", &v) != 1 || v < 0)
		v = -1;
	fclose(f);
	return v < 0 ? (uid_t)-1 : (uid_t)v;
}

int
sup_create(struct sup *sup, const char *name, uid_t owner, struct sup_inst **ret)
{
	char dir[256];
	int r;

	if (!sup_name_ok(name))
		return -EINVAL;
	if (sup_find(sup, name) != NULL)
		return -EEXIST;
	if (sup->n >= sup->p.max_total ||
	    (owner != (uid_t)-1 && sup_count_uid(sup, owner) >= sup->p.max_per_uid))
		return -EDQUOT;
	snprintf(dir, sizeof(dir), "%s/%s", sup->p.dir, name);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((r = sup_write_owner(dir, owner)) < 0 || (r = sup_register(sup, name, owner, ret)) < 0)
		return r;
	log_info("instance %s: made (owner %ld)", name,
		 owner == (uid_t)-1 ? -1L : (long)owner);
	return 0;
}

/* Remove dir and the files in it (an instance's directory has no subdirectories). */
static int
sup_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[800];

	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		(void)unlink(p);
	}
	closedir(d);
	return rmdir(dir) < 0 ? -errno : 0;
}

/* Kill the worker and wait for it (delete, exit): bounded, a few ms. */
static void
sup_kill_wait(struct sup_inst *si, int sig, int wait_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)wait_ms * 1000000u;

	if (si->pid == 0)
		return;
	(void)kill(si->pid, sig);
	while (waitpid(si->pid, NULL, WNOHANG) == 0) {
		struct timespec ts = {0, 1000000};
		if (now_ns() > deadline) {
			(void)kill(si->pid, SIGKILL);
			(void)waitpid(si->pid, NULL, 0);
			break;
		}
		nanosleep(&ts, NULL);
	}
	if (si->pidfd.fd >= 0) {
		loop_io_del(si->sup->srv->loop, &si->pidfd);
		(void)close(si->pidfd.fd);
		si->pidfd.fd = -1;
	}
	sup_out_read(si, true);
	si->pid = 0;
	si->state = SUP_STOPPED;
}

static void
sup_inst_free(void *data)
{
	struct sup_inst *si = data;

	sup_out_end(si);
	instance_free(si->ti);
	free(si);
}

int
sup_delete(struct sup *sup, struct sup_inst *si)
{
	struct server *srv = sup->srv;
	size_t i;

	if (sup_inst_busy(si) || si->attach_req != NULL || si->vm_mode)
		return -EBUSY; /* a VM's: detach first */
	if (si->import_req != NULL) /* a failed import's own delete (sup_import_answer) */
		return -EBUSY;
	if (si->be != NULL)
		supbe_unlink(si->be);
	sup_kill_wait(si, SIGKILL, 1000);
	loop_timer_disarm(srv->loop, &si->start_timer);
	loop_timer_disarm(srv->loop, &si->stop_timer);
	for (i = 0; i < srv->n_inst && srv->inst[i] != si->ti; i++)
		;
	if (i < srv->n_inst) {
		memmove(&srv->inst[i], &srv->inst[i + 1], (srv->n_inst - i - 1) * sizeof(srv->inst[0]));
		srv->n_inst--;
	}
	for (i = 0; i < sup->n && sup->inst[i] != si; i++)
		;
	memmove(&sup->inst[i], &sup->inst[i + 1], (sup->n - i - 1) * sizeof(sup->inst[0]));
	sup->n--;
	log_info("instance %s: deleted", si->name);
	(void)sup_rmdir(si->dir);
	/* freed after this dispatch round: a later event of it in this epoll batch finds it */
	if (loop_defer(srv->loop, sup_inst_free, si) < 0)
		sup_inst_free(si);
	return 0;
}

/* ---- routing ---- */

uint32_t
sup_route(struct server *srv, const char *instance, const struct peer_id *peer,
	  struct tpm_instance **ret)
{
	struct sup *sup = srv->sup;
	struct sup_inst *si;
	char name[INSTANCE_NAME_MAX];
	int r;

	if (sup == NULL)
		return SUP_RC_FAILED; /* no --instance-dir: nothing but the shared TPM */
	if (strcmp(instance, "private") != 0) {
		if ((si = sup_find(sup, instance)) == NULL)
			return SUP_RC_FAILED;
		*ret = si->ti;
		return 0;
	}
	if (!peer->uid_known)
		return POLICY_RC_DENIED; /* one instance per uid: a peer without one has none */
	snprintf(name, sizeof(name), "uid-%u", (unsigned)peer->uid);
	if ((si = sup_find(sup, name)) == NULL) {
		if ((r = sup_create(sup, name, peer->uid, &si)) < 0) {
			log_errno(LOG_LVL_WARN, -r, "instance %s: not made", name);
			return r == -EDQUOT ? SUP_RC_LIMIT : SUP_RC_FAILED;
		}
	}
	*ret = si->ti;
	return 0;
}

bool
sup_fits(const struct tpm_instance *ti, const char *instance, uid_t uid)
{
	char name[INSTANCE_NAME_MAX];

	if (strcmp(instance, "private") != 0)
		return strcmp(ti->name, instance) == 0;
	snprintf(name, sizeof(name), "uid-%u", (unsigned)uid);
	return ti->sup != NULL && strcmp(ti->name, name) == 0;
}

void
sup_describe(const struct tpm_instance *ti, char *buf, size_t cap)
{
	const struct sup_inst *si = ti->sup;

	buf[0] = '\0';
	if (si == NULL)
		return;
	snprintf(buf, cap, "worker %s, pid %d, owner %ld, starts %u, crashes %u, last start %llu us",
		 sup_state_name(si), (int)si->pid, si->owner == (uid_t)-1 ? -1L : (long)si->owner,
		 si->starts, si->crashes, (unsigned long long)si->last_start_us);
}

void
sup_set_params(struct sup *sup, const struct instance_params *ip)
{
	sup->p.ip = *ip;
	sup->p.ip.state_file = NULL;
	sup->p.ip.sweep = INST_SWEEP_NONE;
}

/* ---- start-up and exit ---- */

static int
sup_read_key(struct sup *sup)
{
	_cleanup_(closep) int fd = open(sup->p.key_file, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	int r;

	if (fd < 0)
		return -errno;
	/* read_some: up to the buffer; a longer file is not a key */
	r = read_some(fd, sup->key, &n, sizeof(sup->key));
	if (r < 0 && r != -EPIPE)
		return r;
	/*
	 * 32 bytes are a binary key whatever its last byte (a random key ends
	 * in a newline one time in 256); a newline is trimmed only from what
	 * is not: 64 hex digits, or 32 bytes that a newline follows
	 */
	while (n != 32 && n > 0 && (sup->key[n - 1] == '\n' || sup->key[n - 1] == '\r'))
		n--;
	if (n == 32) {
		sup->key_hex = false;
	} else if (n == 64) {
		for (size_t i = 0; i < n; i++)
			if (strchr("0123456789abcdefABCDEF", sup->key[i]) == NULL)
				return -EINVAL;
		sup->key_hex = true;
	} else {
		return -EINVAL;
	}
	sup->key_len = n;
	return 0;
}

int
sup_new(struct server *srv, const struct sup_params *p, uid_t uid, gid_t gid, struct sup **ret)
{
	_cleanup_(freep) struct sup *sup = calloc(1, sizeof(*sup));
	int r;

	if (sup == NULL)
		return -ENOMEM;
	sup->srv = srv;
	sup->p = *p;
	sup_set_params(sup, &p->ip);
	if ((r = sup_which(p->swtpm, sup->swtpm_path, sizeof(sup->swtpm_path))) < 0) {
		log_errno(LOG_LVL_ERR, -r, "private instances: %s", p->swtpm);
		return r;
	}
	if (p->key_file[0] != '\0' && (r = sup_read_key(sup)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "instance-key %s (32 bytes, or 64 hex digits)",
			  p->key_file);
		return r;
	}
	if ((r = mkdir_p(p->dir, 0700)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "instance-dir %s", p->dir);
		return r;
	}
	if (uid != (uid_t)-1 && chown(p->dir, uid, gid) < 0) {
		log_errno(LOG_LVL_ERR, errno, "instance-dir %s: chown", p->dir);
		return -errno;
	}
	*ret = TAKE_PTR(sup);
	return 0;
}

/* One worker, started and stopped at start-up: the TPM's commands and properties. */
static int
sup_probe(struct sup *sup)
{
	struct sup_inst probe = {.sup = sup, .pidfd = {.fd = -1}, .out = {.fd = -1}};
	char spec[1200], data[512], ctrl[512];
	uint64_t deadline;
	struct backend *be;
	int r;

	snprintf(probe.dir, sizeof(probe.dir), "%s/.probe", sup->p.dir);
	(void)sup_rmdir(probe.dir);
	if (mkdir(probe.dir, 0700) < 0)
		return -errno;
	if ((r = sup_spawn(sup, probe.dir, false, &probe.pid, NULL, NULL)) < 0)
		goto out;
	deadline = now_ns() + SUP_START_NS;
	while (!sup_sockets_up(&probe)) {
		struct timespec ts = {0, 1000000};
		if (now_ns() > deadline || waitpid(probe.pid, NULL, WNOHANG) != 0) {
			r = -ETIMEDOUT;
			goto out;
		}
		nanosleep(&ts, NULL);
	}
	sup_path(&probe, "data.sock", data, sizeof(data));
	sup_path(&probe, "ctrl.sock", ctrl, sizeof(ctrl));
	snprintf(spec, sizeof(spec), "swtpm:path=%s,ctrlpath=%s", data, ctrl);
	if ((r = be_open(spec, &be)) < 0)
		goto out;
	r = caps_load(be, &sup->caps);
	be_close(be);
	if (r == 0)
		sup->have_caps = true;
out:
	if (probe.pid > 0) {
		(void)kill(probe.pid, SIGKILL);
		(void)waitpid(probe.pid, NULL, 0);
	}
	(void)sup_rmdir(probe.dir);
	return r;
}

int
sup_load(struct sup *sup)
{
	struct dirent *e;
	DIR *d;
	int r;

	if ((r = sup_probe(sup)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "private instances: a %s worker in %s", sup->swtpm_path,
			  sup->p.dir);
		return r;
	}
	log_info("private instances in %s: %s workers, %zu commands, %u object slots, "
		 "%u session slots%s", sup->p.dir, sup->swtpm_path, sup->caps.n_cc,
		 sup->caps.transient_slots, sup->caps.loaded_sessions,
		 sup->key_len > 0 ? ", state encrypted at rest" : "");
	if ((d = opendir(sup->p.dir)) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		struct sup_inst *si;
		char dir[512];

		if (!sup_name_ok(e->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", sup->p.dir, e->d_name);
		if ((r = sup_register(sup, e->d_name, sup_read_owner(dir), &si)) < 0)
			log_errno(LOG_LVL_WARN, -r, "instance %s: not served", e->d_name);
	}
	closedir(d);
	loop_timer_arm(sup->srv->loop, &sup->tick, SUP_TICK_NS, sup_tick, sup);
	return 0;
}

void
sup_free(struct sup *sup)
{
	if (sup == NULL)
		return;
	loop_timer_disarm(sup->srv->loop, &sup->tick);
	/* SIGTERM to all first, then wait: they stop side by side */
	for (size_t i = 0; i < sup->n; i++)
		if (sup->inst[i]->pid > 0)
			(void)kill(sup->inst[i]->pid, SIGTERM);
	for (size_t i = 0; i < sup->n; i++) {
		struct sup_inst *si = sup->inst[i];

		loop_timer_disarm(sup->srv->loop, &si->start_timer);
		loop_timer_disarm(sup->srv->loop, &si->stop_timer);
		sup_kill_wait(si, SIGTERM, SUP_STOP_WAIT_MS);
		if (si->attach_req != NULL)
			svc_reply(si->attach_req, SUP_RC_FAILED, NULL, 0);
		if (si->import_req != NULL)
			svc_reply(si->import_req, SUP_RC_FAILED, NULL, 0);
		free(si);
	}
	caps_free(&sup->caps);
	free(sup);
}
