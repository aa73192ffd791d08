/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mreq.c: the MEASURE request and reply (mreq.h).
 */
#include <errno.h>
#include <string.h>

#include "mreq.h"
#include "util.h"

size_t
mreq_size(const struct mreq *q)
{
	if (q->stream_len > MREQ_MAX_STREAM || q->desc_len > MREQ_MAX_DESC ||
	    q->data_len > MREQ_MAX_DATA || (q->flags & ~MREQ_F_ALL) != 0)
		return 0;
	return MREQ_HDR_SIZE + 2 + q->stream_len + 2 + q->desc_len + 4 + q->data_len;
}

int
mreq_encode(const struct mreq *q, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = mreq_size(q), off = MREQ_HDR_SIZE;

	if (n == 0)
		return -EINVAL;
	if (n > cap)
		return -ENOSPC;
	out[0] = MREQ_VERSION;
	out[1] = q->reg_type;
	put_be16(out + 2, q->flags);
	put_be32(out + 4, q->reg);
	put_be32(out + 8, q->event_type);
	put_be16(out + off, (uint16_t)q->stream_len);
	if (q->stream_len > 0)
		memcpy(out + off + 2, q->stream, q->stream_len);
	off += 2 + q->stream_len;
	put_be16(out + off, (uint16_t)q->desc_len);
	if (q->desc_len > 0)
		memcpy(out + off + 2, q->desc, q->desc_len);
	off += 2 + q->desc_len;
	put_be32(out + off, (uint32_t)q->data_len);
	if (q->data_len > 0)
		memcpy(out + off + 4, q->data, q->data_len);
	*len = n;
	return 0;
}

int
mreq_decode(const uint8_t *buf, size_t len, struct mreq *q)
{
	size_t off = MREQ_HDR_SIZE;

	if (len < MREQ_HDR_SIZE + 8 || buf[0] != MREQ_VERSION)
		return -EBADMSG;
	*q = (struct mreq){
		.reg_type = buf[1],
		.flags = get_be16(buf + 2),
		.reg = get_be32(buf + 4),
		.event_type = get_be32(buf + 8),
	};
	if ((q->flags & ~MREQ_F_ALL) != 0)
		return -EBADMSG;
	if (off + 2 > len || (q->stream_len = get_be16(buf + off)) > MREQ_MAX_STREAM ||
	    off + 2 + q->stream_len > len)
		return -EBADMSG;
	q->stream = (const char *)buf + off + 2;
	off += 2 + q->stream_len;
	if (off + 2 > len || (q->desc_len = get_be16(buf + off)) > MREQ_MAX_DESC ||
	    off + 2 + q->desc_len > len)
		return -EBADMSG;
	q->desc = (const char *)buf + off + 2;
	off += 2 + q->desc_len;
	if (off + 4 > len || (q->data_len = get_be32(buf + off)) > MREQ_MAX_DATA ||
	    off + 4 + q->data_len != len)
		return -EBADMSG;
	q->data = buf + off + 4;
	return 0;
}

void
mreq_reply_put(const struct mreq_reply *r, uint8_t out[MREQ_REPLY_SIZE])
{
	put_be64(out, r->seq);
	put_be32(out + 8, r->reset_count);
	put_be32(out + 12, r->restart_count);
}

int
mreq_reply_get(const uint8_t *buf, size_t len, struct mreq_reply *r)
{
	if (buf == NULL || len != MREQ_REPLY_SIZE)
		return -EBADMSG;
	r->seq = get_be64(buf);
	r->reset_count = get_be32(buf + 8);
	r->restart_count = get_be32(buf + 12);
	return 0;
}
