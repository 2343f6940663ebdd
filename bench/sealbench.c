// SPDX-License-Identifier: GPL-2.0
/*
 * sealbench: what sealing and opening a page through trustmig.ko costs,
 * in guest instructions counted by tmcount, next to the kernel's raw AEAD
 * transform over the same pages (trustmig_bench.ko) and a plain copy.
 * Runs in the benchmark guest (bench/run-in-guest.sh); docs/benchmarks.md
 * explains every row.
 *
 *   sealbench [-n PAGES] [-r REPEATS] [-o JSON]
 *
 * Every figure is measured over N and over 2N pages and taken as
 * (count(2N) - count(N)) / N, which cancels what a call costs once (the
 * ioctl, session and transform setup); each is repeated -r times.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "tmbench.h"
#include "tmc.h"
#include "tmig.h"

#define SLOT		0
#define MAX_REPEATS	10
/* Records per SEAL and per OPEN call, as trustmig-vm does. */
#define BATCH		64

struct bench {
	struct tnl t;
	struct tmc c;
	int floor_fd;
	__u64 n;			/* N pages */
	int repeats;
	__u8 cipher;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "sealbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* Closes the window of SLOT and returns its count. */
static struct tmc_count window_end(struct bench *b)
{
	struct tmc_count c;
	int err;

	tmcount_close(SLOT);
	err = tmc_read(&b->c, SLOT, &c);
	if (err)
		die("reading the window's count", err);
	return c;
}

enum fill { FILL_RANDOM, FILL_ZERO };

static void vm_new(struct tvm *vm, __u64 npages, enum fill fill)
{
	size_t off;
	int err = tvm_create(vm, npages * TVM_PAGE_SIZE, false);

	if (err)
		die("creating a VM", err);
	/* Touch every page now: faults are no part of what is measured. */
	memset(vm->mem, 0, vm->mem_size);
	if (fill == FILL_ZERO)
		return;
	for (off = 0; off < vm->mem_size; off += 256)
		if (getrandom(vm->mem + off, 256, 0) != 256)
			die("getrandom", errno);
}

static void stream_new(struct tmig_stream *st, __u64 npages)
{
	st->cap = npages * (TRUSTMIG_PAGE_SIZE + 64) + (1 << 20);
	st->buf = malloc(st->cap);
	if (!st->buf)
		die("stream buffer", ENOMEM);
	/*
	 * Fault it in now; not with zeroes, which the compiler may turn
	 * into a calloc() that leaves fresh pages untouched.
	 */
	memset(st->buf, 0xa5, st->cap);
	st->len = 0;
}

/* TRUSTMIG_OPEN BATCH records at a time, as the frames of trustmig-vm. */
static void open_batched(int fd, const struct tmig_stream *st)
{
	struct trustmig_open o;
	size_t off = 0, end;
	int k, err;

	while (off < st->len) {
		end = off;
		for (k = 0; k < BATCH && end < st->len; k++)
			end += tmig_record_size(st->buf + end);
		err = tmig_open(fd, st->buf + off, end - off, 0, &o);
		if (err || o.consumed != end - off)
			die("TRUSTMIG_OPEN", err ? err : EPROTO);
		off = end;
	}
}

/*
 * trustmig: seal the whole VM (one round), then open it into another;
 * one window each.  Returns the stream's bytes.
 */
static size_t trustmig_pass(struct bench *b, __u64 npages, enum fill fill,
			    struct tmc_count *seal, struct tmc_count *open)
{
	struct tmig_stream st;
	struct tmig_pair p;
	struct tvm src, dst;
	size_t bytes;
	int err;

	vm_new(&src, npages, fill);
	vm_new(&dst, npages, FILL_RANDOM);
	stream_new(&st, npages);
	err = tmig_pair_new(&b->t, &p, b->cipher);
	if (!err)
		err = tmig_attach(&p.src, src.vm_fd, p.src.ticket);
	if (!err)
		err = tmig_attach(&p.dst, dst.vm_fd, p.dst.ticket);
	if (err)
		die("sessions", err);

	tmcount_open(SLOT);
	err = tmig_seal(p.src.fd, &src, TRUSTMIG_SEAL_HARVEST, NULL, &st);
	*seal = window_end(b);
	if (err)
		die("TRUSTMIG_SEAL", err);
	bytes = st.len;

	tmcount_open(SLOT);
	open_batched(p.dst.fd, &st);
	*open = window_end(b);
	if (memcmp(src.mem, dst.mem, src.mem_size))
		die("the opened VM differs from the sealed one", EIO);

