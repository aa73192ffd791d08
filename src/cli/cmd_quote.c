/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmd_quote.c: `tpmbroker quote` (a batched quote, common/qmsg.h) and
 * `tpmbroker verify-quote` (its signature, PCR digest and the path from the
 * nonce to qualifyingData, common/qtree.h), the verifier's side with
 * OpenSSL only: no TPM, no daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "cli.h"
#include "common/proto.h"
#include "common/qmsg.h"
#include "common/qtree.h"
#include "common/util.h"

/* a quote's TPM work may queue behind other clients' */
#define QUOTE_TIMEOUT_S 60u
#define FILE_MAX (64u * 1024u)

static int cmd_quote(const struct cli_ctx *ctx, int argc, char **argv);
static int cmd_verify_quote(const struct cli_ctx *ctx, int argc, char **argv);

const struct cli_cmd cli_cmd_quote = {
	.name = "quote",
	.run = cmd_quote,
	.synopsis = "quote --key CTX --pcrs LIST --nonce HEX [--out-quote F --out-sig F "
		    "--out-path F | --json]",
	.help = "  quote                a TPM2_Quote of PCRs LIST by the key CTX (a context\n"
		"                       file as tpm2-tools write it; a signing key without\n"
		"                       auth), over the nonce; requests for the same key and\n"
		"                       PCRs that come together share one TPM2_Quote whose\n"
		"                       qualifyingData is the root of a hash tree of their\n"
		"                       nonces, and each gets its path in the tree\n"
		"    -c, --key=CTX      the signing key's context file\n"
		"    -l, --pcrs=LIST    PCRs as tpm2-tools write them: sha256:0,1,16+sha1:0\n"
		"    -n, --nonce=HEX    the verifier's nonce, 1..64 bytes in hex\n"
		"    -g, --scheme=ALG   rsassa, rsapss or ecdsa, with :HASH (default sha256);\n"
		"                       default: the key's own scheme\n"
		"    -a, --alone        a quote of its own (never batched): qualifyingData is\n"
		"                       the nonce, as tpm2_quote makes it\n"
		"    -m, --out-quote=F  write the quote (TPMS_ATTEST) to F\n"
		"    -s, --out-sig=F    write the signature (TPMT_SIGNATURE) to F\n"
		"    -p, --out-path=F   write the path from the nonce to qualifyingData to F\n"
		"    -j, --json         print all of it as one JSON object (hex)\n",
};

const struct cli_cmd cli_cmd_verify_quote = {
	.name = "verify-quote",
	.run = cmd_verify_quote,
	.synopsis = "verify-quote (--pubkey PEM | --key-pub FILE) --msg F --sig F --nonce HEX "
		    "[--path F] [--pcrs LIST --pcr-values F]",
	.help = "  verify-quote         check a quote: its signature by the key, that it is a\n"
		"                       quote, that the path leads from the nonce to its\n"
		"                       qualifyingData (no path: it is the nonce), and with\n"
		"                       --pcrs and --pcr-values that it quotes those values;\n"
		"                       exit 1 and say why when anything does not hold\n"
		"    -u, --pubkey=PEM   the key's public key, PEM (tpm2_readpublic -f pem)\n"
		"    -k, --key-pub=F    or its TPM2B_PUBLIC (tpm2_create -u, tpm2_readpublic -o)\n"
		"    -m, --msg=F        the quote (TPMS_ATTEST)\n"
		"    -s, --sig=F        the signature (TPMT_SIGNATURE)\n"
		"    -n, --nonce=HEX    the nonce the verifier chose\n"
		"    -p, --path=F       the path quote --out-path wrote\n"
		"    -l, --pcrs=LIST    the PCRs the quote must cover\n"
		"    -f, --pcr-values=F their values, concatenated in LIST's order (tpm2_pcrread\n"
		"                       -o writes them so)\n",
};

