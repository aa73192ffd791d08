/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_peer.c: peer identity against the real kernel.  Unix socketpairs and
 * listeners (SO_PEERCRED, SO_PEERGROUPS, /proc cgroup), TCP loopback over
 * IPv4, IPv6 and v4-mapped IPv6 (sock_diag), with clients forked under
 * another uid when we are root; and the pure helpers on crafted input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "daemon/peer.h"

#define NOBODY 65534

/* ---- helpers ---- */

/* This process's cgroup v2 path, read independently of peer.c's parser. */
static void
self_cgroup(char *buf, size_t cap)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[1024];

	assert_non_null(f);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		assert_true(strlen(line + 3) < cap);
		strcpy(buf, line + 3);
	}
	fclose(f);
	assert_true(buf[0] == '/');
}

static bool
is_root(const char *what)
{
	if (geteuid() == 0)
		return true;
	print_message("skipping %s: needs root to fork a client under uid %d\n", what, NOBODY);
	return false;
}

static void
assert_groups_eq(const struct peer_id *p, const gid_t *want, size_t n)
{
	assert_int_equal(p->n_groups, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p->groups[i], want[i]);
}

/* An abstract Unix listener (no file, no permissions in the way). */
static int
unix_listener(struct sockaddr_un *sa, socklen_t *len)
{
	static unsigned seq;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "tpmbroker-test-peer-%d-%u",
			 (int)getpid(), seq++);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, *len), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* A TCP listener on host:0; its address (with the port) in ss. */
static int
tcp_listener(int family, const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), off = 0;

	assert_true(fd >= 0);
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, host, &s->sin_addr), 1);
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
		s->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, host, &s->sin6_addr), 1);
		*len = sizeof(*s);
		/* dual stack on [::], for the v4-mapped case */
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)ss, *len), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ss, len), 0);
	return fd;
}

struct client {
	int family;                /* of the client's socket */
	const struct sockaddr *to; /* where it connects */
	socklen_t to_len;
	bool drop;                 /* become uid NOBODY, gid/groups below, first */
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	bool close_early;          /* close and exit right after connect() */
	/* set by client_spawn */
	pid_t pid;
	int release;               /* parent's end: write a byte to let it exit */
};

