/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listen.c: accept loop for every frontend.
 *
 * Out of descriptors (EMFILE/ENFILE), a waiting peer is refused, not left in
 * the backlog, where every new client, `tpmbroker status` among them, would
 * hang for as long as the daemon is full.  One descriptor is kept in reserve
 * (an unbound socket: no file system needed); it is closed so that accept()
 * can take the peer, which is answered RETRY in its protocol (conn_refuse).
 * That peer's fd then stands in for the reserve: it stays open (its client's
 * command must not meet EPIPE) until the next such peer needs the slot or
 * for a second, when the reserve is taken again.  Where even that fails (no
 * reserve, ENOBUFS, ENOMEM) the listener pauses for a second instead of
 * spinning (tmux, relayd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "conn.h"
#include "framer.h"
#include "listen.h"
#include "server.h"

struct listener {
	struct loop_io io;
	struct server *srv; /* not owned */
	const struct framer *fr; /* what its connections speak */
	struct loop_timer pause;
	char path[108];  /* Unix socket file to remove; "" for TCP */
	bool made_dir;   /* we created the socket's directory (then it is ours to chown) */
	bool counted;    /* in n_listeners */
	int refused_fd;  /* the last peer refused for want of descriptors; -1: none */
	struct loop_timer unlinger; /* closes refused_fd */
	char name[160];  /* "unix:/run/...", "mssim:127.0.0.1:2321" */
};

const char *
listener_name(const struct listener *l)
{
	return l->name;
}

static void listen_on_accept(struct loop_io *io, uint32_t events);

/* The reserve: descriptors are the process's, so is it.  -1: none now. */
static int spare_fd = -1;
static unsigned n_listeners; /* the reserve goes with the last one */
/* refusals for want of descriptors, and when they were last logged */
static unsigned long emfile_refused;
static uint64_t emfile_logged_ns;

static void
spare_take(void)
{
	if (spare_fd < 0)
		spare_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/* Close a refused peer's fd, reading what it sent first: a TCP peer then
 * gets a FIN, not a reset that could take the answer with it. */
static void
refused_close(struct listener *l)
{
	uint8_t b[512];

	if (l->refused_fd < 0)
		return;
	for (int i = 0; i < 8 && recv(l->refused_fd, b, sizeof(b), MSG_DONTWAIT) > 0; i++)
		;
	(void)close(l->refused_fd);
	l->refused_fd = -1;
}

static void
listen_unlinger(struct loop_timer *t)
{
	struct listener *l = t->data;

	refused_close(l);
	spare_take();
}

/*
 * accept() said EMFILE/ENFILE (it does so with an empty backlog too): free
 * one descriptor (the last refused peer's, else the reserve) and refuse the
 * next peer with it.  1: refused one; 0: nobody waits; <0: no descriptor to
 * free.
 */
static int
listen_refuse_one(struct listener *l, int err)
{
	struct pollfd p = {.fd = l->io.fd, .events = POLLIN};
	uint64_t now = now_ns();
	int fd, r;

	if (poll(&p, 1, 0) != 1)
		return 0;
	if (l->refused_fd >= 0) {
		refused_close(l);
	} else if (spare_fd >= 0) {
		(void)close(spare_fd);
		spare_fd = -1;
	} else {
		return -EMFILE;
	}
	fd = accept4(l->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		spare_take();
		return r == -EAGAIN || r == -ECONNABORTED ? 0 : r;
	}
	conn_refuse(l->srv, fd, l->fr, TB_RM_RC(TPM2_RC_RETRY), "out of file descriptors");
	l->refused_fd = fd;
	loop_timer_arm(l->srv->loop, &l->unlinger, 1000000000u, listen_unlinger, l);
	emfile_refused++;
	/* once a minute at most: a full daemon must not flood its log too */
	if (emfile_logged_ns == 0 || now - emfile_logged_ns >= 60000000000u) {
		log_warnx("%s: accept: %s; refusing new connections (%lu so far)", l->name,
			  strerror(err), emfile_refused);
		emfile_logged_ns = now;
	}
	return 1;
}

static void
listen_resume(struct loop_timer *t)
{
	struct listener *l = t->data;

	if (loop_io_mod(l->srv->loop, &l->io, EPOLLIN) < 0)
		log_warnx("%s: cannot resume accepting", l->name);
}

static void
listen_on_accept(struct loop_io *io, uint32_t events)
{
	struct listener *l = io->data;
	struct conn *c;
	int fd, r;

	(void)events;
	for (int i = 0; i < 64; i++) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				if ((r = listen_refuse_one(l, errno)) > 0)
					continue;
				if (r == 0)
					return;
				errno = -r;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_errno(LOG_LVL_WARN, errno, "%s: accept; pausing 1 s", l->name);
				(void)loop_io_mod(l->srv->loop, &l->io, 0);
				loop_timer_arm(l->srv->loop, &l->pause, 1000000000u, listen_resume, l);
			}
			return;
		}
		if (l->fr->tcp) {
			int one = 1;
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		/* the instance: the one the peer's profile names */
		if ((r = conn_new(l->srv, NULL, fd, l->fr, l->name, &c)) < 0) {
			log_errno(LOG_LVL_WARN, -r, "%s: new connection", l->name);
			(void)close(fd);
		}
	}
}