/* The whole file, at most FILE_MAX bytes; prints why not. */
static int
read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(freep) uint8_t *buf = malloc(FILE_MAX + 1);
	FILE *f;
	size_t n;

	if (buf == NULL)
		return -ENOMEM;
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "tpmbroker: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f) || n > FILE_MAX) {
		fprintf(stderr, "tpmbroker: %s: %s\n", path, n > FILE_MAX ? "too big" : "read error");
		(void)fclose(f);
		return -EIO;
	}
	(void)fclose(f);
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

static int
write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "tpmbroker: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			(void)fclose(f);
		return -EIO;
	}
	return 0;
}

static void
print_hex(const char *key, const uint8_t *p, size_t n, const char *sep)
{
	printf("\"%s\": \"", key);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\"%s", sep);
}

/* "rsassa[:sha256]" ... */
static int
parse_scheme(const char *s, TPMT_SIG_SCHEME *ret)
{
	static const struct {
		const char *name;
		TPM2_ALG_ID alg;
	} schemes[] = {
		{"rsassa", TPM2_ALG_RSASSA},
		{"rsapss", TPM2_ALG_RSAPSS},
		{"ecdsa", TPM2_ALG_ECDSA},
		{"null", TPM2_ALG_NULL},
	};
	const char *colon = strchr(s, ':');
	size_t len = colon != NULL ? (size_t)(colon - s) : strlen(s);
	TPM2_ALG_ID hash = TPM2_ALG_SHA256;

	if (colon != NULL) {
		hash = TPM2_ALG_NULL;
		for (TPM2_ALG_ID a = TPM2_ALG_SHA1; a <= TPM2_ALG_SHA512; a++)
			if (qmsg_hash_name(a) != NULL && strcmp(qmsg_hash_name(a), colon + 1) == 0)
				hash = a;
		if (hash == TPM2_ALG_NULL)
			return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
		if (strlen(schemes[i].name) == len && strncmp(schemes[i].name, s, len) == 0) {
			ret->scheme = schemes[i].alg;
			ret->details.any.hashAlg = hash;
			return 0;
		}
	}
	return -EINVAL;
}

static int
quote_output(const struct cli_ctx *ctx, const struct qmsg_reply *q, const char *out_quote,
	     const char *out_sig, const char *out_path)
{
	uint8_t sig[sizeof(TPMT_SIGNATURE)], path[QTREE_PATH_MAX];
	size_t sig_len = 0, path_len;
	TPMS_ATTEST a;
	size_t off = 0;

	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&q->sig, sig, sizeof(sig), &sig_len) != TSS2_RC_SUCCESS ||
	    (path_len = qtree_path_encode(&q->path, path, sizeof(path))) == 0 ||
	    Tss2_MU_TPMS_ATTEST_Unmarshal(q->quoted.attestationData, q->quoted.size, &off, &a) !=
		    TSS2_RC_SUCCESS) {
		fprintf(stderr, "tpmbroker: quote: the daemon's answer does not parse\n");
		return EXIT_NO_DAEMON;
	}
	if ((out_quote != NULL &&
	     write_file(out_quote, q->quoted.attestationData, q->quoted.size) < 0) ||
	    (out_sig != NULL && write_file(out_sig, sig, sig_len) < 0) ||
	    (out_path != NULL && write_file(out_path, path, path_len) < 0))
		return EXIT_TPM_ERROR;
	if (ctx->json) {
		printf("{\"batch\": %u, \"index\": %u, ", q->batch, q->index);
		print_hex("qualifying_data", a.extraData.buffer, a.extraData.size, ", ");
		print_hex("quote", q->quoted.attestationData, q->quoted.size, ", ");
		print_hex("signature", sig, sig_len, ", ");
		print_hex("path", path, path_len, "}\n");
	} else if (out_quote == NULL && out_sig == NULL && out_path == NULL) {
		printf("quote: one of a batch of %u (leaf %u), a path of %u steps\n", q->batch,
		       q->index, q->path.n);
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_TPM_ERROR;
}

