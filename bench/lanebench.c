// SPDX-License-Identifier: GPL-2.0
/*
 * lanebench: wall time of sealing, and of opening, the same VM on one
 * lane and on several lanes at once (a thread each), side by side in one
 * run.  Runs in a guest with several vCPUs on as many host threads
 * (bench/run.sh: multi-threaded TCG, no -icount): instruction counts say
 * nothing about parallel speed, so this is the one timed benchmark.
 *
 *   lanebench [-m MiB] [-l LANES] [-r REPEATS] [-o JSON]
 *
 * Each repeat measures 1 lane, then LANES lanes, over fresh sessions and
 * the same random pages; the medians and their ratio are reported.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "tmig.h"

#define LANES_MAX	16
#define REPEATS_MAX	31

struct bench {
	struct tnl t;
	struct tvm src, dst;
	struct tmig_pair p;
	struct tmig_stream st[LANES_MAX];
	__u32 lanes;
};

struct job {
	struct bench *b;
	__u32 lane;
	int err;
};

static void die(const char *what, int err)
{
	fprintf(stderr, "lanebench: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *seal_lane(void *arg)
{
	struct job *j = arg;

	j->err = tmig_seal_lane(j->b->p.src.fd, j->b->src.slot, j->lane, 0,
				NULL, &j->b->st[j->lane]);
	return NULL;
}

static void *open_lane(void *arg)
{
	struct job *j = arg;
	struct tmig_stream *st = &j->b->st[j->lane];
	struct trustmig_open o;

	j->err = tmig_open_lane(j->b->p.dst.fd, j->lane, st->buf, st->len, 0,
				&o);
	if (!j->err && o.consumed != st->len)
		j->err = -EPROTO;
	return NULL;
}

/* @fn on every lane, lane 0 on this thread; the seconds it took. */
static double run_lanes(struct bench *b, void *(*fn)(void *))
{
	pthread_t threads[LANES_MAX];
	struct job jobs[LANES_MAX];
	double t;
	__u32 i;

	for (i = 0; i < b->lanes; i++)
		jobs[i] = (struct job){ .b = b, .lane = i };
	t = now();
	for (i = 1; i < b->lanes; i++)
		if (pthread_create(&threads[i], NULL, fn, &jobs[i]))
			die("pthread_create", errno);
	fn(&jobs[0]);
	for (i = 1; i < b->lanes; i++)
		pthread_join(threads[i], NULL);
	t = now() - t;
	for (i = 0; i < b->lanes; i++)
		if (jobs[i].err)
			die(fn == seal_lane ? "sealing a lane" : "opening a lane",
			    jobs[i].err);
	return t;
}

/* Seals the whole VM on @lanes lanes and opens it; the two times. */
static void pass(struct bench *b, __u32 lanes, double *seal, double *open)
{
	__u64 left;
	__u32 i;
	int err;

	b->lanes = lanes;
	err = tmig_pair_new(&b->t, &b->p, TRUSTMIG_CIPHER_AES256GCM);
	if (!err)
		err = tmig_attach_lanes(&b->p.src, b->src.vm_fd,
					b->p.src.ticket, lanes);
	if (!err)
		err = tmig_attach_lanes(&b->p.dst, b->dst.vm_fd,
					b->p.dst.ticket, lanes);
	if (!err)
		err = tmig_harvest(b->p.src.fd, b->src.slot, NULL, &left);
	if (err)
		die("sessions", err);
	for (i = 0; i < lanes; i++)
		b->st[i].len = 0;
	*seal = run_lanes(b, seal_lane);
	*open = run_lanes(b, open_lane);
	if (memcmp(b->src.mem, b->dst.mem, b->src.mem_size))
		die("the opened VM differs from the sealed one", EIO);
	memset(b->dst.mem, 0, b->dst.mem_size);
	tmig_pair_close(&b->t, &b->p);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_runs(FILE *f, const char *name, const double *v, int n)
{
	int i;

	fprintf(f, "\"%s\":[", name);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%.6f", i ? "," : "", v[i]);
	fprintf(f, "],");
}

int main(int argc, char **argv)
{
	double seal1[REPEATS_MAX], open1[REPEATS_MAX];
	double sealn[REPEATS_MAX], openn[REPEATS_MAX];
	double ms1, mo1, msn, mon;
	unsigned long mib = 64;
	const char *out = NULL;
	struct bench b = { 0 };
	__u32 lanes = 2, i;
	int repeats = 5, c, r;
	size_t off;
	FILE *f;

	while ((c = getopt(argc, argv, "m:l:r:o:")) != -1) {
		switch (c) {
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'l':
			lanes = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: lanebench [-m MiB] [-l LANES] [-r REPEATS] [-o JSON]\n");
			return 1;
		}
	}
	if (!mib || lanes < 2 || lanes > LANES_MAX || repeats < 1 ||
	    repeats > REPEATS_MAX)
		die("arguments out of range", EINVAL);
	if (tnl_open(&b.t))
		die("netlink", EIO);
	if (tvm_create(&b.src, mib << 20, false) ||
	    tvm_create(&b.dst, mib << 20, false))
		die("creating the VMs", ENOMEM);
	/* Random pages: every one a full record, none a zero run. */
	for (off = 0; off < b.src.mem_size; off += 256)
		if (getrandom(b.src.mem + off, 256, 0) != 256)
			die("getrandom", errno);
	memset(b.dst.mem, 0, b.dst.mem_size);
	/* Faulted in now, for both sides alike. */
	for (i = 0; i < lanes; i++) {
		if (tmig_reserve(&b.st[i], b.src.mem_size + (8 << 20)))
			die("stream buffers", ENOMEM);
		memset(b.st[i].buf, 0xa5, b.st[i].cap);
	}

	for (r = 0; r < repeats; r++) {
		pass(&b, 1, &seal1[r], &open1[r]);
		pass(&b, lanes, &sealn[r], &openn[r]);
		fprintf(stderr,
			"lanebench: run %d: seal %.3f s on 1 lane, %.3f s on %u; open %.3f s, %.3f s\n",
			r, seal1[r], sealn[r], lanes, open1[r], openn[r]);
	}
	f = out ? fopen(out, "w") : stdout;
	if (!f)
		die(out, errno);
	fprintf(f, "{\"mem_mib\":%lu,\"lanes\":%u,\"vcpus\":%ld,\"repeats\":%d,",
		mib, lanes, sysconf(_SC_NPROCESSORS_ONLN), repeats);
	print_runs(f, "seal_1", seal1, repeats);
	print_runs(f, "seal_n", sealn, repeats);
	print_runs(f, "open_1", open1, repeats);
	print_runs(f, "open_n", openn, repeats);
	ms1 = median(seal1, repeats);
	msn = median(sealn, repeats);
	mo1 = median(open1, repeats);
	mon = median(openn, repeats);
	fprintf(f, "\"seal_1_median\":%.6f,\"seal_n_median\":%.6f,", ms1, msn);
	fprintf(f, "\"open_1_median\":%.6f,\"open_n_median\":%.6f}\n", mo1, mon);
	if (out)
		fclose(f);
	fprintf(stderr,
		"lanebench: medians of %d: seal %.3f s / %.3f s = %.2fx, open %.3f s / %.3f s = %.2fx (%u lanes / 1)\n",
		repeats, msn, ms1, msn / ms1, mon, mo1, mon / mo1, lanes);
	tvm_destroy(&b.src);
	tvm_destroy(&b.dst);
	tnl_close(&b.t);
	return 0;
}
