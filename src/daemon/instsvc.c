/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * instsvc.c: the INSTANCE service (proto.h TB_MSG_INSTANCE): the lifecycle
 * of private instances for `tpmbroker instance ...`.  Root and the
 * daemon's uid only (TB_RC_DENIED for others), as for status.
 *
 * Request: op (1 byte, enum tb_inst_op, | TB_INST_FLAG_JSON), owner uid (be32,
 * 0xffffffff: none), name length (1 byte), name, then the op's data
 * (import: an export blob).  Reply: rc, then text (a message or a table),
 * or for export the blob:
 *
 *   "TBINST01" | flags be32 (bit 0: the state is encrypted with the
 *   daemon's --instance-key) | owner be32 | length be32 | swtpm's state
 *   file (tpm2-00.permall: the TPM's permanent state: seeds, hierarchies'
 *   auth, NV indices, persistent objects)
 *
 * Answers: 0x000B0120 not an admin; 0x000B008B no such instance;
 * 0x000B014C it exists already; 0x000B0922 busy (connections bound, a
 * VM, an attach on its way); 0x000B0904 over a limit; 0x000B0084 a bad
 * request or blob; 0x000B009F an imported state that does not open with
 * this daemon's key; 0x000B0143 no --instance-dir; 0x000B0101 a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "../common/instproto.h"
#include "../common/log.h"
#include "../common/proto.h"
#include "../common/util.h"
#include "../common/wire.h"
#include "server.h"
#include "service.h"
#include "sup_int.h"

#define RC_NOSUCH TB_RM_RC(TPM2_RC_HANDLE)
#define RC_EXISTS TB_RM_RC(TPM2_RC_NV_DEFINED)
#define RC_BUSY TB_RM_RC(TPM2_RC_RETRY)
#define RC_BAD TB_RM_RC(TPM2_RC_VALUE)
#define BLOB_HDR 20u
#define STATE_FILE "tpm2-00.permall"

static void
reply_text(struct svc_req *r, uint32_t rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
reply_text(struct svc_req *r, uint32_t rc, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	svc_reply(r, rc, text, n < 0 ? 0 : MIN((size_t)n, sizeof(text) - 1));
}

static uint32_t
rc_of(int err)
{
	switch (err) {
	case -EEXIST: return RC_EXISTS;
	case -EDQUOT: return SUP_RC_LIMIT;
	case -EBUSY: return RC_BUSY;
	case -EINVAL: return RC_BAD;
	default: return SUP_RC_FAILED;
	}
}

/* Names are letters, digits, '-', '_', '.' (sup_name_ok): nothing to escape. */
static void
inst_list_json(const struct sup *sup, FILE *f)
{
	fputs("{\"instances\": [", f);
	for (size_t i = 0; i < sup->n; i++) {
		const struct sup_inst *si = sup->inst[i];
		char owner[16] = "null";

		if (si->owner != (uid_t)-1)
			snprintf(owner, sizeof(owner), "%lu", (unsigned long)si->owner);
		fprintf(f, "%s\n  {\"name\": \"%s\", \"owner\": %s, \"worker\": \"%s\", \"pid\": %d, "
			"\"connections\": %u, \"starts\": %u, \"crashes\": %u, "
			"\"last_start_us\": %llu}", i > 0 ? "," : "", si->name, owner,
			sup_state_name(si), (int)si->pid, si->ti != NULL ? si->ti->n_conns : 0,
			si->starts, si->crashes, (unsigned long long)si->last_start_us);
	}
	fputs(sup->n > 0 ? "\n]}\n" : "]}\n", f);
}

static void
inst_list(struct sup *sup, struct svc_req *r, bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL) {
		svc_reply(r, SUP_RC_FAILED, NULL, 0);
		return;
	}
	if (json) {
		inst_list_json(sup, f);
		fclose(f);
		svc_reply(r, 0, text, len);
		free(text);
		return;
	}
	fprintf(f, "%-20s %7s %-8s %7s %5s %6s %7s\n", "NAME", "OWNER", "WORKER", "PID", "CONNS",
		"STARTS", "CRASHES");
	for (size_t i = 0; i < sup->n; i++) {
		const struct sup_inst *si = sup->inst[i];
		fprintf(f, "%-20s %7ld %-8s %7d %5u %6u %7u\n", si->name,
			si->owner == (uid_t)-1 ? -1L : (long)si->owner, sup_state_name(si),
			(int)si->pid, si->ti != NULL ? si->ti->n_conns : 0, si->starts, si->crashes);
	}
	fclose(f);
	svc_reply(r, 0, text, len);
	free(text);
}

static void
inst_show(struct sup *sup, struct sup_inst *si, struct svc_req *r)
{
	char st[512], ctrl[512];
	struct stat sb;

	sup_path(si, STATE_FILE, st, sizeof(st));
	sup_path(si, si->vm_mode ? "vm.sock" : "ctrl.sock", ctrl, sizeof(ctrl));
	reply_text(r, 0,
		   "name: %s\nowner: %ld\ndirectory: %s\nworker: %s, pid %d\n"
		   "control socket: %s\nstate: %lld bytes%s\nconnections: %u\n"
		   "starts: %u, crashes: %u, last start %llu us\n",
		   si->name, si->owner == (uid_t)-1 ? -1L : (long)si->owner, si->dir,
		   sup_state_name(si), (int)si->pid, si->pid > 0 ? ctrl : "-",
		   stat(st, &sb) == 0 ? (long long)sb.st_size : 0LL,
		   sup->key_len > 0 ? ", encrypted (aes-256-cbc)" : "",
		   si->ti != NULL ? si->ti->n_conns : 0, si->starts, si->crashes,
		   (unsigned long long)si->last_start_us);
}

static void
inst_export(struct sup *sup, struct sup_inst *si, struct svc_req *r)
{
	char p[512];
	_cleanup_(closep) int fd = -1;
	_cleanup_(freep) uint8_t *blob = NULL;
	struct stat sb;
	size_t have = 0;
	int rr;

	/*
	 * swtpm writes the state to TMP2-00.permall, fsyncs and renames it
	 * over tpm2-00.permall (swtpm_nvstore_dir.c; strace of swtpm 0.7.1
	 * shows the same): an open file is one whole state, also while the
	 * worker runs, so no stop or control-channel fetch is needed.
	 * instance-migrate imports exports taken under NV writes.
	 */
	sup_path(si, STATE_FILE, p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		reply_text(r, SUP_RC_FAILED, "instance %s has no state yet (never started)",
			   si->name);
		return;
	}
	if ((size_t)sb.st_size + BLOB_HDR > TB_PROTO_MAX_REPLY - 4 ||
	    (blob = malloc((size_t)sb.st_size + BLOB_HDR)) == NULL) {
		reply_text(r, SUP_RC_FAILED, "state of %lld bytes: too large", (long long)sb.st_size);
		return;
	}
	rr = read_some(fd, blob + BLOB_HDR, &have, (size_t)sb.st_size);
	if (rr < 0 && rr != -EPIPE) {
		reply_text(r, SUP_RC_FAILED, "reading %s: %s", p, strerror(-rr));
		return;
	}
	memcpy(blob, "TBINST01", 8);
	put_be32(blob + 8, sup->key_len > 0 ? 1u : 0u);
	put_be32(blob + 12, (uint32_t)si->owner);
	put_be32(blob + 16, (uint32_t)have);
	log_info("instance %s: exported (%zu bytes of state)", si->name, have);
	svc_reply(r, 0, blob, BLOB_HDR + have);
}

static void
inst_import(struct sup *sup, const char *name, uid_t owner, const uint8_t *d, size_t len,
	    struct svc_req *r)
{
	struct sup_inst *si;
	char p[512];
	_cleanup_(closep) int fd = -1;
	uint32_t n;
	int rr;

	if (len < BLOB_HDR || memcmp(d, "TBINST01", 8) != 0 || (n = get_be32(d + 16)) != len - BLOB_HDR) {
		reply_text(r, RC_BAD, "not an instance export (tpmbroker instance export)");
		return;
	}
	if ((get_be32(d + 8) & 1u) != (sup->key_len > 0 ? 1u : 0u)) {
		reply_text(r, RC_BAD, "the state is %s, this daemon's are %s: --instance-key must be "
			   "the exporter's", get_be32(d + 8) & 1u ? "encrypted" : "plain",
			   sup->key_len > 0 ? "encrypted" : "plain");
		return;
	}
	if (owner == (uid_t)-1)
		owner = (uid_t)get_be32(d + 12);
	if ((rr = sup_create(sup, name, owner, &si)) < 0) {
		reply_text(r, rc_of(rr), "instance %s: %s", name, strerror(-rr));
		return;
	}
	sup_path(si, STATE_FILE, p, sizeof(p));
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (rr = write_all(fd, d + BLOB_HDR, n)) < 0 || fsync(fd) < 0) {
		(void)sup_delete(sup, si);
		reply_text(r, SUP_RC_FAILED, "writing %s failed", p);
		return;
	}
	/*
	 * Answered when a worker has opened the state (sup_import_answer): a
	 * state under another key fails here, with swtpm's reason, and leaves
	 * nothing behind, not at the tenant's first command.
	 */
	log_info("instance %s: imported (%u bytes of state); opening it", name, n);
	si->import_req = r;
	if (sup_worker_start(si, false) < 0) {
		si->import_req = NULL;
		(void)sup_delete(sup, si);
		reply_text(r, SUP_RC_FAILED, "instance %s: swtpm did not start", name);
	}
}