static int
cmd_quote(const struct cli_ctx *ctx_in, int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'c'},
		{"pcrs", required_argument, NULL, 'l'},
		{"nonce", required_argument, NULL, 'n'},
		{"scheme", required_argument, NULL, 'g'},
		{"alone", no_argument, NULL, 'a'},
		{"out-quote", required_argument, NULL, 'm'},
		{"out-sig", required_argument, NULL, 's'},
		{"out-path", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	struct cli_ctx ctx = *ctx_in;
	const char *key = NULL, *pcrs = NULL, *nonce = NULL, *outq = NULL, *outs = NULL,
		   *outp = NULL;
	struct qmsg_req q = {.scheme = {.scheme = TPM2_ALG_NULL}};
	_cleanup_(freep) uint8_t *file = NULL, *body = NULL, *req = NULL;
	struct qmsg_reply rep;
	size_t file_len, len, body_len = 0, nonce_len = 0;
	uint8_t flags = 0;
	uint32_t rc;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+c:l:n:g:am:s:p:j", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': key = optarg; break;
		case 'l': pcrs = optarg; break;
		case 'n': nonce = optarg; break;
		case 'a': flags |= QMSG_FLAG_ALONE; break;
		case 'm': outq = optarg; break;
		case 's': outs = optarg; break;
		case 'p': outp = optarg; break;
		case 'j': ctx.json = true; break;
		case 'g':
			if (parse_scheme(optarg, &q.scheme) == 0)
				break;
			fprintf(stderr, "tpmbroker: quote: --scheme: '%s' is not rsassa, rsapss "
					"or ecdsa[:HASH]\n", optarg);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "usage: tpmbroker %s\n", cli_cmd_quote.synopsis);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || key == NULL || pcrs == NULL || nonce == NULL) {
		fprintf(stderr, "tpmbroker: quote: --key, --pcrs and --nonce are needed\n"
				"usage: tpmbroker %s\n", cli_cmd_quote.synopsis);
		return EXIT_USAGE;
	}
	if (qmsg_pcr_parse(pcrs, &q.pcrs) < 0) {
		fprintf(stderr, "tpmbroker: quote: --pcrs: '%s' is not like sha256:0,1,16+sha1:0\n",
			pcrs);
		return EXIT_USAGE;
	}
	if (cli_hex_decode(nonce, q.nonce.buffer, QTREE_NONCE_MAX, &nonce_len) < 0 ||
	    nonce_len == 0) {
		fprintf(stderr, "tpmbroker: quote: --nonce wants 1..%u bytes in hex\n",
			QTREE_NONCE_MAX);
		return EXIT_USAGE;
	}
	q.nonce.size = (uint16_t)nonce_len;
	if (read_file(key, &file, &file_len) < 0)
		return EXIT_USAGE;
	if (qmsg_context_file_parse(file, file_len, &q.context) < 0) {
		fprintf(stderr, "tpmbroker: quote: %s is not a tpm2-tools context file\n", key);
		return EXIT_USAGE;
	}
	if ((req = malloc(TB_PROTO_MAX_REQUEST)) == NULL)
		return EXIT_TPM_ERROR;
	if ((len = qmsg_req_encode(&q, req, TB_PROTO_MAX_REQUEST)) == 0) {
		fprintf(stderr, "tpmbroker: quote: the request does not fit\n");
		return EXIT_USAGE;
	}
	r = cli_service(&ctx, QUOTE_TIMEOUT_S, TB_MSG_QUOTE, flags, req, len, &rc, &body,
			&body_len);
	if (r != EXIT_OK)
		return r;
	if (rc != 0) {
		cli_print_rc(rc);
		return EXIT_TPM_ERROR;
	}
	if (body == NULL || qmsg_reply_decode(body, body_len, &rep) < 0) {
		fprintf(stderr, "tpmbroker: quote: the daemon's answer does not parse\n");
		return EXIT_NO_DAEMON;
	}
	return quote_output(&ctx, &rep, outq, outs, outp);
}

/* ---- verify-quote ---- */

