/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * held.c: the record of the TPM handles the broker holds (held.h).
 *
 * Kept current off the hot path: the RM calls held_changed() at the end
 * of every job, which only arms a timer; the timer builds the list
 * (a few objects, at most the TPM's active sessions), and rewrites the file
 * only when the list changed, at most once per HELD_WRITE_MS.  No fsync: the
 * file lives on a tmpfs that a reboot empties together with the TPM's
 * transient state.  The file is opened once at start, before privileges
 * are dropped (the runtime directory is root's), and rewritten in place:
 * truncated, then written.  Its only reader is the next start, after this
 * daemon is gone; a write cut short by a crash leaves a record that names
 * fewer handles, never others (a cut "0x80000001" is "0x8000000", not a
 * transient or session handle: the whole record is refused).
 *
 * What a crash (SIGKILL, abort; a clean stop writes the record last) can
 * leave, the price of not writing on the hot path:
 *  - handles the broker loaded in its last HELD_WRITE_MS are not named: the
 *    next start takes them for another user's and leaves them (never
 *    flushing a stranger's handle is the point).  They hold at most that
 *    many slots until the TPM is reset (a reboot) or a start with
 *    --sweep=all; meanwhile the RM learns from OBJECT_MEMORY /
 *    SESSION_MEMORY that the slots are taken and works with fewer.
 *  - handles the broker flushed in its last HELD_WRITE_MS are still named.
 *    Harmless unless, in those same few ms, another user was given the
 *    same handle value and still holds it at the next start: only then
 *    would the sweep flush a stranger's handle.  Where even that must not
 *    happen, --sweep=none.
 * A record is bound to its backend (first lines): one written for another
 * TPM is never applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/proto.h"
#include "../common/util.h"
#include "held.h"
#include "loop.h"
#include "rm.h"

#define HELD_MAGIC "# tpmbroker held handles 1"
/* header + one "0x%08x\n" line per handle */
#define HELD_BUF (1024u + HELD_MAX * 11u)

struct held {
	struct loop *loop;   /* not owned */
	const struct rm *rm; /* not owned; outlives the held */
	struct loop_timer timer;
	uint64_t last_ns;    /* last look at the list (and write if it changed), monotonic */
	bool written;        /* the file says last[0 .. n_last) */
	int fd;              /* owned: the record, open from start to end */
	bool warned;         /* a failed write was logged */
	char path[256];
	char backend[512];
	size_t n_last;             /* what the file says now */
	uint32_t last[HELD_MAX];
	uint32_t cur[HELD_MAX];    /* scratch: the list being built */
	char buf[HELD_BUF];        /* scratch: the file being built */
};

int
held_default_path(const char *socket, const char *name, char *buf, size_t cap)
{
	int n;

	if (socket == NULL || socket[0] == '\0')
		n = snprintf(buf, cap, "%s", "");
	else if (strcmp(socket, TB_SOCKET_DEFAULT_ROOT) == 0)
		n = snprintf(buf, cap, "/run/tpmbroker/held-%s", name);
	else
		n = snprintf(buf, cap, "%s.held-%s", socket, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static bool
held_valid(uint32_t h)
{
	uint32_t ht = h >> 24;

	return ht == 0x80u || ht == 0x02u || ht == 0x03u;
}

int
held_read(const char *path, const char *backend, uint32_t *out, size_t cap, size_t *ret_n)
{
	FILE *f = fopen(path, "re");
	char line[600];
	size_t n = 0;
	bool magic = false, same = false;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *end;
		unsigned long v;

		line[strcspn(line, "\n")] = '\0';
		if (!magic) {
			if (strcmp(line, HELD_MAGIC) != 0)
				break;
			magic = true;
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strncmp(line, "backend ", 8) == 0) {
			same = strcmp(line + 8, backend) == 0;
			continue;
		}
		errno = 0;
		v = strtoul(line, &end, 16);
		if (errno != 0 || end == line || *end != '\0' || v > UINT32_MAX ||
		    !held_valid((uint32_t)v)) {
			(void)fclose(f);
			return -EBADMSG;
		}
		if (n < cap)
			out[n++] = (uint32_t)v;
	}
	(void)fclose(f);
	if (!magic)
		return -EBADMSG;
	if (!same)
		return -ESTALE;
	*ret_n = n;
	return 0;
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
held_write(struct held *hd, const uint32_t *h, size_t n)
{
	size_t len;
	ssize_t w;
	int r = 0;

	len = (size_t)snprintf(hd->buf, sizeof(hd->buf),
			       HELD_MAGIC "\n# the TPM handles tpmbrokerd (pid %ld) holds; its next "
			       "start flushes them (--sweep=own)\nbackend %s\n",
			       (long)getpid(), hd->backend);
	for (size_t i = 0; i < n && len + 12 < sizeof(hd->buf); i++)
		len += (size_t)snprintf(hd->buf + len, sizeof(hd->buf) - len, "0x%08" PRIx32 "\n",
					h[i]);
	/* empty first: a crash in between leaves a record naming nothing */
	if (ftruncate(hd->fd, 0) < 0)
		return -errno;
	w = pwrite(hd->fd, hd->buf, len, 0); /* a few hundred bytes to a tmpfs: one write */
	if (w < 0)
		r = -errno;
	else if ((size_t)w != len)
		r = -EIO;
	return r;
}

int
held_sync(struct held *hd)
{
	size_t n = rm_held_handles(hd->rm, hd->cur, HELD_MAX);
	int r;

	n = MIN(n, (size_t)HELD_MAX);
	/* looks, not only writes, are rationed: a busy broker builds the list 10 times a second */
	hd->last_ns = now_ns();
	qsort(hd->cur, n, sizeof(hd->cur[0]), u32_cmp);
	if (hd->written && n == hd->n_last &&
	    memcmp(hd->cur, hd->last, n * sizeof(hd->cur[0])) == 0)
		return 0;
	if ((r = held_write(hd, hd->cur, n)) < 0)
		return r;
	memcpy(hd->last, hd->cur, n * sizeof(hd->cur[0]));
	hd->n_last = n;
	hd->written = true;
	return 0;
}

static void
held_timer(struct loop_timer *t)
{
	struct held *hd = t->data;
	int r;

	if ((r = held_sync(hd)) < 0 && !hd->warned) {
		log_errno(LOG_LVL_WARN, -r, "%s: recording the handles the broker holds", hd->path);
		hd->warned = true; /* once: it is tried again at every change */
	}
}

void
held_changed(void *ctx)
{
	struct held *hd = ctx;
	uint64_t now, due;

	if (hd->timer.armed)
		return; /* a write is already due: it will see this change too */
	now = now_ns();
	due = hd->last_ns + (uint64_t)HELD_WRITE_MS * 1000000u;
	loop_timer_arm(hd->loop, &hd->timer, due > now ? due - now : 0, held_timer, hd);
}

/* The record's directory, as listen.c makes the socket's (it may come later). */
static int
held_mkdir(const char *path)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	return mkdir_p(dir, 0755);
}

int
held_new(struct loop *loop, const char *path, const char *backend, const struct rm *rm,
	 struct held **ret)
{
	struct held *hd;
	int r;

	if (strlen(path) >= sizeof(hd->path) || strlen(backend) >= sizeof(hd->backend) ||
	    path[0] == '\0')
		return -ENAMETOOLONG;
	if ((hd = calloc(1, sizeof(*hd))) == NULL)
		return -ENOMEM;
	hd->loop = loop;
	hd->rm = rm;
	strcpy(hd->path, path);
	strcpy(hd->backend, backend);
	if ((r = held_mkdir(path)) < 0) {
		free(hd);
		return r;
	}
	hd->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (hd->fd < 0 || (r = held_sync(hd)) < 0) {
		r = hd->fd < 0 ? -errno : r;
		if (hd->fd >= 0)
			(void)close(hd->fd);
		free(hd);
		return r;
	}
	*ret = hd;
	return 0;
}

void
held_free(struct held *hd)
{
	int r;

	if (hd == NULL)
		return;
	loop_timer_disarm(hd->loop, &hd->timer);
	if ((r = held_sync(hd)) < 0)
		log_errno(LOG_LVL_WARN, -r, "%s", hd->path);
	(void)close(hd->fd);
	free(hd);
}
