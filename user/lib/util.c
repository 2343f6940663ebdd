// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig userspace: exit codes, error reporting, files and hex.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <tss2/tss2_rc.h>

#include "parse.h"
#include "util.h"

#define TM_FILE_MAX	(4u << 20)

static __thread char tm_errbuf[1024];

static int tm_vfail(int code, const char *suffix, const char *fmt,
		    va_list ap)
{
	int n;

	n = vsnprintf(tm_errbuf, sizeof(tm_errbuf), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(tm_errbuf))
		snprintf(tm_errbuf + n, sizeof(tm_errbuf) - n, ": %s", suffix);
	return code;
}

int tm_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tm_vfail(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int tm_fail_ssl(int code, const char *fmt, ...)
{
	unsigned long e = ERR_get_error();
	const char *lib = ERR_lib_error_string(e);
	const char *why = ERR_reason_error_string(e);
	char reason[256];
	va_list ap;

	if (!e) {
		snprintf(reason, sizeof(reason), "unknown OpenSSL error");
	} else if (ERR_SYSTEM_ERROR(e)) {
		snprintf(reason, sizeof(reason), "%s",
			 strerror(ERR_GET_REASON(e)));
		code = TM_EXIT_UNREADABLE;
	} else if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
		   ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		snprintf(reason, sizeof(reason),
			 "no PEM block of that kind (\"-----BEGIN ...\" line) in it");
	} else {
		snprintf(reason, sizeof(reason), "%s (OpenSSL, %s)",
			 why ? why : "unknown reason", lib ? lib : "?");
	}
	ERR_clear_error();
	va_start(ap, fmt);
	tm_vfail(code, reason, fmt, ap);
	va_end(ap);
	return code;
}

int tm_fail_tss(unsigned int rc, const char *what)
{
	return tm_fail(TM_EXIT_ERROR, "TPM %s failed: %s", what,
		       Tss2_RC_Decode(rc));
}

const char *tm_last_error(void)
{
	return tm_errbuf[0] ? tm_errbuf : "unknown error";
}

int tm_fail_prefix(int code, const char *prefix)
{
	char old[sizeof(tm_errbuf)];

	snprintf(old, sizeof(old), "%s", tm_last_error());
	return tm_fail(code, "%s: %s", prefix, old);
}

int tm_report(const char *prog, int code)
{
	if (code)
		fprintf(stderr, "%s: %s\n", prog, tm_last_error());
	return code;
}

int tm_read_file(const char *path, unsigned char **data, size_t *len)
{
	unsigned char *buf = NULL, *nbuf;
	size_t size = 0, cap = 0;
	ssize_t n;
	int fd, ret;

	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return tm_fail(TM_EXIT_UNREADABLE, "cannot open %s: %s", path,
			       strerror(errno));
	for (;;) {
		if (size == cap && cap >= TM_FILE_MAX) {
			ret = tm_fail(TM_EXIT_INPUT, "%s is larger than %u bytes",
				      path, TM_FILE_MAX);
			goto err;
		}
		if (size == cap) {
			cap = cap ? cap * 2 : 4096;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				ret = tm_fail(TM_EXIT_ERROR, "out of memory");
				goto err;
			}
			buf = nbuf;
		}
		n = read(fd, buf + size, cap - size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = tm_fail(TM_EXIT_UNREADABLE, "cannot read %s: %s",
				      path, strerror(errno));
			goto err;
		}
		if (!n)
			break;
		size += n;
	}
	if (fd)
		close(fd);
	buf[size] = '\0';
	*data = buf;
	*len = size;
	return 0;
err:
	if (fd)
		close(fd);
	free(buf);
	return ret;
}

static int tm_write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int tm_write_file(const char *path, const void *data, size_t len,
		  mode_t mode, int excl)
{
	char *tmp = NULL;
	int fd, ret;

	if (!strcmp(path, "-")) {
		if (tm_write_all(1, data, len))
			return tm_fail(TM_EXIT_ERROR, "cannot write stdout: %s",
				       strerror(errno));
		return 0;
	}
	if (excl && !access(path, F_OK))
		return tm_fail(TM_EXIT_ERROR, "%s already exists", path);
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return tm_fail(TM_EXIT_ERROR, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = tm_fail(TM_EXIT_ERROR, "cannot create %s: %s", tmp,
			      strerror(errno));
		goto out;
	}
	if (tm_write_all(fd, data, len) || fsync(fd)) {
		ret = tm_fail(TM_EXIT_ERROR, "cannot write %s: %s", tmp,
			      strerror(errno));
		close(fd);
		goto unlink;
	}
	close(fd);
	if (excl ? link(tmp, path) : rename(tmp, path)) {
		ret = tm_fail(TM_EXIT_ERROR, "cannot create %s: %s", path,
			      strerror(errno));
		goto unlink;
	}
	ret = 0;
	if (!excl)
		goto out;
unlink:
	unlink(tmp);
out:
	free(tmp);
	return ret;
}

char *tm_hex(const unsigned char *buf, size_t len)
{
	size_t n = 2 * len + 1;
	char *s;

	s = OPENSSL_malloc(n);
	if (!s)
		return NULL;
	if (!OPENSSL_buf2hexstr_ex(s, n, NULL, buf, len, '\0')) {
		OPENSSL_free(s);
		return NULL;
	}
	for (n = 0; s[n]; n++)
		if (s[n] >= 'A' && s[n] <= 'F')
			s[n] += 'a' - 'A';
	return s;
}

int tm_unhex(const char *hex, unsigned char *buf, size_t len)
{
	size_t got;

	if (strlen(hex) != 2 * len ||
	    !OPENSSL_hexstr2buf_ex(buf, len, &got, hex, '\0') || got != len) {
		ERR_clear_error();
		return tm_fail(TM_EXIT_INPUT,
			       "\"%.80s\" is not %zu bytes of hex", hex, len);
	}
	return 0;
}

int tm_parse_ulong(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out)
{
	if (!tm_ulong_in(s, min, max, out))
		return 0;
	return tm_fail(TM_EXIT_USAGE, "\"%s\" is not a number in [%lu, %lu]",
		       s, min, max);
}

int tm_parse_time(const char *s, time_t *t)
{
	unsigned long v;
	struct tm tm = { 0 };
	const char *end;

	if (s[0] == '@') {
		if (tm_parse_ulong(s + 1, 1, (unsigned long)INT64_MAX, &v))
			return -1;
		*t = v;
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	*t = timegm(&tm);
	return 0;
}

long long tm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int tm_host_name_check(const char *name, size_t len, int code,
		       const char *what)
{
	size_t i, label = 0;
	char shown[TM_HOST_NAME_MAX + 1];
	int ok = len > 0 && len <= TM_HOST_NAME_MAX;

	for (i = 0; ok && i < len; i++) {
		if (name[i] == '.') {
			ok = label > 0 && name[i - 1] != '-';
			label = 0;
			continue;
		}
		ok = isalnum((unsigned char)name[i]) ||
		     (name[i] == '-' && label > 0);
		label++;
	}
	if (ok && label > 0 && name[len - 1] != '-')
		return 0;
	tm_printable(name, len, shown, sizeof(shown), 0);
	return tm_fail(code,
		       "%s: host name \"%s%s\" is not an RFC 1123 name of at most %d characters (letters, digits, '-' inside labels, dots between them)",
		       what, shown, len > TM_HOST_NAME_MAX ? "..." : "",
		       TM_HOST_NAME_MAX);
}