/* A TPM2B_PUBLIC (RSA or ECC) as an OpenSSL key; NULL with a message. */
static EVP_PKEY *
pkey_from_tpm(const TPM2B_PUBLIC *pub)
{
	const TPMT_PUBLIC *p = &pub->publicArea;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t point[1 + 2 * TPM2_MAX_ECC_KEY_BYTES];
	const char *type = NULL, *group = NULL;
	int ok = bld != NULL;

	if (ok && p->type == TPM2_ALG_RSA) {
		type = "RSA";
		n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
		e = BN_new();
		ok = n != NULL && e != NULL &&
		     BN_set_word(e, p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent
								     : 65537) == 1 &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
		     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1;
	} else if (ok && p->type == TPM2_ALG_ECC) {
		size_t x = p->unique.ecc.x.size, y = p->unique.ecc.y.size;

		type = "EC";
		group = p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256   ? "prime256v1"
			: p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? "secp384r1"
			: p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P521 ? "secp521r1"
										: NULL;
		point[0] = 0x04;
		memcpy(point + 1, p->unique.ecc.x.buffer, x);
		memcpy(point + 1 + x, p->unique.ecc.y.buffer, y);
		ok = group != NULL &&
		     OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
		     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						      1 + x + y) == 1;
	} else {
		ok = 0;
	}
	ok = ok && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	     (pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) != NULL &&
	     EVP_PKEY_fromdata_init(pctx) == 1 &&
	     EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
	if (!ok)
		fprintf(stderr, "tpmbroker: verify-quote: the key is not an RSA or NIST ECC key\n");
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return ok ? pkey : NULL;
}

static EVP_PKEY *
load_key(const char *pem, const char *tpm_pub)
{
	_cleanup_(freep) uint8_t *buf = NULL;
	TPM2B_PUBLIC pub = {0};
	size_t len, off = 0;
	EVP_PKEY *pkey;
	FILE *f;

	if (pem != NULL) {
		if ((f = fopen(pem, "r")) == NULL) {
			fprintf(stderr, "tpmbroker: %s: %s\n", pem, strerror(errno));
			return NULL;
		}
		pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		(void)fclose(f);
		if (pkey == NULL)
			fprintf(stderr, "tpmbroker: %s: not a PEM public key\n", pem);
		return pkey;
	}
	if (read_file(tpm_pub, &buf, &len) < 0)
		return NULL;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub) != TSS2_RC_SUCCESS || off != len) {
		fprintf(stderr, "tpmbroker: %s: not a TPM2B_PUBLIC\n", tpm_pub);
		return NULL;
	}
	return pkey_from_tpm(&pub);
}

static const EVP_MD *
hash_md(TPM2_ALG_ID alg)
{
	const char *name = qmsg_hash_name(alg);

	return name != NULL && alg != TPM2_ALG_SM3_256 ? EVP_get_digestbyname(name) : NULL;
}

/* The signature sig over msg by pkey: 0, or a message and -1. */
static int
check_signature(EVP_PKEY *pkey, const uint8_t *msg, size_t len, const TPMT_SIGNATURE *sig)
{
	uint8_t md[EVP_MAX_MD_SIZE], der[256];
	const uint8_t *s = der;
	const EVP_MD *h = hash_md(sig->signature.any.hashAlg);
	EVP_PKEY_CTX *pctx = NULL;
	size_t s_len = 0;
	unsigned md_len = 0;
	int ok;

	if (h == NULL || EVP_Digest(msg, len, md, &md_len, h, NULL) != 1) {
		fprintf(stderr, "tpmbroker: verify-quote: the signature's hash is not supported\n");
		return -1;
	}
	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		s = sig->signature.rsassa.sig.buffer;
		s_len = sig->signature.rsassa.sig.size;
		break;
	case TPM2_ALG_ECDSA: {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig->signature.ecdsa.signatureR.buffer,
				      sig->signature.ecdsa.signatureR.size, NULL);
		BIGNUM *v = BN_bin2bn(sig->signature.ecdsa.signatureS.buffer,
				      sig->signature.ecdsa.signatureS.size, NULL);
		uint8_t *p = der;
		int n;

		if (es == NULL || r == NULL || v == NULL || ECDSA_SIG_set0(es, r, v) != 1) {
			BN_free(r);
			BN_free(v);
			ECDSA_SIG_free(es);
			return -1;
		}
		n = i2d_ECDSA_SIG(es, NULL);
		if (n > 0 && (size_t)n <= sizeof(der))
			n = i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		if (n <= 0 || (size_t)n > sizeof(der))
			return -1;
		s_len = (size_t)n;
		break;
	}
	default:
		fprintf(stderr, "tpmbroker: verify-quote: signature algorithm 0x%04x is not "
				"supported\n", sig->sigAlg);
		return -1;
	}
	ok = (pctx = EVP_PKEY_CTX_new(pkey, NULL)) != NULL && EVP_PKEY_verify_init(pctx) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(pctx, h) == 1;
	if (ok && sig->sigAlg == TPM2_ALG_RSASSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
	if (ok && sig->sigAlg == TPM2_ALG_RSAPSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) == 1;
	ok = ok && EVP_PKEY_verify(pctx, s, s_len, md, md_len) == 1;
	EVP_PKEY_CTX_free(pctx);
	if (!ok) {
		fprintf(stderr, "tpmbroker: verify-quote: the signature does not verify with "
				"this key\n");
		return -1;
	}
	return 0;
}

