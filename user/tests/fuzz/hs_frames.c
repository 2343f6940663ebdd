// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the handshake's frames as a peer sends them, the
 * input being the bytes on the connection.  tm_wire_recv() cuts them
 * into frames and each is decoded as the handshake decodes its type:
 * M1, M2, M3 and RESULT as strict DER, the hellos of M1 and M2 checked
 * (a token and at most TM_CHAIN_MAX intermediates, nonce and point
 * sizes), the TPM structures of M2 and M3 unmarshalled and their IMA
 * lists replayed and judged against a baseline's "ima", RESULT's
 * status re-encoded and read back, ALERT as a status with its reason
 * made printable.
 */
#include <sys/socket.h>

/* The decoders and the ASN.1 templates are static. */
#include "handshake.c"

/* The largest input that fits in the socket without a reader. */
#define HS_INPUT_MAX	65536

static void hs_attest(const struct tm_asn_attest *a)
{
	static struct tm_ima_file module = {
		.path = "/trustmig.ko", .key_module = 1,
	};
	static const struct tm_baseline b = {
		.id = "fuzz", .version = 1, .bank = TPM2_ALG_SHA256,
		.has_ima = 1, .nima = 1, .ima = &module,
	};
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;

	if (!tm_os_get_attest(a->quote, &attest))
		tm_os_get_signature(a->sig, &sig);
	tm_ima_check(&b, a->ima->data, a->ima->length, "fuzz");
}

static void hs_status(const unsigned char *body, size_t len)
{
	char reason[TM_HS_REASON];
	long code;

	tm_hs_status(body, len, &code, reason, sizeof(reason));
}

static void hs_result(const unsigned char *body, size_t len)
{
	struct tm_asn_result *r;
	unsigned char *st = NULL;
	size_t slen;

	if (tm_der_decode(body, len, ASN1_ITEM_rptr(TM_RESULT), "RESULT",
			  (void **)&r))
		return;
	if (!tm_der(r->outcome, ASN1_ITEM_rptr(TM_STATUS), &st, &slen))
		hs_status(st, slen);
	OPENSSL_free(st);
	TM_FREE(r, TM_RESULT);
}

static void hs_decode(unsigned char type, const unsigned char *body,
		      size_t len)
{
	struct tm_asn_hello *m1;
	struct tm_asn_m2 *m2;
	struct tm_asn_m3 *m3;

	switch (type) {
	case TM_MSG_M1:
		if (!tm_der_decode(body, len, ASN1_ITEM_rptr(TM_HELLO1), "M1",
				   (void **)&m1)) {
			tm_hs_hello_check(m1);
			TM_FREE(m1, TM_HELLO1);
		}
		break;
	case TM_MSG_M2:
		if (!tm_der_decode(body, len, ASN1_ITEM_rptr(TM_M2), "M2",
				   (void **)&m2)) {
			tm_hs_hello_check(m2->hello);
			hs_attest(m2->attest);
			TM_FREE(m2, TM_M2);
		}
		break;
	case TM_MSG_M3:
		if (!tm_der_decode(body, len, ASN1_ITEM_rptr(TM_M3), "M3",
				   (void **)&m3)) {
			hs_attest(m3->attest);
			TM_FREE(m3, TM_M3);
		}
		break;
	case TM_MSG_RESULT:
		hs_result(body, len);
		break;
	case TM_MSG_ALERT:
		hs_status(body, len);
		break;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	unsigned char type, *body;
	size_t len;
	int sv[2];

	if (size > HS_INPUT_MAX)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    send(sv[1], data, size, MSG_DONTWAIT) != (ssize_t)size)
		abort();
	close(sv[1]);
	while (!tm_wire_recv(sv[0], &type, &body, &len, 1000)) {
		hs_decode(type, body, len);
		free(body);
	}
	close(sv[0]);
	return 0;
}