static void
inst_attach(struct sup_inst *si, struct svc_req *r)
{
	if (si->attach_req != NULL || sup_inst_busy(si)) {
		reply_text(r, RC_BUSY, "instance %s: host clients are connected or an attach is "
			   "on its way", si->name);
		return;
	}
	si->attach_req = r; /* answered when the VM's worker is up (sup_attach_answer) */
	if (si->state == SUP_VM || (si->state == SUP_STARTING && si->vm_mode)) {
		si->attach_req = NULL;
		reply_text(r, RC_BUSY, "instance %s is attached to a VM already", si->name);
		return;
	}
	if (si->state == SUP_STOPPED) {
		if (sup_worker_start(si, true) < 0) {
			si->attach_req = NULL;
			reply_text(r, SUP_RC_FAILED, "instance %s: swtpm did not start", si->name);
		}
		return;
	}
	sup_worker_stop(si); /* then sup_on_exit starts it for the VM */
}

void
sup_service(struct server *srv, struct svc_req *r)
{
	struct sup *sup = srv->sup;
	struct sup_inst *si = NULL;
	char name[INSTANCE_NAME_MAX] = "";
	const uint8_t *d = r->data;
	uid_t owner;
	uint8_t op, nlen;

	if (!r->peer.uid_known || (r->peer.uid != 0 && r->peer.uid != srv->uid)) {
		srv->st.status_denied++;
		svc_reply(r, TB_RC_DENIED, NULL, 0);
		return;
	}
	if (sup == NULL) {
		reply_text(r, TB_RM_RC(TPM2_RC_COMMAND_CODE),
			   "private instances are off: tpmbrokerd runs without --instance-dir");
		return;
	}
	if (r->len < 6 || r->len < 6u + d[5]) {
		svc_reply(r, RC_BAD, NULL, 0);
		return;
	}
	op = d[0] & TB_INST_OP_MASK;
	owner = (uid_t)get_be32(d + 1);
	nlen = d[5];
	if (nlen >= sizeof(name)) {
		reply_text(r, RC_BAD, "instance names have at most %d characters",
			   INSTANCE_NAME_MAX - 1);
		return;
	}
	memcpy(name, d + 6, nlen);
	name[nlen] = '\0';
	if (op != TB_INST_LIST && !sup_name_ok(name)) {
		reply_text(r, RC_BAD, "'%s' is not an instance name (letters, digits, - _ .; not "
			   "shared or private)", name);
		return;
	}
	if (op != TB_INST_LIST && op != TB_INST_CREATE && op != TB_INST_IMPORT &&
	    (si = sup_find(sup, name)) == NULL) {
		reply_text(r, RC_NOSUCH, "no instance %s", name);
		return;
	}
	switch (op) {
	case TB_INST_LIST:
		inst_list(sup, r, (d[0] & TB_INST_FLAG_JSON) != 0);
		return;
	case TB_INST_CREATE: {
		int rr = sup_create(sup, name, owner, &si);
		if (rr < 0)
			reply_text(r, rc_of(rr), "instance %s: %s", name,
				   rr == -EDQUOT ? "over --max-instances-per-user or --max-instances"
						 : strerror(-rr));
		else
			reply_text(r, 0, "instance %s made\n", name);
		return;
	}
	case TB_INST_SHOW:
		inst_show(sup, si, r);
		return;
	case TB_INST_DELETE: {
		int rr = sup_delete(sup, si);
		if (rr < 0)
			reply_text(r, rc_of(rr), "instance %s: %s", name,
				   rr == -EBUSY ? "clients are connected, or a VM holds it (detach "
						  "it first)" : strerror(-rr));
		else
			reply_text(r, 0, "instance %s deleted\n", name);
		return;
	}
	case TB_INST_EXPORT:
		inst_export(sup, si, r);
		return;
	case TB_INST_IMPORT:
		inst_import(sup, name, owner, d + 6 + nlen, r->len - 6 - nlen, r);
		return;
	case TB_INST_ATTACH:
		inst_attach(si, r);
		return;
	case TB_INST_DETACH:
		if (si->state != SUP_VM) {
			reply_text(r, RC_BUSY, "instance %s is not attached to a VM", name);
			return;
		}
		sup_worker_stop(si);
		reply_text(r, 0, "instance %s detached: its VM has lost its TPM\n", name);
		return;
	default:
		svc_reply(r, RC_BAD, NULL, 0);
	}
}