/* The quote's PCR selection is sel, and its digest that of values (with hash alg). */
static int
check_pcrs(const TPMS_QUOTE_INFO *qi, const TPML_PCR_SELECTION *sel, const uint8_t *values,
	   size_t len, TPM2_ALG_ID alg)
{
	uint8_t a[sizeof(TPML_PCR_SELECTION)], b[sizeof(TPML_PCR_SELECTION)];
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t a_len = 0, b_len = 0, want = 0;
	unsigned md_len = 0;
	const EVP_MD *h = hash_md(alg);

	if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&qi->pcrSelect, a, sizeof(a), &a_len) != 0 ||
	    Tss2_MU_TPML_PCR_SELECTION_Marshal(sel, b, sizeof(b), &b_len) != 0 || a_len != b_len ||
	    memcmp(a, b, a_len) != 0) {
		fprintf(stderr, "tpmbroker: verify-quote: the quote is of other PCRs than --pcrs\n");
		return -1;
	}
	if (values == NULL)
		return 0;
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		for (unsigned k = 0; k < s->sizeofSelect * 8u; k++)
			if (s->pcrSelect[k / 8] & (1u << (k % 8)))
				want += qmsg_hash_size(s->hash);
	}
	if (len != want) {
		fprintf(stderr, "tpmbroker: verify-quote: --pcr-values has %zu bytes, the "
				"selection wants %zu\n", len, want);
		return -1;
	}
	if (h == NULL || EVP_Digest(values, len, md, &md_len, h, NULL) != 1 ||
	    md_len != qi->pcrDigest.size || memcmp(md, qi->pcrDigest.buffer, md_len) != 0) {
		fprintf(stderr, "tpmbroker: verify-quote: the quote's PCR digest is not that of "
				"--pcr-values\n");
		return -1;
	}
	return 0;
}

struct vq_args {
	const char *pem, *tpm_pub, *msg, *sig, *nonce, *path, *pcrs, *values;
};

static int
vq_parse(int argc, char **argv, struct vq_args *a)
{
	static const struct option opts[] = {
		{"pubkey", required_argument, NULL, 'u'},
		{"key-pub", required_argument, NULL, 'k'},
		{"msg", required_argument, NULL, 'm'},
		{"sig", required_argument, NULL, 's'},
		{"nonce", required_argument, NULL, 'n'},
		{"path", required_argument, NULL, 'p'},
		{"pcrs", required_argument, NULL, 'l'},
		{"pcr-values", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+u:k:m:s:n:p:l:f:", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': a->pem = optarg; break;
		case 'k': a->tpm_pub = optarg; break;
		case 'm': a->msg = optarg; break;
		case 's': a->sig = optarg; break;
		case 'n': a->nonce = optarg; break;
		case 'p': a->path = optarg; break;
		case 'l': a->pcrs = optarg; break;
		case 'f': a->values = optarg; break;
		default: return -EINVAL;
		}
	}
	if (optind != argc || (a->pem == NULL) == (a->tpm_pub == NULL) || a->msg == NULL ||
	    a->sig == NULL || a->nonce == NULL || (a->values != NULL && a->pcrs == NULL))
		return -EINVAL;
	return 0;
}