/* Fork a client that connects as spec says, then waits for client_reap(). */
static void
client_spawn(struct client *c)
{
	int rel[2], ready[2];
	char b = 0;

	assert_int_equal(pipe2(rel, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		int fd;

		(void)close(rel[1]);
		(void)close(ready[0]);
		if (c->drop && (setgroups(c->n_groups, c->groups) < 0 ||
				setresgid(c->gid, c->gid, c->gid) < 0 ||
				setresuid(NOBODY, NOBODY, NOBODY) < 0))
			_exit(2);
		if ((fd = socket(c->family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			_exit(3);
		if (connect(fd, c->to, c->to_len) < 0)
			_exit(4);
		if (c->close_early)
			_exit(close(fd) < 0 ? 5 : 0);
		if (write(ready[1], "r", 1) != 1)
			_exit(6);
		if (read(rel[0], &b, 1) != 1) /* stay connected until released */
			_exit(7);
		_exit(0);
	}
	(void)close(rel[0]);
	(void)close(ready[1]);
	c->release = rel[1];
	if (!c->close_early)
		assert_int_equal(read(ready[0], &b, 1), 1);
	(void)close(ready[0]);
}

static void
client_reap(struct client *c)
{
	int st;

	if (!c->close_early)
		assert_int_equal(write(c->release, "x", 1), 1);
	(void)close(c->release);
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- Unix ---- */

static void
assert_self_unix(const struct peer_id *p)
{
	gid_t want[PEER_MAX_GROUPS];
	int n = getgroups(PEER_MAX_GROUPS, want);
	char cg[256];

	assert_true(n >= 0);
	self_cgroup(cg, sizeof(cg));
	assert_int_equal(p->source, PEER_UNIX);
	assert_true(p->uid_known);
	assert_int_equal(p->uid, getuid());
	assert_int_equal(p->gid, getgid());
	assert_int_equal(p->pid, getpid());
	assert_groups_eq(p, want, (size_t)n);
	assert_string_equal(p->cgroup, cg);
	assert_string_equal(p->addr, "");
}

static void
test_unix_socketpair(void **state)
{
	struct peer_id p;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(peer_from_unix(sv[0], &p), 0);
	assert_self_unix(&p);
	(void)close(sv[0]);
	(void)close(sv[1]);
}

static void
test_unix_listener(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct peer_id p;
	int l = unix_listener(&sa, &len), c, a;

	(void)state;
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, len), 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(peer_from_unix(a, &p), 0);
	assert_self_unix(&p);
	(void)close(a);
	(void)close(c);
	(void)close(l);
}

/* Another process, uid, gid and groups: each comes from the peer, not from us. */
static void
test_unix_other_process(void **state)
{
	static const gid_t groups[] = {4242, 4343};
	struct sockaddr_un sa;
	socklen_t len;
	struct peer_id p;
	char cg[256];
	int l, a;

	(void)state;
	if (!is_root(__func__))
		skip();
	l = unix_listener(&sa, &len);
	struct client c = {.family = AF_UNIX, .to = (struct sockaddr *)&sa, .to_len = len,
			   .drop = true, .gid = 4242, .groups = groups, .n_groups = 2};
	client_spawn(&c);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(peer_from_unix(a, &p), 0);
	assert_true(p.uid_known);
	assert_int_equal(p.uid, NOBODY);
	assert_int_equal(p.gid, 4242);
	assert_int_equal(p.pid, c.pid);
	assert_groups_eq(&p, groups, 2);
	self_cgroup(cg, sizeof(cg)); /* the child inherited ours */
	assert_string_equal(p.cgroup, cg);
	assert_true(peer_in_group(&p, 4343));
	assert_false(peer_in_group(&p, 0));
	client_reap(&c);
	(void)close(a);
	(void)close(l);
}

/* More groups than fit: no partial list, and the call says so. */
static void
test_unix_too_many_groups(void **state)
{
	gid_t groups[PEER_MAX_GROUPS + 1];
	struct sockaddr_un sa;
	socklen_t len;
	struct peer_id p;
	int l, a;

	(void)state;
	if (!is_root(__func__))
		skip();
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
		groups[i] = (gid_t)(5000 + i);
	l = unix_listener(&sa, &len);
	struct client c = {.family = AF_UNIX, .to = (struct sockaddr *)&sa, .to_len = len,
			   .drop = true, .gid = 5000, .groups = groups,
			   .n_groups = ARRAY_SIZE(groups)};
	client_spawn(&c);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(peer_from_unix(a, &p), -E2BIG);
	assert_true(p.uid_known);
	assert_int_equal(p.uid, NOBODY);
	assert_int_equal(p.n_groups, 0);
	assert_true(p.cgroup[0] == '/'); /* the rest was still learnt */
	client_reap(&c);
	(void)close(a);
	(void)close(l);
}

/* A peer that has exited (and been reaped) has no cgroup to report. */
static void
test_unix_dead_peer(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct peer_id p;
	int l = unix_listener(&sa, &len), a;

	(void)state;
	struct client c = {.family = AF_UNIX, .to = (struct sockaddr *)&sa, .to_len = len,
			   .close_early = true};
	client_spawn(&c);
	client_reap(&c);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(peer_from_unix(a, &p), -ESRCH);
	assert_true(p.uid_known);
	assert_int_equal(p.pid, c.pid);
	assert_string_equal(p.cgroup, "");
	(void)close(a);
	(void)close(l);
}

/* Does this kernel have SO_PEERPIDFD (Linux 6.5)? */
static bool
have_peerpidfd(void)
{
	int sv[2], pidfd = -1;
	socklen_t len = sizeof(pidfd);
	bool ok;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ok = getsockopt(sv[0], SOL_SOCKET, 77 /* SO_PEERPIDFD */, &pidfd, &len) == 0;
	if (ok)
		(void)close(pidfd);
	(void)close(sv[0]);
	(void)close(sv[1]);
	return ok;
}

/*
 * A peer that has exited but is not reaped yet (a zombie still holds its
 * pid).  With SO_PEERPIDFD peer.c sees the exit and gives no cgroup; without,
 * it reads the zombie's, which is still its own.
 */
static void
test_unix_zombie_peer(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct peer_id p;
	siginfo_t si;
	bool pidfd = have_peerpidfd();
	int l = unix_listener(&sa, &len), a, st;

	(void)state;
	print_message("SO_PEERPIDFD: %s\n", pidfd ? "yes" : "no (kernel < 6.5)");
	struct client c = {.family = AF_UNIX, .to = (struct sockaddr *)&sa, .to_len = len,
			   .close_early = true};
	client_spawn(&c);
	assert_int_equal(waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOWAIT), 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	if (pidfd) {
		assert_int_equal(peer_from_unix(a, &p), -ESRCH);
		assert_string_equal(p.cgroup, "");
	} else {
		assert_int_equal(peer_from_unix(a, &p), 0);
		assert_true(p.cgroup[0] == '/');
	}
	assert_int_equal(p.pid, c.pid);
	(void)close(c.release);
	assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	(void)close(a);
	(void)close(l);
}

/* ---- TCP ---- */

static void
fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char h[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		assert_non_null(inet_ntop(AF_INET, &s->sin_addr, h, sizeof(h)));
		snprintf(buf, cap, "%s:%u", h, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		assert_non_null(inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof(h)));
		snprintf(buf, cap, "[%s]:%u", h, ntohs(s->sin6_port));
	}
}

/* Same uid, no fork: the client socket is ours. */
static void
tcp_self(int lfamily, const char *lhost, int cfamily, const char *chost)
{
	struct sockaddr_storage ls, cs, to = {0}, as;
	socklen_t llen, clen = sizeof(cs), tolen, alen = sizeof(as);
	struct passwd *pw = getpwuid(getuid());
	struct peer_id p;
	char want[64];
	int l = tcp_listener(lfamily, lhost, &ls, &llen), c, a;

	/* connect to chost at the listener's port */
	if (cfamily == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&to;
		s->sin_family = AF_INET;
		s->sin_port = ((struct sockaddr_in6 *)&ls)->sin6_port;
		if (lfamily == AF_INET)
			s->sin_port = ((struct sockaddr_in *)&ls)->sin_port;
		assert_int_equal(inet_pton(AF_INET, chost, &s->sin_addr), 1);
		tolen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&to;
		s->sin6_family = AF_INET6;
		s->sin6_port = ((struct sockaddr_in6 *)&ls)->sin6_port;
		assert_int_equal(inet_pton(AF_INET6, chost, &s->sin6_addr), 1);
		tolen = sizeof(*s);
	}
	c = socket(cfamily, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&to, tolen), 0);
	assert_int_equal(getsockname(c, (struct sockaddr *)&cs, &clen), 0);
	a = accept4(l, (struct sockaddr *)&as, &alen, SOCK_CLOEXEC);
	assert_true(a >= 0);

	assert_int_equal(peer_from_tcp(a, &p), 0);
	assert_int_equal(p.source, PEER_TCP_LOOPBACK);
	assert_true(p.uid_known);
	assert_int_equal(p.uid, getuid());
	assert_int_equal(p.pid, 0);
	if (pw != NULL) {
		assert_int_equal(p.gid, pw->pw_gid);
		assert_true(peer_in_group(&p, pw->pw_gid));
		assert_true(p.n_groups >= 1);
	}
	fmt_addr(&as, want, sizeof(want)); /* as the server sees the client */
	assert_string_equal(p.addr, want);
	if (cfamily == lfamily) {      /* and as the client sees itself */
		fmt_addr(&cs, want, sizeof(want));
		assert_string_equal(p.addr, want);
	}
	(void)close(a);
	(void)close(c);
	(void)close(l);
}

static void
test_tcp_v4_self(void **state)
{
	(void)state;
	tcp_self(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");
}

static void
test_tcp_v6_self(void **state)
{
	(void)state;
	tcp_self(AF_INET6, "::1", AF_INET6, "::1");
}

/* [::] dual stack: an AF_INET client shows up as ::ffff:127.0.0.1 */
static void
test_tcp_v4mapped_self(void **state)
{
	(void)state;
	tcp_self(AF_INET6, "::", AF_INET, "127.0.0.1");
	tcp_self(AF_INET6, "::", AF_INET6, "::ffff:127.0.0.1"); /* a v6 client, mapped */
}

/* A client forked under uid NOBODY: the uid must be the client's, not ours. */
static void
tcp_other(int lfamily, const char *lhost, int cfamily, const char *chost, const char *want_pfx)
{
	static const gid_t nogroup[] = {NOBODY};
	struct sockaddr_storage ls, to;
	socklen_t llen;
	struct peer_id p;
	char desc[256];
	int l, a;

	l = tcp_listener(lfamily, lhost, &ls, &llen);
	to = ls;
	if (cfamily == AF_INET && lfamily == AF_INET6) {
		struct sockaddr_in *s = (struct sockaddr_in *)&to;
		in_port_t port = ((struct sockaddr_in6 *)&ls)->sin6_port;
		memset(&to, 0, sizeof(to));
		s->sin_family = AF_INET;
		s->sin_port = port;
		assert_int_equal(inet_pton(AF_INET, chost, &s->sin_addr), 1);
		llen = sizeof(*s);
	}
	struct client c = {.family = cfamily, .to = (struct sockaddr *)&to, .to_len = llen,
			   .drop = true, .gid = NOBODY, .groups = nogroup, .n_groups = 1};
	client_spawn(&c);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(peer_from_tcp(a, &p), 0);
	assert_int_equal(p.source, PEER_TCP_LOOPBACK);
	assert_true(p.uid_known);
	assert_int_equal(p.uid, NOBODY);
	assert_int_equal(p.gid, getpwuid(NOBODY)->pw_gid);
	assert_true(strncmp(p.addr, want_pfx, strlen(want_pfx)) == 0);
	peer_describe(&p, desc, sizeof(desc));
	print_message("%s\n", desc);
	client_reap(&c);
	(void)close(a);
	(void)close(l);
}

static void
test_tcp_v4_other_uid(void **state)
{
	(void)state;
	if (!is_root(__func__))
		skip();
	tcp_other(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1", "127.0.0.1:");
}

static void
test_tcp_v6_other_uid(void **state)
{
	(void)state;
	if (!is_root(__func__))
		skip();
	tcp_other(AF_INET6, "::1", AF_INET6, "::1", "[::1]:");
}

static void
test_tcp_v4mapped_other_uid(void **state)
{
	(void)state;
	if (!is_root(__func__))
		skip();
	tcp_other(AF_INET6, "::", AF_INET, "127.0.0.1", "[::ffff:127.0.0.1]:");
}

/*
 * A client that closed before we asked: its socket is orphaned (and the
 * kernel reports such sockets, and TIME_WAIT ones, as uid 0): unknown, never
 * root and never the old uid.
 */
static void
test_tcp_closed_client(void **state)
{
	static const gid_t nogroup[] = {NOBODY};
	struct sockaddr_storage ls;
	socklen_t llen;
	struct peer_id p;
	int l = tcp_listener(AF_INET, "127.0.0.1", &ls, &llen), a;

	(void)state;
	struct client c = {.family = AF_INET, .to = (struct sockaddr *)&ls, .to_len = llen,
			   .close_early = true, .drop = geteuid() == 0, .gid = NOBODY,
			   .groups = nogroup, .n_groups = 1};
	client_spawn(&c);
	client_reap(&c);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_true(peer_from_tcp(a, &p) < 0);
	assert_int_equal(p.source, PEER_TCP_LOOPBACK);
	assert_false(p.uid_known);
	assert_int_equal(p.uid, (uid_t)-1);
	assert_true(strncmp(p.addr, "127.0.0.1:", 10) == 0);
	(void)close(a);
	(void)close(l);
}

/* ---- pure helpers ---- */

static bool
lo4(const char *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	assert_int_equal(inet_pton(AF_INET, s, &sa.sin_addr), 1);
	return peer_addr_is_loopback((struct sockaddr *)&sa);
}

static bool
lo6(const char *s)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};

	assert_int_equal(inet_pton(AF_INET6, s, &sa.sin6_addr), 1);
	return peer_addr_is_loopback((struct sockaddr *)&sa);
}

static void
test_addr_is_loopback(void **state)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	(void)state;
	assert_true(lo4("127.0.0.1"));
	assert_true(lo4("127.255.255.254"));
	assert_true(lo4("127.1.2.3"));
	assert_false(lo4("128.0.0.1"));
	assert_false(lo4("126.255.255.255"));
	assert_false(lo4("10.0.0.1"));
	assert_false(lo4("0.0.0.0"));
	assert_true(lo6("::1"));
	assert_true(lo6("::ffff:127.0.0.1"));
	assert_true(lo6("::ffff:127.9.9.9"));
	assert_false(lo6("::ffff:10.0.0.1"));
	assert_false(lo6("::ffff:128.0.0.1"));
	assert_false(lo6("::"));
	assert_false(lo6("::2"));
	assert_false(lo6("::127.0.0.1")); /* v4-compatible, not mapped */
	assert_false(lo6("fe80::1"));
	assert_false(lo6("2001:db8::1"));
	assert_false(peer_addr_is_loopback((struct sockaddr *)&un));
	assert_false(peer_addr_is_loopback(NULL));
}

static void
test_in_cgroup(void **state)
{
	struct peer_id p = {0};

	(void)state;
	assert_false(peer_in_cgroup(&p, "/")); /* unknown matches nothing */
	strcpy(p.cgroup, "/a/b");
	assert_true(peer_in_cgroup(&p, "/a/b"));
	assert_true(peer_in_cgroup(&p, "/a"));
	assert_true(peer_in_cgroup(&p, "/a/"));
	assert_true(peer_in_cgroup(&p, "/"));
	assert_false(peer_in_cgroup(&p, "/a/b/c"));
	assert_false(peer_in_cgroup(&p, "/a/bc"));
	assert_false(peer_in_cgroup(&p, "a"));
	assert_false(peer_in_cgroup(&p, ""));
	strcpy(p.cgroup, "/ab");
	assert_false(peer_in_cgroup(&p, "/a"));
	assert_true(peer_in_cgroup(&p, "/ab"));
	strcpy(p.cgroup, "/");
	assert_true(peer_in_cgroup(&p, "/"));
	assert_false(peer_in_cgroup(&p, "/a"));
	strcpy(p.cgroup, "/system.slice/tpm2.service");
	assert_true(peer_in_cgroup(&p, "/system.slice"));
	assert_false(peer_in_cgroup(&p, "/system.slice/tpm2"));
}

static void
test_in_group(void **state)
{
	struct peer_id p = {.uid_known = true, .uid = 1000, .gid = 10, .groups = {20, 30},
			    .n_groups = 2};

	(void)state;
	assert_true(peer_in_group(&p, 10));
	assert_true(peer_in_group(&p, 20));
	assert_true(peer_in_group(&p, 30));
	assert_false(peer_in_group(&p, 40));
	assert_false(peer_in_group(&p, 0));
	p.gid = (gid_t)-1; /* TCP, uid without passwd entry */
	assert_false(peer_in_group(&p, (gid_t)-1));
	assert_true(peer_in_group(&p, 20));
	p.uid_known = false;
	assert_false(peer_in_group(&p, 20));
}

static int
parse(const char *s, char *out)
{
	return peer_cgroup_parse(s, strlen(s), out, 256);
}

static void
test_cgroup_parse(void **state)
{
	char out[256], big[600];

	(void)state;
	assert_int_equal(parse("0::/user.slice/a.scope\n", out), 0);
	assert_string_equal(out, "/user.slice/a.scope");
	assert_int_equal(parse("2:cpu:/\n1:name=systemd:/x\n0::/\n", out), 0);
	assert_string_equal(out, "/");
	/* a cgroup name with a newline forging a line: refused, wherever it is */
	assert_int_equal(parse("0::/user.slice/x\n0::/system.slice\n", out), -EBADMSG);
	assert_int_equal(parse("0::/user.slice/x\nfoo\n", out), -EBADMSG);
	assert_int_equal(parse("1:cpu:/x\n0::/fake\n0::/real\n", out), -EBADMSG);
	assert_int_equal(parse("0::/a", out), -EBADMSG); /* cut short */
	assert_int_equal(parse("0::\n", out), -EBADMSG);
	assert_int_equal(parse("0::relative\n", out), -EBADMSG);
	assert_int_equal(parse("1:cpu:/\n", out), -ENOENT);
	assert_int_equal(parse("", out), -EBADMSG);
	/* too long to hold: refused, not cut (a cut path could match a prefix) */
	memset(big, 'a', sizeof(big));
	memcpy(big, "0::/", 4);
	big[300] = '\n';
	big[301] = '\0';
	assert_int_equal(parse(big, out), -ENAMETOOLONG);
}

static void
test_describe(void **state)
{
	struct peer_id p = {.source = PEER_UNIX, .uid_known = true, .uid = 1000, .gid = 100,
			    .pid = 4242, .cgroup = "/user.slice/e\x1b[2Jvil"};
	char buf[256], small[12];

	(void)state;
	peer_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "unix uid 1000 gid 100 pid 4242 cgroup /user.slice/e?[2Jvil");
	memset(small, 'x', sizeof(small));
	peer_describe(&p, small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_true(strncmp(small, "unix uid", 8) == 0);

	p = (struct peer_id){.source = PEER_TCP_REMOTE, .uid = (uid_t)-1, .gid = (gid_t)-1,
			     .addr = "10.0.0.1:5", .local = "10.0.0.2:2321"};
	peer_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "tcp-remote 10.0.0.1:5 -> 10.0.0.2:2321");
	p.source = PEER_TCP_LOOPBACK;
	peer_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "tcp 10.0.0.1:5 -> 10.0.0.2:2321 uid ?");
	p = (struct peer_id){.source = PEER_NONE, .uid = (uid_t)-1, .gid = (gid_t)-1};
	peer_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "unknown uid ?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_socketpair),
		cmocka_unit_test(test_unix_listener),
		cmocka_unit_test(test_unix_other_process),
		cmocka_unit_test(test_unix_too_many_groups),
		cmocka_unit_test(test_unix_dead_peer),
		cmocka_unit_test(test_unix_zombie_peer),
		cmocka_unit_test(test_tcp_v4_self),
		cmocka_unit_test(test_tcp_v6_self),
		cmocka_unit_test(test_tcp_v4mapped_self),
		cmocka_unit_test(test_tcp_v4_other_uid),
		cmocka_unit_test(test_tcp_v6_other_uid),
		cmocka_unit_test(test_tcp_v4mapped_other_uid),
		cmocka_unit_test(test_tcp_closed_client),
		cmocka_unit_test(test_addr_is_loopback),
		cmocka_unit_test(test_in_cgroup),
		cmocka_unit_test(test_in_group),
		cmocka_unit_test(test_cgroup_parse),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
