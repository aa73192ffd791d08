/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlog_export.c: the measurement log as a TCG PC Client crypto-agile event
 * log and as CEL-JSON records (mlog_export.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "mlog_export.h"
#include "mlog_replay.h"
#include "util.h"

#define EV_NO_ACTION 0x00000003u
#define SPEC_ID_SIGNATURE "Spec ID Event03" /* and its NUL: 16 bytes */
#define STARTUP_LOCALITY_SIGNATURE "StartupLocality" /* and its NUL: 16 bytes */

/* ---- the output buffer ---- */

static bool
buf_grow(struct mlog_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->nomem)
		return false;
	if (b->cap - b->len >= n)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->nomem = true;
		return false;
	}
	cap = MAX(b->cap * 2, b->len + n + 256);
	if ((p = realloc(b->p, cap)) == NULL) {
		b->nomem = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void
mlog_buf_put(struct mlog_buf *b, const void *p, size_t n)
{
	if (n == 0 || !buf_grow(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
mlog_buf_printf(struct mlog_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->nomem = true; /* only short, fixed texts come through here */
		return;
	}
	mlog_buf_put(b, tmp, (size_t)n);
}

void
mlog_buf_hex(struct mlog_buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (n > SIZE_MAX / 2 || !buf_grow(b, 2 * n))
		return;
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = (uint8_t)hex[p[i] >> 4];
		b->p[b->len++] = (uint8_t)hex[p[i] & 15];
	}
}

/* the length of the valid UTF-8 sequence at s[0..n), or 0 */
static size_t
utf8_len(const uint8_t *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	/* overlong, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void
mlog_buf_json_str(struct mlog_buf *b, const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0;

	mlog_buf_put(b, "\"", 1);
	while (i < n) {
		size_t l = utf8_len(s + i, n - i);

		if (l == 0) {
			mlog_buf_put(b, "\\ufffd", 6);
			i++;
		} else if (s[i] == '"' || s[i] == '\\') {
			mlog_buf_put(b, "\\", 1);
			mlog_buf_put(b, s + i, 1);
			i++;
		} else if (s[i] == '\n') {
			mlog_buf_put(b, "\\n", 2);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			mlog_buf_printf(b, "\\u%04x", s[i]);
			i++;
		} else {
			mlog_buf_put(b, s + i, l);
			i += l;
		}
	}
	mlog_buf_put(b, "\"", 1);
}

void
mlog_buf_free(struct mlog_buf *b)
{
	free(b->p);
	*b = (struct mlog_buf){0};
}

/* ---- little-endian, as the TCG log is ---- */

static void
put_le16(struct mlog_buf *b, uint16_t v)
{
	uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	mlog_buf_put(b, p, sizeof(p));
}

static void
put_le32(struct mlog_buf *b, uint32_t v)
{
	uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	mlog_buf_put(b, p, sizeof(p));
}

/* ---- TCG ---- */

static void
tcg_spec_id(struct mlog_buf *b, const struct mlog_export_info *info)
{
	static const uint8_t zero[20];
	uint8_t sig[16] = SPEC_ID_SIGNATURE;

	put_le32(b, 0);            /* PCRIndex */
	put_le32(b, EV_NO_ACTION); /* EventType */
	mlog_buf_put(b, zero, sizeof(zero));
	put_le32(b, (uint32_t)(16 + 4 + 4 + 4 + 4 * info->n_banks + 1)); /* EventSize */
	mlog_buf_put(b, sig, sizeof(sig));
	put_le32(b, 0); /* platformClass: client */
	mlog_buf_put(b, (const uint8_t[]){0, 2, 0, 2}, 4); /* minor, major, errata, uintnSize */
	put_le32(b, (uint32_t)info->n_banks);
	for (size_t i = 0; i < info->n_banks; i++) {
		put_le16(b, info->banks[i]);
		put_le16(b, (uint16_t)mlog_alg_size(info->banks[i]));
	}
	mlog_buf_put(b, (const uint8_t[]){0}, 1); /* vendorInfoSize */
}

/* PCR 0's base 0...0L: the TPM started at locality L; say so as firmware does */
static int
tcg_startup_locality(struct mlog_buf *b, const struct mlog_reg *g,
		     const struct mlog_export_info *info)
{
	uint8_t sig[16] = STARTUP_LOCALITY_SIGNATURE, loc = g->base[0].d[g->base[0].size - 1];

	for (size_t i = 0; i < g->n_banks; i++) {
		for (size_t j = 0; j + 1 < g->base[i].size; j++)
			if (g->base[i].d[j] != 0)
				return -1;
		if (g->base[i].d[g->base[i].size - 1] != loc)
			return -1;
	}
	if (loc < 1 || loc > 4)
		return -1;
	put_le32(b, 0);
	put_le32(b, EV_NO_ACTION);
	put_le32(b, (uint32_t)info->n_banks);
	for (size_t i = 0; i < info->n_banks; i++) {
		static const uint8_t zero[MLOG_MAX_DIGEST];

		put_le16(b, info->banks[i]);
		mlog_buf_put(b, zero, mlog_alg_size(info->banks[i]));
	}
	put_le32(b, 17);
	mlog_buf_put(b, sig, sizeof(sig));
	mlog_buf_put(b, &loc, 1);
	return 0;
}

static void
tcg_event(struct mlog_buf *b, const struct mlog_rec *r, const struct mlog_export_info *info)
{
	put_le32(b, r->reg);
	put_le32(b, r->event_type);
	put_le32(b, (uint32_t)r->n_dig);
	/* in the Spec ID's order: every bank of the record is one of them */
	for (size_t i = 0; i < info->n_banks; i++)
		for (size_t j = 0; j < r->n_dig; j++)
			if (r->dig[j].alg == info->banks[i]) {
				put_le16(b, r->dig[j].alg);
				mlog_buf_put(b, r->dig[j].d, r->dig[j].size);
			}
	put_le32(b, (uint32_t)r->data_len);
	mlog_buf_put(b, r->data, r->data_len);
}

/* ---- CEL-JSON ---- */

static void
put_str(struct mlog_buf *b, const char *s)
{
	mlog_buf_put(b, s, strlen(s));
}

static void
cel_event(struct mlog_buf *b, const struct mlog_rec *r)
{
	const char *et = mlog_event_type_name(r->event_type);

	mlog_buf_printf(b, "\x1e{\"recnum\":%llu,\"pcr\":%u,\"digests\":[",
			(unsigned long long)r->seq, r->reg);
	for (size_t i = 0; i < r->n_dig; i++) {
		mlog_buf_printf(b, "%s{\"hashAlg\":\"%s\",\"digest\":\"", i > 0 ? "," : "",
				mlog_alg_name(r->dig[i].alg));
		mlog_buf_hex(b, r->dig[i].d, r->dig[i].size);
		mlog_buf_put(b, "\"}", 2);
	}
	put_str(b, "],\"content_type\":\"systemd\",\"content\":{\"string\":");
	mlog_buf_json_str(b, r->desc, r->desc_len);
	put_str(b, ",\"stream\":");
	mlog_buf_json_str(b, r->stream, r->stream_len);
	if (et != NULL)
		mlog_buf_printf(b, ",\"tcgEventType\":\"%s\"", et);
	else
		mlog_buf_printf(b, ",\"tcgEventType\":\"0x%08x\"", r->event_type);
	put_str(b, ",\"data\":\"");
	mlog_buf_hex(b, r->data, r->data_len);
	mlog_buf_printf(b, "\",\"uid\":%u,\"pid\":%u,\"timeNs\":%llu,\"epoch\":\"%u/%u\"}}\n",
			r->uid, r->pid, (unsigned long long)r->time_ns, r->reset_count,
			r->restart_count);
}

/* ---- both ---- */

/* the banks of the epoch's PCRs, in the TPM's algorithm order */
static void
collect_banks(const struct mlog_replay *rp, struct mlog_export_info *info)
{
	static const uint16_t order[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384,
					 TPM2_ALG_SHA512, TPM2_ALG_SM3_256};

	for (size_t o = 0; o < ARRAY_SIZE(order); o++) {
		bool seen = false;

		for (size_t i = 0; i < rp->n_regs && !seen; i++)
			if (rp->regs[i].reg_type == MLOG_REG_PCR)
				for (size_t j = 0; j < rp->regs[i].n_banks; j++)
					seen |= rp->regs[i].v[j].alg == order[o];
		if (seen)
			info->banks[info->n_banks++] = order[o];
	}
	if (info->n_banks == 0) /* no PCR in this epoch: an empty log still names a bank */
		info->banks[info->n_banks++] = TPM2_ALG_SHA256;
}

int
mlog_export(const struct mlog_file *f, enum mlog_export_format fmt, struct mlog_buf *out,
	    struct mlog_export_info *info)
{
	_cleanup_(freep) struct mlog_replay *rp = calloc(1, sizeof(*rp));
	const struct mlog_reg *pcr0;
	struct mlog_rec r;
	size_t off;
	int e;

	*info = (struct mlog_export_info){0};
	if (rp == NULL)
		return -ENOMEM;
	if ((e = mlog_replay(f, NULL, 0, rp)) < 0)
		return e;
	if (rp->bad_seq != 0) {
		info->bad_seq = rp->bad_seq;
		info->bad_why = rp->bad_why;
		return -EBADMSG;
	}
	collect_banks(rp, info);
	for (size_t i = 0; i < rp->n_regs; i++)
		if (rp->regs[i].reg_type == MLOG_REG_PCR && rp->regs[i].base_nonzero)
			info->nonzero_base |= 1u << rp->regs[i].reg;
	if (fmt == MLOG_EXPORT_TCG) {
		tcg_spec_id(out, info);
		pcr0 = mlog_replay_find(rp, MLOG_REG_PCR, 0);
		if (pcr0 != NULL && pcr0->base_nonzero && tcg_startup_locality(out, pcr0, info) == 0) {
			info->nonzero_base &= ~1u;
			info->startup_locality = true;
		}
	}
	off = rp->epoch_off;
	while (rp->have_epoch && mlog_next(f, &off, &r) > 0) {
		if (r.kind != MLOG_EVENT)
			continue;
		if (r.reg_type != MLOG_REG_PCR) {
			info->n_rtmr_skipped++;
			continue;
		}
		if (r.event_type == EV_NO_ACTION)
			info->n_no_action++;
		if (fmt == MLOG_EXPORT_TCG)
			tcg_event(out, &r, info);
		else
			cel_event(out, &r);
		info->n_events++;
	}
	return out->nomem ? -ENOMEM : 0;
}