	tmig_pair_close(&b->t, &p);
	tmig_stream_free(&st);
	tvm_destroy(&src);
	tvm_destroy(&dst);
	return bytes;
}

static struct tmc_count floor_run(struct bench *b, __u32 op, __u64 npages,
				  __u32 len)
{
	struct tmbench_run r = { .op = op, .cipher = b->cipher,
				 .npages = npages, .len = len };
	struct tmc_count c;

	tmcount_open(SLOT);
	if (ioctl(b->floor_fd, TMBENCH_RUN, &r))
		die("TMBENCH_RUN", errno);
	c = window_end(b);
	return c;
}

enum {
	R_SEAL, R_OPEN, R_FLOOR_SEAL, R_FLOOR_OPEN, R_ZERO_SEAL, R_ZERO_OPEN,
	R_FLOOR_ZERO, R_COPY, R_ZERO_CHECK, NROWS
};

static const struct row {
	const char *name;
	const char *what;
} rows[NROWS] = {
	[R_SEAL] = { "seal", "trustmig seal (TRUSTMIG_SEAL)" },
	[R_OPEN] = { "open", "trustmig open (TRUSTMIG_OPEN)" },
	[R_FLOOR_SEAL] = { "raw_seal", "floor: raw AEAD encrypt" },
	[R_FLOOR_OPEN] = { "raw_open", "floor: raw AEAD decrypt+verify" },
	[R_ZERO_SEAL] = { "zero_seal", "trustmig seal, zero page" },
	[R_ZERO_OPEN] = { "zero_open", "trustmig open, zero page" },
	[R_FLOOR_ZERO] = { "raw_zero", "raw AEAD, header-only record" },
	[R_COPY] = { "copy", "plain page copy (memcpy)" },
	[R_ZERO_CHECK] = { "zero_check", "part: zero check of a zero page" },
};

/* The floors and parts over the same contents, in kernel memory. */
static void floor_pass(struct bench *b, __u64 npages, struct tmc_count *c)
{
	struct tmbench_load l = { .npages = npages };
	struct tvm vm;

	vm_new(&vm, npages, FILL_RANDOM);
	l.buf = (unsigned long)vm.mem;
	if (ioctl(b->floor_fd, TMBENCH_LOAD, &l))
		die("TMBENCH_LOAD", errno);
	c[R_FLOOR_SEAL] = floor_run(b, TMBENCH_SEAL, npages,
				    TRUSTMIG_PAGE_SIZE);
	c[R_FLOOR_OPEN] = floor_run(b, TMBENCH_OPEN, npages,
				    TRUSTMIG_PAGE_SIZE);
	/* A zero page's record: the header alone through the AEAD. */
	c[R_FLOOR_ZERO] = floor_run(b, TMBENCH_SEAL, npages, 0);
	c[R_COPY] = floor_run(b, TMBENCH_COPY, npages, TRUSTMIG_PAGE_SIZE);
	tvm_destroy(&vm);
	/* The zero check reads a whole page only when it is all zero. */
	vm_new(&vm, npages, FILL_ZERO);
	l.buf = (unsigned long)vm.mem;
	if (ioctl(b->floor_fd, TMBENCH_LOAD, &l))
		die("TMBENCH_LOAD", errno);
	c[R_ZERO_CHECK] = floor_run(b, TMBENCH_ZERO_CHECK, npages,
				    TRUSTMIG_PAGE_SIZE);
	tvm_destroy(&vm);
}

/* One run of every measurement over @npages; wire bytes per page out. */
static void measure(struct bench *b, __u64 npages, struct tmc_count *c,
		    double *wire, double *zero_wire)
{
	*wire = (double)trustmig_pass(b, npages, FILL_RANDOM, &c[R_SEAL],
				      &c[R_OPEN]) / npages;
	*zero_wire = (double)trustmig_pass(b, npages, FILL_ZERO,
					   &c[R_ZERO_SEAL],
					   &c[R_ZERO_OPEN]) / npages;
	floor_pass(b, npages, c);
}

struct figure {
	double per_page;	/* (least 2N - least N) / N */
	double lo, hi;		/* of the runs' own (2N - N) / N */
};

static __u64 count_of(const struct tmc_count *c, bool execs)
{
	return execs ? c->execs : c->insns;
}

/*
 * Whatever else the guest runs meanwhile only adds to a window, so the
 * least of the runs is the best estimate for each size; the spread is
 * that of the runs' own differences.
 */
static struct figure figure_of(struct tmc_count (*c)[2][NROWS], int runs,
			       __u64 n, int row, bool execs)
{
	__u64 least[2] = { ~0ULL, ~0ULL }, v;
	struct figure st = { 0 };
	double d;
	int r, k;

	for (r = 0; r < runs; r++) {
		for (k = 0; k < 2; k++) {
			v = count_of(&c[r][k][row], execs);
			if (v < least[k])
				least[k] = v;
		}
		d = ((double)count_of(&c[r][1][row], execs) -
		     count_of(&c[r][0][row], execs)) / n;
		if (!r || d < st.lo)
			st.lo = d;
		if (!r || d > st.hi)
			st.hi = d;
	}
	st.per_page = ((double)least[1] - least[0]) / n;
	return st;
}

/* The raw counts of every run, [N, 2N]. */
static void json_windows(FILE *f, struct tmc_count (*c)[2][NROWS], int runs,
			 int row)
{
	int r;

	fprintf(f, "\"windows\": [");
	for (r = 0; r < runs; r++)
		fprintf(f, "%s[%llu, %llu]", r ? ", " : "",
			(unsigned long long)c[r][0][row].insns,
			(unsigned long long)c[r][1][row].insns);
	fprintf(f, "]");
}

static void run_cipher(struct bench *b, const char *cname, FILE *json,
		       bool last)
{
	struct tmc_count warm[NROWS];
	struct tmc_count c[MAX_REPEATS][2][NROWS];	/* N, then 2N */
	double wire = 0, zwire = 0, w;
	struct figure st[NROWS], ex;
	int r, i, k;

	/* The first use of everything (code, caches, allocators) is no run. */
	measure(b, b->n, warm, &w, &w);
	for (r = 0; r < b->repeats; r++)
		for (k = 0; k < 2; k++)
			measure(b, b->n << k, c[r][k], &wire, &zwire);
	for (i = 0; i < NROWS; i++)
		st[i] = figure_of(c, b->repeats, b->n, i, false);

	printf("\n%s: instructions per 4 KiB page = (count(2N) - count(N)) / N,",
	       cname);
	printf(" N = %llu, %d runs\n", (unsigned long long)b->n, b->repeats);
	printf("  %-36s %9s %21s %10s\n", "", "per page", "runs (min..max)",
	       "TCG execs");
	for (i = 0; i < NROWS; i++) {
		ex = figure_of(c, b->repeats, b->n, i, true);
		printf("  %-36s %9.0f %10.0f..%-10.0f %10.0f\n", rows[i].what,
		       st[i].per_page, st[i].lo, st[i].hi, ex.per_page);
	}
	printf("  seal/floor %.3f, open/floor %.3f; zero/full page: seal %.3f, open %.3f\n",
	       st[R_SEAL].per_page / st[R_FLOOR_SEAL].per_page,
	       st[R_OPEN].per_page / st[R_FLOOR_OPEN].per_page,
	       st[R_ZERO_SEAL].per_page / st[R_SEAL].per_page,
	       st[R_ZERO_OPEN].per_page / st[R_OPEN].per_page);
	printf("  wire bytes per page: random %.1f, zero %.1f (records)\n",
	       wire, zwire);

	fprintf(json, "    \"%s\": {\n      \"wire_bytes_per_page\": %.3f,\n"
		"      \"wire_bytes_per_zero_page\": %.3f,\n      \"rows\": {\n",
		cname, wire, zwire);
	for (i = 0; i < NROWS; i++) {
		ex = figure_of(c, b->repeats, b->n, i, true);
		fprintf(json, "        \"%s\": { \"what\": \"%s\", \"insns_per_page\": %.1f, ",
			rows[i].name, rows[i].what, st[i].per_page);
		fprintf(json, "\"runs_min\": %.1f, \"runs_max\": %.1f, \"execs_per_page\": %.1f, ",
			st[i].lo, st[i].hi, ex.per_page);
		json_windows(json, c, b->repeats, i);
		fprintf(json, " }%s\n", i + 1 < NROWS ? "," : "");
	}
	fprintf(json, "      }\n    }%s\n", last ? "" : ",");
}

int main(int argc, char **argv)
{
	struct bench b = { .n = 1024, .repeats = 3 };
	const char *json_path = "/dev/null";
	FILE *json;
	int opt, err;

	while ((opt = getopt(argc, argv, "n:r:o:")) != -1) {
		switch (opt) {
		case 'n':
			b.n = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			b.repeats = atoi(optarg);
			break;
		case 'o':
			json_path = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-n PAGES] [-r REPEATS] [-o JSON]\n",
				argv[0]);
			return 2;
		}
	}
	if (!b.n || b.n * 2 > TMBENCH_MAX_PAGES || b.repeats < 1 ||
	    b.repeats > MAX_REPEATS) {
		fprintf(stderr, "sealbench: -n 1..%d, -r 1..%d\n",
			TMBENCH_MAX_PAGES / 2, MAX_REPEATS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = tmc_open(&b.c);
	if (err)
		die("no counting plugin ($" TMC_LOG_ENV ")", err);
	err = tnl_open(&b.t);
	if (err)
		die("netlink family trustmig (is trustmig.ko loaded?)", err);
	b.floor_fd = open("/dev/" TMBENCH_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (b.floor_fd < 0)
		die("/dev/" TMBENCH_DEV_NAME " (is trustmig_bench.ko loaded?)",
		    errno);
	json = fopen(json_path, "w");
	if (!json)
		die(json_path, errno);

	fprintf(json, "{\n  \"pages\": %llu,\n  \"repeats\": %d,\n  \"ciphers\": {\n",
		(unsigned long long)b.n, b.repeats);
	b.cipher = TRUSTMIG_CIPHER_AES256GCM;
	run_cipher(&b, "aes256gcm", json, false);
	b.cipher = TRUSTMIG_CIPHER_CHACHA20POLY1305;
	run_cipher(&b, "chacha20poly1305", json, true);
	fprintf(json, "  }\n}\n");
	fclose(json);
	close(b.floor_fd);
	tnl_close(&b.t);
	tmc_close(&b.c);
	return 0;
}
