/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * qmsg.c: QUOTE request and reply payloads (qmsg.h), with libtss2-mu.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "qmsg.h"

#define CONTEXT_FILE_MAGIC 0xBADCC0DEu
#define CONTEXT_FILE_VERSION 1u

size_t
qmsg_req_encode(const struct qmsg_req *q, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	if (q->nonce.size < 1 || q->nonce.size > QTREE_NONCE_MAX)
		return 0;
	if (Tss2_MU_TPMS_CONTEXT_Marshal(&q->context, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPML_PCR_SELECTION_Marshal(&q->pcrs, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMT_SIG_SCHEME_Marshal(&q->scheme, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_DATA_Marshal(&q->nonce, buf, cap, &off) != TSS2_RC_SUCCESS)
		return 0;
	return off;
}

uint32_t
qmsg_req_decode(const uint8_t *buf, size_t len, struct qmsg_req *ret)
{
	size_t off = 0;

	memset(ret, 0, sizeof(*ret));
	if (Tss2_MU_TPMS_CONTEXT_Unmarshal(buf, len, &off, &ret->context) != TSS2_RC_SUCCESS)
		return TPM2_RC_SIZE;
	ret->ctx_len = off;
	if (Tss2_MU_TPML_PCR_SELECTION_Unmarshal(buf, len, &off, &ret->pcrs) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMT_SIG_SCHEME_Unmarshal(buf, len, &off, &ret->scheme) != TSS2_RC_SUCCESS)
		return TPM2_RC_SIZE;
	ret->key_len = off;
	if (Tss2_MU_TPM2B_DATA_Unmarshal(buf, len, &off, &ret->nonce) != TSS2_RC_SUCCESS)
		return TPM2_RC_SIZE;
	if (off != len)
		return TPM2_RC_SIZE;
	if (ret->nonce.size < 1 || ret->nonce.size > QTREE_NONCE_MAX ||
	    ret->context.contextBlob.size == 0)
		return TPM2_RC_VALUE;
	for (uint32_t i = 0; i < ret->pcrs.count; i++) {
		if (ret->pcrs.pcrSelections[i].sizeofSelect > TPM2_PCR_SELECT_MAX)
			return TPM2_RC_VALUE;
	}
	return 0;
}

size_t
qmsg_reply_encode(const struct qmsg_reply *q, uint8_t *buf, size_t cap)
{
	size_t off = 0, n;

	if (Tss2_MU_TPM2B_ATTEST_Marshal(&q->quoted, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMT_SIGNATURE_Marshal(&q->sig, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT16_Marshal(q->batch, buf, cap, &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT16_Marshal(q->index, buf, cap, &off) != TSS2_RC_SUCCESS)
		return 0;
	if ((n = qtree_path_encode(&q->path, buf + off, cap - off)) == 0)
		return 0;
	return off + n;
}

int
qmsg_reply_decode(const uint8_t *buf, size_t len, struct qmsg_reply *ret)
{
	size_t off = 0, used = 0;

	memset(ret, 0, sizeof(*ret));
	if (Tss2_MU_TPM2B_ATTEST_Unmarshal(buf, len, &off, &ret->quoted) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, &ret->sig) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT16_Unmarshal(buf, len, &off, &ret->batch) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT16_Unmarshal(buf, len, &off, &ret->index) != TSS2_RC_SUCCESS)
		return -EBADMSG;
	if (qtree_path_decode(buf + off, len - off, &ret->path, &used) < 0 || off + used != len)
		return -EBADMSG;
	return 0;
}

int
qmsg_context_file_parse(const uint8_t *buf, size_t len, TPMS_CONTEXT *ret)
{
	size_t off = 0;
	uint32_t magic, version, reserved;

	if (Tss2_MU_UINT32_Unmarshal(buf, len, &off, &magic) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Unmarshal(buf, len, &off, &version) != TSS2_RC_SUCCESS ||
	    magic != CONTEXT_FILE_MAGIC || version != CONTEXT_FILE_VERSION)
		return -EBADMSG;
	/* not TPMS_CONTEXT's order: hierarchy, savedHandle, sequence, then the blob */
	if (Tss2_MU_UINT32_Unmarshal(buf, len, &off, &ret->hierarchy) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT32_Unmarshal(buf, len, &off, &ret->savedHandle) != TSS2_RC_SUCCESS ||
	    Tss2_MU_UINT64_Unmarshal(buf, len, &off, &ret->sequence) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_CONTEXT_DATA_Unmarshal(buf, len, &off, &ret->contextBlob) !=
		    TSS2_RC_SUCCESS ||
	    off != len)
		return -EBADMSG;
	/*
	 * tpm2-tools save through ESYS, whose Esys_ContextSave wraps the TPM's
	 * blob (IESYSC_CONTEXT_DATA: u32 reserved 0, the TPM's TPM2B_CONTEXT_DATA,
	 * then ESYS's metadata of the object).  A TPM blob itself starts with its
	 * integrity digest's non-zero size, so the zero word tells them apart.
	 */
	off = 0;
	if (Tss2_MU_UINT32_Unmarshal(ret->contextBlob.buffer, ret->contextBlob.size, &off,
				     &reserved) == TSS2_RC_SUCCESS &&
	    reserved == 0) {
		TPM2B_CONTEXT_DATA inner = {0};

		if (Tss2_MU_TPM2B_CONTEXT_DATA_Unmarshal(ret->contextBlob.buffer,
							 ret->contextBlob.size, &off,
							 &inner) != TSS2_RC_SUCCESS)
			return -EBADMSG;
		ret->contextBlob = inner;
	}
	return 0;
}

static const struct {
	const char *name;
	TPM2_ALG_ID alg;
	size_t size;
} hashes[] = {
	{"sha1", TPM2_ALG_SHA1, 20},
	{"sha256", TPM2_ALG_SHA256, 32},
	{"sha384", TPM2_ALG_SHA384, 48},
	{"sha512", TPM2_ALG_SHA512, 64},
	{"sm3_256", TPM2_ALG_SM3_256, 32},
};

const char *
qmsg_hash_name(TPM2_ALG_ID alg)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].alg == alg)
			return hashes[i].name;
	return NULL;
}

size_t
qmsg_hash_size(TPM2_ALG_ID alg)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].alg == alg)
			return hashes[i].size;
	return 0;
}

