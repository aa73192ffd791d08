/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlog_replay.c: the current epoch of a measurement log replayed per
 * register and bank, and a stream's virtual registers (mlog_replay.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlog_replay.h"
#include "proto.h"
#include "util.h"

const char *
mlog_reg_type_name(uint8_t reg_type)
{
	return reg_type == MLOG_REG_RTMR ? "rtmr" : "pcr";
}

/* TCG PC Client Platform Firmware Profile, "Events" */
static const struct {
	uint32_t type;
	const char *name;
} ev_names[] = {
	{0x00000000, "EV_PREBOOT_CERT"},
	{0x00000001, "EV_POST_CODE"},
	{0x00000002, "EV_UNUSED"},
	{0x00000003, "EV_NO_ACTION"},
	{0x00000004, "EV_SEPARATOR"},
	{0x00000005, "EV_ACTION"},
	{0x00000006, "EV_EVENT_TAG"},
	{0x00000007, "EV_S_CRTM_CONTENTS"},
	{0x00000008, "EV_S_CRTM_VERSION"},
	{0x00000009, "EV_CPU_MICROCODE"},
	{0x0000000a, "EV_PLATFORM_CONFIG_FLAGS"},
	{0x0000000b, "EV_TABLE_OF_DEVICES"},
	{0x0000000c, "EV_COMPACT_HASH"},
	{0x0000000d, "EV_IPL"},
	{0x0000000e, "EV_IPL_PARTITION_DATA"},
	{0x0000000f, "EV_NONHOST_CODE"},
	{0x00000010, "EV_NONHOST_CONFIG"},
	{0x00000011, "EV_NONHOST_INFO"},
	{0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS"},
	{0x00000013, "EV_POST_CODE2"},
	{0x80000000, "EV_EFI_EVENT_BASE"},
	{0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
	{0x80000002, "EV_EFI_VARIABLE_BOOT"},
	{0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
	{0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
	{0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
	{0x80000006, "EV_EFI_GPT_EVENT"},
	{0x80000007, "EV_EFI_ACTION"},
	{0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
	{0x80000009, "EV_EFI_HANDOFF_TABLES"},
	{0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
	{0x8000000b, "EV_EFI_HANDOFF_TABLES2"},
	{0x8000000c, "EV_EFI_VARIABLE_BOOT2"},
	{0x8000000d, "EV_EFI_GPT_EVENT2"},
	{0x80000010, "EV_EFI_HCRTM_EVENT"},
	{0x800000e0, "EV_EFI_VARIABLE_AUTHORITY"},
	{0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
	{0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
};

const char *
mlog_event_type_name(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(ev_names); i++)
		if (ev_names[i].type == type)
			return ev_names[i].name;
	return NULL;
}

int
mlog_default_path(const char *socket, char *buf, size_t cap)
{
	const char *sd = getenv("STATE_DIRECTORY"), *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char def[108];
	int n;

	/* the daemon (main.c) and the CLI both ask here: they find the same file */
	if (tb_socket_path(NULL, def, sizeof(def)) < 0)
		def[0] = '\0';
	if (socket != NULL && socket[0] != '\0' && strcmp(socket, def) != 0 &&
	    strcmp(socket, TB_SOCKET_DEFAULT_ROOT) != 0)
		n = snprintf(buf, cap, "%s.measure.log", socket);
	else if (sd != NULL && sd[0] == '/' && strchr(sd, ':') == NULL)
		n = snprintf(buf, cap, "%s/measure.log", sd);
	else if (geteuid() == 0)
		n = snprintf(buf, cap, "/var/lib/tpmbroker/measure.log");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, cap, "%s/tpmbroker/measure.log", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, cap, "%s/.local/state/tpmbroker/measure.log", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

const struct mlog_reg *
mlog_replay_find(const struct mlog_replay *rp, uint8_t reg_type, uint32_t reg)
{
	for (size_t i = 0; i < rp->n_regs; i++)
		if (rp->regs[i].reg_type == reg_type && rp->regs[i].reg == reg)
			return &rp->regs[i];
	return NULL;
}

static struct mlog_reg *
reg_slot(struct mlog_replay *rp, uint8_t reg_type, uint32_t reg)
{
	struct mlog_reg *g = (struct mlog_reg *)mlog_replay_find(rp, reg_type, reg);

	if (g != NULL || rp->n_regs >= MLOG_MAX_REGS)
		return g; /* cannot be full: indexes are range-checked first */
	g = &rp->regs[rp->n_regs++];
	*g = (struct mlog_reg){.reg_type = reg_type, .reg = reg};
	return g;
}

/* why r cannot be replayed on its own, or NULL */
static const char *
rec_problem(const struct mlog_rec *r)
{
	if ((r->reg_type == MLOG_REG_PCR && r->reg >= MLOG_PCRS) ||
	    (r->reg_type == MLOG_REG_RTMR && r->reg >= MLOG_RTMRS))
		return "register index out of range";
	for (size_t i = 0; i < r->n_dig; i++) {
		if (mlog_alg_size(r->dig[i].alg) == 0 ||
		    r->dig[i].size != mlog_alg_size(r->dig[i].alg))
			return "a digest of an unknown bank (hash algorithm or size)";
		for (size_t j = 0; j < i; j++)
			if (r->dig[j].alg == r->dig[i].alg)
				return "the same bank twice in one record";
	}
	return NULL;
}

static const struct mlog_digest *
find_bank(const struct mlog_digest *d, size_t n, uint16_t alg)
{
	for (size_t i = 0; i < n; i++)
		if (d[i].alg == alg)
			return &d[i];
	return NULL;
}

/* the record's banks are exactly the register's: NULL, or why not */
static const char *
banks_match(const struct mlog_reg *g, const struct mlog_rec *r)
{
	for (size_t i = 0; i < r->n_dig; i++)
		if (find_bank(g->v, g->n_banks, r->dig[i].alg) == NULL)
			return "a bank the register's section does not have (unknown bank)";
	if (r->n_dig != g->n_banks)
		return "a bank of the register's section is missing";
	return NULL;
}

static void
set_bad(struct mlog_replay *rp, const struct mlog_rec *r, const char *why)
{
	rp->bad_seq = r->seq != 0 ? r->seq : UINT64_MAX;
	rp->bad_why = why;
}

/* one record of the epoch; 1 go on, 0 stop (rp->bad_*), -errno */
static int
replay_one(struct mlog_replay *rp, const struct mlog_rec *r, const char *stream,
	   size_t stream_len)
{
	const char *why = rec_problem(r);
	struct mlog_reg *g;
	int e;

	if (stream != NULL && (r->kind != MLOG_EVENT || r->stream_len != stream_len ||
			       memcmp(r->stream, stream, stream_len) != 0))
		return 1;
	if (why != NULL) {
		set_bad(rp, r, why);
		return 0;
	}
	g = reg_slot(rp, r->reg_type, r->reg);
	if (r->kind == MLOG_SECTION) {
		/* the first, or an admin's new one: the replay (re)starts here */
		if (g->has_section && (why = banks_match(g, r)) != NULL) {
			set_bad(rp, r, why);
			return 0;
		}
		memcpy(g->v, r->dig, r->n_dig * sizeof(r->dig[0]));
		memcpy(g->base, r->dig, r->n_dig * sizeof(r->dig[0]));
		g->n_banks = r->n_dig;
		g->has_section = true;
		g->n_sections++;
		g->section_seq = r->seq;
		g->n_events = 0;
		g->base_nonzero = false;
		for (size_t i = 0; i < r->n_dig; i++)
			for (size_t j = 0; j < r->dig[i].size; j++)
				g->base_nonzero |= r->dig[i].d[j] != 0;
		return 1;
	}
	if (stream != NULL && g->n_banks == 0) {
		/* a virtual register starts from zeros in the banks of its first event */
		for (size_t i = 0; i < r->n_dig; i++)
			g->base[i] = g->v[i] = (struct mlog_digest){.alg = r->dig[i].alg,
								    .size = r->dig[i].size};
		g->n_banks = r->n_dig;
	} else if (stream == NULL && !g->has_section) {
		set_bad(rp, r, "an event before its register's section");
		return 0;
	}
	if ((why = banks_match(g, r)) != NULL) {
		set_bad(rp, r, why);
		return 0;
	}
	for (size_t i = 0; i < g->n_banks; i++)
		if ((e = mlog_fold(&g->v[i], find_bank(r->dig, r->n_dig, g->v[i].alg))) < 0)
			return e;
	g->n_events++;
	g->last_seq = r->seq;
	return 1;
}

int
mlog_replay(const struct mlog_file *f, const char *stream, size_t stream_len,
	    struct mlog_replay *rp)
{
	struct mlog_rec r;
	size_t off = 0, at = 0;
	int e;

	*rp = (struct mlog_replay){0};
	/* the current epoch starts where the last change of (reset, restart) is */
	while (at = off, mlog_next(f, &off, &r) > 0) {
		if (!rp->have_epoch || r.reset_count != rp->reset_count ||
		    r.restart_count != rp->restart_count) {
			rp->have_epoch = true;
			rp->reset_count = r.reset_count;
			rp->restart_count = r.restart_count;
			rp->epoch_off = at < MLOG_HDR_SIZE ? MLOG_HDR_SIZE : at;
			rp->epoch_first_seq = r.seq;
			rp->n_epoch_records = 0;
		}
		rp->n_epoch_records++;
	}
	if (!rp->have_epoch)
		return 0;
	off = rp->epoch_off;
	while (mlog_next(f, &off, &r) > 0)
		if ((e = replay_one(rp, &r, stream, stream_len)) <= 0)
			return e;
	return 0;
}