static int
listen_finish(struct server *srv, int fd, const struct framer *fr, struct listener *l)
{
	int r;

	if (listen(fd, SOMAXCONN) < 0)
		return -errno;
	l->srv = srv;
	l->fr = fr;
	l->refused_fd = -1;
	if ((r = loop_io_add(srv->loop, &l->io, fd, EPOLLIN, listen_on_accept, l)) < 0)
		return r;
	spare_take();
	n_listeners++;
	l->counted = true;
	return 0;
}

/* The directory a socket file goes into, made if missing (0755, as /run/NAME). */
static int
mkdir_socket_dir(const char *path, bool *ret_made)
{
	char dir[108];
	char *slash;
	struct stat st;

	*ret_made = false;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0)
		return 0;
	*ret_made = true;
	return mkdir_p(dir, 0755);
}

int
listen_unix(struct server *srv, const char *path, mode_t mode, struct listener **ret)
{
	_cleanup_(freep) struct listener *l = calloc(1, sizeof(*l));
	_cleanup_(closep) int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int r;

	if (l == NULL)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	if ((r = mkdir_socket_dir(path, &l->made_dir)) < 0) {
		log_errno(LOG_LVL_ERR, -r, "%s: creating its directory", path);
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int probe;

		if (errno != EADDRINUSE)
			return -errno;
		/* in use, or left over by a daemon that died: ask it */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		r = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		(void)close(probe);
		if (r == 0) {
			log_msg(LOG_LVL_ERR, "%s: another daemon is listening there", path);
			return -EADDRINUSE;
		}
		(void)unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -errno;
	}
	if (chmod(path, mode) < 0)
		return -errno;
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
	if ((r = listen_finish(srv, fd, &framer_tb, l)) < 0)
		return r;
	fd = -1;
	*ret = TAKE_PTR(l);
	return 0;
}

int
listen_tcp(struct server *srv, const char *host, unsigned port, const struct framer *fr,
	   struct listener **ret)
{
	_cleanup_(freep) struct listener *l = calloc(1, sizeof(*l));
	_cleanup_(closep) int fd = -1;
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen;
	int one = 1, r;

	if (l == NULL)
		return -ENOMEM;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		slen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*sin6);
	} else {
		log_msg(LOG_LVL_ERR, "'%s' is not a numeric IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0)
		return -errno;
	snprintf(l->name, sizeof(l->name), "%s:%s:%u", fr->name, host, port);
	if ((r = listen_finish(srv, fd, fr, l)) < 0)
		return r;
	fd = -1;
	*ret = TAKE_PTR(l);
	return 0;
}

/*
 * A socket someone else bound (systemd's socket activation): made
 * non-blocking and listened on (a no-op if it already is); its file, if
 * any, belongs to whoever bound it and is left alone at close.
 */
int
listen_adopt(struct server *srv, int fd, const struct framer *fr, const char *name,
	     struct listener **ret)
{
	_cleanup_(freep) struct listener *l = calloc(1, sizeof(*l));
	int flags, r;

	if (l == NULL)
		return -ENOMEM;
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if ((r = listen_finish(srv, fd, fr, l)) < 0)
		return r;
	*ret = TAKE_PTR(l);
	return 0;
}

/*
 * Before a drop from root: a socket directory the daemon made (the default
 * /run/tpmbroker) becomes uid's, so that the socket file can be removed at
 * exit.  Elsewhere (--socket /tmp/x.sock) the file may outlive the daemon;
 * the next start replaces it (listen_unix).
 */
int
listener_chown(struct listener *l, uid_t uid, gid_t gid)
{
	char dir[108];
	char *slash;

	if (!l->made_dir)
		return 0;
	snprintf(dir, sizeof(dir), "%s", l->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	*slash = '\0';
	return lchown(dir, uid, gid) < 0 ? -errno : 0;
}

void
listener_free(struct server *srv, struct listener *l)
{
	if (l == NULL)
		return;
	loop_io_del(srv->loop, &l->io);
	loop_timer_disarm(srv->loop, &l->pause);
	loop_timer_disarm(srv->loop, &l->unlinger);
	if (l->counted) {
		refused_close(l);
		if (--n_listeners == 0 && spare_fd >= 0) {
			(void)close(spare_fd);
			spare_fd = -1;
		}
	}
	(void)close(l->io.fd);
	if (l->path[0] != '\0')
		(void)unlink(l->path);
	free(l);
}