static int
cmd_verify_quote(const struct cli_ctx *ctx, int argc, char **argv)
{
	struct vq_args a = {0};
	_cleanup_(freep) uint8_t *msg = NULL, *sigf = NULL, *pathf = NULL, *values = NULL;
	uint8_t nonce[QTREE_NONCE_MAX];
	size_t msg_len, sig_len, path_len, values_len = 0, nonce_len = 0, off = 0, used;
	struct qtree_path path = {0};
	TPML_PCR_SELECTION sel;
	TPMT_SIGNATURE sig;
	TPMS_ATTEST att;
	EVP_PKEY *pkey;
	int r;

	(void)ctx;
	if (vq_parse(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: tpmbroker %s\n", cli_cmd_verify_quote.synopsis);
		return EXIT_USAGE;
	}
	if (cli_hex_decode(a.nonce, nonce, sizeof(nonce), &nonce_len) < 0 || nonce_len == 0) {
		fprintf(stderr, "tpmbroker: verify-quote: --nonce wants 1..%u bytes in hex\n",
			QTREE_NONCE_MAX);
		return EXIT_USAGE;
	}
	if (a.pcrs != NULL && qmsg_pcr_parse(a.pcrs, &sel) < 0) {
		fprintf(stderr, "tpmbroker: verify-quote: --pcrs: '%s' is not like sha256:0,16\n",
			a.pcrs);
		return EXIT_USAGE;
	}
	if (read_file(a.msg, &msg, &msg_len) < 0 || read_file(a.sig, &sigf, &sig_len) < 0 ||
	    (a.path != NULL && read_file(a.path, &pathf, &path_len) < 0) ||
	    (a.values != NULL && read_file(a.values, &values, &values_len) < 0))
		return EXIT_USAGE;
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(msg, msg_len, &off, &att) != TSS2_RC_SUCCESS ||
	    off != msg_len || att.magic != TPM2_GENERATED_VALUE || att.type != TPM2_ST_ATTEST_QUOTE) {
		fprintf(stderr, "tpmbroker: verify-quote: %s is not a TPM quote\n", a.msg);
		return EXIT_TPM_ERROR;
	}
	off = 0;
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sigf, sig_len, &off, &sig) != TSS2_RC_SUCCESS ||
	    off != sig_len) {
		fprintf(stderr, "tpmbroker: verify-quote: %s is not a TPMT_SIGNATURE\n", a.sig);
		return EXIT_TPM_ERROR;
	}
	if (pathf != NULL && (qtree_path_decode(pathf, path_len, &path, &used) < 0 ||
			      used != path_len)) {
		fprintf(stderr, "tpmbroker: verify-quote: %s is not a quote path\n", a.path);
		return EXIT_TPM_ERROR;
	}
	if ((pkey = load_key(a.pem, a.tpm_pub)) == NULL)
		return EXIT_TPM_ERROR;
	r = check_signature(pkey, msg, msg_len, &sig);
	EVP_PKEY_free(pkey);
	if (r < 0)
		return EXIT_TPM_ERROR;
	if (qtree_verify(nonce, nonce_len, &path, att.extraData.buffer, att.extraData.size) < 0) {
		fprintf(stderr, "tpmbroker: verify-quote: the %s does not lead from the nonce to the "
				"quote's qualifyingData\n", path.n == 0 ? "(empty) path" : "path");
		return EXIT_TPM_ERROR;
	}
	if (a.pcrs != NULL && check_pcrs(&att.attested.quote, &sel, values, values_len,
					 sig.signature.any.hashAlg) < 0)
		return EXIT_TPM_ERROR;
	printf("verify-quote: ok: signature, quote of %s, nonce %s%s\n",
	       a.pcrs != NULL ? a.pcrs : "its PCRs",
	       path.n == 0 ? "as qualifyingData" : "in the tree",
	       values != NULL ? ", PCR values" : "");
	return EXIT_OK;
}
