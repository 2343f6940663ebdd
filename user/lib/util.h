/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trustmig userspace: exit codes, error reporting, files and hex.
 *
 * Every library function returns 0 or one of the TM_EXIT_* codes below and
 * records a human-readable reason with tm_fail(); the command-line tools
 * print that reason and exit with the code, so scripts can tell refusals
 * apart without parsing text.
 */
#ifndef TRUSTMIG_UTIL_H
#define TRUSTMIG_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "printable.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
/* as the kernel's <linux/compiler_attributes.h> has it */
#define __printf(a, b)	__attribute__((				\
				format(printf, a, b)))

enum tm_exit {
	TM_EXIT_OK = 0,
	TM_EXIT_ERROR = 1,		/* I/O, TPM, library or internal error */
	TM_EXIT_USAGE = 2,		/* bad command line */
	TM_EXIT_BASELINE = 3,		/* baseline file invalid */
	TM_EXIT_INPUT = 4,		/* malformed exchange file or token */
	TM_EXIT_CONFIG = 5,		/* configuration file invalid */
	TM_EXIT_UNREADABLE = 6,		/* input file missing or unreadable */
	/* refusals of the TTP during enrolment (14-16 also in handshakes) */
	TM_EXIT_EK_UNTRUSTED = 10,	/* EK neither certified nor pinned */
	TM_EXIT_AK_ATTRS = 11,		/* AK is not a restricted TPM key */
	TM_EXIT_CHALLENGE = 12,		/* unknown, expired or used challenge */
	TM_EXIT_ACTIVATION = 13,	/* credential activation proof wrong */
	TM_EXIT_QUOTE_SIG = 14,		/* quote not signed by the AK */
	TM_EXIT_QUOTE_NONCE = 15,	/* quote not over the challenge nonce */
	TM_EXIT_QUOTE_PCRS = 16,	/* quoted PCRs differ from baseline */
	TM_EXIT_CERTIFY_SIG = 17,	/* key certification not by the AK */
	TM_EXIT_CERTIFY_NAME = 18,	/* certification of another key/nonce */
	TM_EXIT_MK_ATTRS = 19,		/* migration key attributes unsafe */
	TM_EXIT_MK_POLICY = 20,		/* migration key policy != baseline */
	TM_EXIT_MEASURED = 21,		/* IMA list bad or outside baseline */
	/* token verification */
	TM_EXIT_TOKEN_CHAIN = 30,	/* not issued by a trusted TTP */
	TM_EXIT_TOKEN_EXPIRED = 31,
	TM_EXIT_TOKEN_NOT_YET_VALID = 32,
	TM_EXIT_TOKEN_REVOKED = 33,
	TM_EXIT_TOKEN_CRL = 34,		/* CRL missing, expired or invalid */
	TM_EXIT_TOKEN_EXT = 35,		/* trustmig extension missing/bad */
	TM_EXIT_TOKEN_BASELINE = 36,	/* token is for another baseline */
	TM_EXIT_TOKEN_MISMATCH = 37,	/* token is not for this host's keys */
	/* host */
	TM_EXIT_KEY_POLICY = 40,	/* TPM refused the migration key */
	/* migration handshake (docs/protocol.md) */
	TM_EXIT_PEER = 50,		/* peer unreachable, timeout, closed */
	TM_EXIT_PROTOCOL = 51,		/* malformed or unexpected message */
	TM_EXIT_PEER_REFUSED = 52,	/* the peer refused the handshake */
	TM_EXIT_POLICY = 53,		/* policy invalid or unknown */
	TM_EXIT_POLICY_BASELINE = 54,	/* peer's baseline not in the policy */
	TM_EXIT_CONFIRM = 55,		/* key confirmation failed */
	TM_EXIT_NO_MODULE = 56,		/* trustmig.ko not loaded: no keys */
	TM_EXIT_NETLINK = 57,		/* trustmig.ko refused the keys */
	TM_EXIT_MODULE_VERSION = 58,	/* trustmig.ko of another netlink version */
	TM_EXIT_PEER_NAME = 59,		/* peer is not the host expected */
	TM_EXIT_NO_SESSION = 60,	/* trustmig.ko holds no such session */
};

/* Record why the current operation failed; returns @code. */
__printf(2, 3) int tm_fail(int code, const char *fmt, ...);
/*
 * As tm_fail() with the reason of the oldest queued OpenSSL error, in
 * words rather than OpenSSL's codes; a system error (OpenSSL could not
 * open the file) makes the code TM_EXIT_UNREADABLE instead of @code.
 */
__printf(2, 3) int tm_fail_ssl(int code, const char *fmt, ...);
/* As tm_fail() with the decoded TPM/TSS response code. */
int tm_fail_tss(unsigned int rc, const char *what);
const char *tm_last_error(void);
/* Prefix the recorded reason with "@prefix: " and return @code. */
int tm_fail_prefix(int code, const char *prefix);
/* Print "prog: msg" for the last failure to stderr and return @code. */
int tm_report(const char *prog, int code);

/* X.509's upper bound for the common name a host name becomes. */
#define TM_HOST_NAME_MAX	64
/*
 * @name (@len bytes) is an RFC 1123 host name of at most TM_HOST_NAME_MAX
 * characters: labels of 1-63 letters, digits and '-' (not first or
 * last), joined by dots.  Otherwise fails with @code, naming @what.
 */
int tm_host_name_check(const char *name, size_t len, int code,
		       const char *what);

/* Read a whole (small) file; "-" is stdin. Caller frees *data. */
int tm_read_file(const char *path, unsigned char **data, size_t *len);
/*
 * Write a file atomically (temporary file + rename) with @mode; "-" is
 * stdout. With @excl the file must not exist yet.
 */
int tm_write_file(const char *path, const void *data, size_t len,
		  mode_t mode, int excl);

/* Lower-case hex of @len bytes; caller frees with OPENSSL_free(). */
char *tm_hex(const unsigned char *buf, size_t len);
/* Parse exactly @len bytes of hex (no separators). */
int tm_unhex(const char *hex, unsigned char *buf, size_t len);

/* Strictly parse a decimal unsigned long in [min, max]. */
int tm_parse_ulong(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out);

/* CLOCK_MONOTONIC in milliseconds */
long long tm_now_ms(void);
/* "@SECONDS" or "YYYY-MM-DDTHH:MM:SSZ" (UTC) */
int tm_parse_time(const char *s, time_t *t);

#endif /* TRUSTMIG_UTIL_H */
