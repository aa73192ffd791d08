/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * peer.c: identity of the process on the other end of a client connection.
 *
 * frontend      source                          vouches for          cannot vouch for
 * unix socket   SO_PEERCRED (kernel)            uid, gid, pid at     who holds the fd now
 *               SO_PEERGROUPS (kernel)          connect()/socket-    (SCM_RIGHTS, fork, exec
 *                                               pair() time          keep it)
 *               /proc/PID/cgroup "0::" line     cgroup at accept     see below
 *
 * The cgroup is read at accept time, not at connect(), so:
 *  - pid reuse: the peer may exit between connect() and our read, and its
 *    pid be given to another process, whose cgroup we would then report.
 *    Linux >= 6.5 has SO_PEERPIDFD (a pidfd of the connecting process):
 *    we read /proc/PID/cgroup and then poll the pidfd; not readable means
 *    the process has not exited, so it still owns PID and the read was its.
 *    Debian 12's kernel (6.1) and its headers lack SO_PEERPIDFD: there the
 *    getsockopt fails with ENOPROTOOPT and the race stays open (narrow: the
 *    pid space must wrap between connect() and accept).  A policy should not
 *    grant on cgroup alone on such kernels; the uid is not affected.
 *  - a process moves itself (echo > cgroup.procs) where it may write: a user
 *    can move its processes within its delegated user@UID.service subtree,
 *    not into system.slice.  So cgroup prefixes are meaningful only above
 *    what the peer's uid can write; a move after accept is not seen.
 *  - cgroup names may contain newlines: a delegated user could name one
 *    "x\n0::/system.slice/..." to forge a line.  peer_cgroup_parse() accepts
 *    the file only if exactly one line starts with "0::" and it is the last
 *    (the kernel prints the default hierarchy last), else "unknown".
 *  - paths are relative to the daemon's cgroup namespace; a peer in a
 *    pid namespace we cannot see has pid 0, and then no cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; not in Debian 12's linux-libc-dev 6.1 */
#endif


static void
peer_init(struct peer_id *p, enum peer_source src)
{
	memset(p, 0, sizeof(*p));
	p->source = src;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
}

/* ---- cgroup ---- */

int
peer_cgroup_parse(const char *data, size_t len, char *ret, size_t cap)
{
	const char *line = data, *end = data + len, *path = NULL;
	size_t path_len = 0;
	unsigned n_v2 = 0;

	if (len == 0 || data[len - 1] != '\n')
		return -EBADMSG; /* truncated or not from the kernel */
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		bool last = nl + 1 == end;

		if (nl - line >= 3 && memcmp(line, "0::", 3) == 0) {
			if (++n_v2 > 1 || !last)
				return -EBADMSG; /* a forged line inside a cgroup name */
			path = line + 3;
			path_len = (size_t)(nl - path);
		}
		line = nl + 1;
	}
	if (path == NULL)
		return -ENOENT; /* no cgroup v2 hierarchy */
	if (path_len == 0 || path[0] != '/')
		return -EBADMSG;
	if (path_len >= cap)
		return -ENAMETOOLONG; /* a cut path could match a wrong prefix */
	memcpy(ret, path, path_len);
	ret[path_len] = '\0';
	return 0;
}

/* One read of /proc/PID/cgroup (a few hundred bytes; 4 KiB is a bound). */
static int
peer_cgroup_read(pid_t pid, char *ret, size_t cap)
{
	_cleanup_(closep) int fd = -1;
	char path[32], buf[4096];
	ssize_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	if ((size_t)n == sizeof(buf))
		return -EFBIG;
	return peer_cgroup_parse(buf, (size_t)n, ret, cap);
}

/*
 * The peer's cgroup, or "" with -errno.  With a pidfd the answer is checked
 * to be the connecting process's; without, see the pid reuse note on top.
 */