/* "sha256:0,1,16" into one TPMS_PCR_SELECTION */
static int
pcr_bank_parse(const char *s, size_t len, TPMS_PCR_SELECTION *ret)
{
	const char *colon = memchr(s, ':', len), *p, *end = s + len;
	size_t i;

	if (colon == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (strlen(hashes[i].name) == (size_t)(colon - s) &&
		    memcmp(hashes[i].name, s, (size_t)(colon - s)) == 0)
			break;
	}
	if (i == sizeof(hashes) / sizeof(hashes[0]))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->hash = hashes[i].alg;
	ret->sizeofSelect = 3;
	p = colon + 1;
	if ((size_t)(end - p) == 3 && memcmp(p, "all", 3) == 0) {
		memset(ret->pcrSelect, 0xff, 3);
		return 0;
	}
	while (p < end) {
		unsigned long v = 0;
		const char *q = p;

		while (q < end && *q >= '0' && *q <= '9' && v <= 23)
			v = v * 10 + (unsigned long)(*q++ - '0');
		if (q == p || v > 23 || (q < end && *q != ','))
			return -EINVAL;
		ret->pcrSelect[v / 8] |= (uint8_t)(1u << (v % 8));
		p = q < end ? q + 1 : q;
		if (q < end && p == end)
			return -EINVAL; /* a trailing comma */
	}
	return 0;
}

int
qmsg_pcr_parse(const char *s, TPML_PCR_SELECTION *ret)
{
	memset(ret, 0, sizeof(*ret));
	while (*s != '\0') {
		const char *plus = strchr(s, '+');
		size_t len = plus != NULL ? (size_t)(plus - s) : strlen(s);

		if (ret->count >= TPM2_NUM_PCR_BANKS ||
		    pcr_bank_parse(s, len, &ret->pcrSelections[ret->count]) < 0)
			return -EINVAL;
		ret->count++;
		s += len;
		if (*s == '+' && *++s == '\0')
			return -EINVAL;
	}
	return ret->count > 0 ? 0 : -EINVAL;
}