static int
peer_unix_cgroup(int fd, struct peer_id *p)
{
	_cleanup_(closep) int pidfd = -1;
	socklen_t len = sizeof(pidfd);
	char cg[sizeof(p->cgroup)];
	struct pollfd pfd;
	int r;

	if (p->pid <= 0)
		return 0; /* not visible from our pid namespace */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		if (errno != ENOPROTOOPT)
			return -ESRCH; /* EINVAL/ESRCH: the peer has been reaped */
		pidfd = -1;    /* kernel < 6.5 */
	}
	if ((r = peer_cgroup_read(p->pid, cg, sizeof(cg))) < 0)
		return r;
	if (pidfd >= 0) {
		pfd = (struct pollfd){.fd = pidfd, .events = POLLIN};
		if (poll(&pfd, 1, 0) != 0)
			return -ESRCH; /* exited: PID may be another process now */
	}
	memcpy(p->cgroup, cg, sizeof(cg));
	return 0;
}

/* ---- Unix ---- */

int
peer_from_unix(int fd, struct peer_id *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r, first = 0;

	peer_init(ret, PEER_UNIX);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	ret->uid_known = true;
	ret->uid = cred.uid;
	ret->gid = cred.gid;
	ret->pid = cred.pid;

	len = sizeof(ret->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, ret->groups, &len) == 0)
		ret->n_groups = len / sizeof(gid_t);
	else
		first = errno == ERANGE ? -E2BIG : -errno;

	r = peer_unix_cgroup(fd, ret);
	return first < 0 ? first : r;
}

/* ---- queries ---- */

bool
peer_in_group(const struct peer_id *p, gid_t gid)
{
	if (!p->uid_known || gid == (gid_t)-1)
		return false;
	if (p->gid == gid)
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

bool
peer_in_cgroup(const struct peer_id *p, const char *prefix)
{
	size_t n = strlen(prefix);

	if (p->cgroup[0] != '/' || prefix[0] != '/')
		return false;
	while (n > 0 && prefix[n - 1] == '/')
		n--; /* "/a/" is "/a"; "/" is the root, below which all lie */
	if (strncmp(p->cgroup, prefix, n) != 0)
		return false;
	return p->cgroup[n] == '\0' || p->cgroup[n] == '/';
}

static const char *const peer_source_name[] = {
	[PEER_NONE] = "unknown",
	[PEER_UNIX] = "unix",
	[PEER_TCP_LOOPBACK] = "tcp",
	[PEER_TCP_REMOTE] = "tcp-remote",
};

void
peer_describe(const struct peer_id *p, char *buf, size_t cap)
{
	size_t off = 0;
	int n;

#define PUT(...)                                                                                   \
	do {                                                                                       \
		n = snprintf(buf + off, cap - off, __VA_ARGS__);                                   \
		if (n < 0 || (size_t)n >= cap - off)                                               \
			return;                                                                    \
		off += (size_t)n;                                                                  \
	} while (0)

	if (cap == 0)
		return;
	buf[0] = '\0';
	PUT("%s", (size_t)p->source < ARRAY_SIZE(peer_source_name)
			  ? peer_source_name[p->source]
			  : "?");
	if (p->addr[0] != '\0')
		PUT(" %s -> %s", p->addr, p->local);
	if (p->uid_known)
		PUT(" uid %u", (unsigned)p->uid);
	else if (p->source != PEER_TCP_REMOTE)
		PUT(" uid ?");
	if (p->gid != (gid_t)-1)
		PUT(" gid %u", (unsigned)p->gid);
	if (p->pid > 0)
		PUT(" pid %d", (int)p->pid);
	if (p->cgroup[0] != '\0') {
		PUT(" cgroup ");
		/* a delegated user names its cgroups: no control bytes into logs */
		for (const char *s = p->cgroup; *s != '\0' && off + 1 < cap; s++)
			buf[off++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
		buf[off] = '\0';
	}
#undef PUT
}
