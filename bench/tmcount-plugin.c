// SPDX-License-Identifier: GPL-2.0
/*
 * tmcount: a QEMU TCG plugin that counts the guest's instructions inside
 * the measured windows the guest marks (user/include/tmcount.h), for
 * trustmig's benchmarks (docs/benchmarks.md).
 *
 *   qemu-system-x86_64 -accel tcg,thread=single \
 *       -plugin build/bench/tmcount.so,out=FILE ...
 *
 * Every executed instruction adds one to a counter (an inline add, no
 * call), so counts are exact whatever the translation blocks look like;
 * the counters are plain, not atomic: QEMU must run its vCPUs on one
 * thread (thread=single; with one vCPU that is QEMU's default).  A
 * window's count is the difference of the counter at its two markers, on
 * every vCPU together; the markers themselves are not counted.
 *
 * TCG executes each iteration of a REP-prefixed string instruction as a
 * new execution of it.  The plugin counts such an instruction once, as
 * the architecture does, and reports every execution separately: FILE
 * gets, per closed window,
 *
 *   window SLOT INSNS EXECS
 *
 * where EXECS also counts every further REP iteration, and at exit
 * "total INSNS EXECS" and "errors N" (markers out of order, each also
 * logged as "error ..." when it happens; an open of an open slot
 * restarts its window, a close of a closed one is ignored).
 */
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include <qemu-plugin.h>

#include "tmcount.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static __u64 insns;		/* REP string instructions counted once */
static __u64 rep_extra;	/* further iterations of them */
static __u64 errors;
static FILE *out;

struct window {
	bool open;
	__u64 insns, execs;
};

static struct window windows[TMCOUNT_SLOTS];

/* Per vCPU: the REP instruction that ran last and the count right after. */
struct rep_state {
	__u64 vaddr;
	__u64 insns;
};

static struct rep_state *reps;
static int max_vcpus;

static void mark(unsigned int vcpu, void *udata)
{
	unsigned int op = GPOINTER_TO_UINT(udata) >> 4;
	unsigned int slot = GPOINTER_TO_UINT(udata) & (TMCOUNT_SLOTS - 1);
	struct window *w = &windows[slot];
	__u64 execs = insns + rep_extra;

	if (op == TMCOUNT_OPEN ? w->open : !w->open) {
		errors++;
		fprintf(out, "error vcpu %u: %s of slot %u, which is %s\n",
			vcpu, op == TMCOUNT_OPEN ? "open" : "close", slot,
			w->open ? "open" : "closed");
	}
	/* A window left open (its program failed) restarts. */
	if (op == TMCOUNT_OPEN) {
		w->open = true;
		w->insns = insns;
		w->execs = execs;
	} else if (w->open) {
		w->open = false;
		fprintf(out, "window %u %llu %llu\n", slot,
			(unsigned long long)(insns - w->insns),
			(unsigned long long)(execs - w->execs));
	}
}

static void rep_string(unsigned int vcpu, void *udata)
{
	__u64 vaddr = (uintptr_t)udata;
	struct rep_state *r;

	if ((int)vcpu >= max_vcpus)
		return;
	r = &reps[vcpu];
	/* Nothing else ran since this instruction did: the next iteration. */
	if (r->vaddr == vaddr && r->insns == insns) {
		rep_extra++;
		return;
	}
	insns++;
	r->vaddr = vaddr;
	r->insns = insns;
}

/* Is it a string instruction with a REP prefix (and nothing after it)? */
static bool is_rep_string(const __u8 *b, size_t len)
{
	bool rep = false;
	size_t i;

	for (i = 0; i < len; i++) {
		switch (b[i]) {
		case 0xf2: case 0xf3:
			rep = true;
			continue;
		case 0xf0: case 0x26: case 0x2e: case 0x36: case 0x3e:
		case 0x64: case 0x65: case 0x66: case 0x67:
			continue;
		}
		break;
	}
	/* A REX prefix (64-bit mode; elsewhere the string op never follows). */
	if (i + 1 < len && (b[i] & 0xf0) == 0x40)
		i++;
	if (!rep || i + 1 != len)
		return false;
	switch (b[i]) {
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:	/* ins, outs */
	case 0xa4: case 0xa5: case 0xa6: case 0xa7:	/* movs, cmps */
	case 0xaa: case 0xab: case 0xac: case 0xad:	/* stos, lods */
	case 0xae: case 0xaf:				/* scas */
		return true;
	}
	return false;
}

/* The marker's op << 4 | slot, or -1 if @b is no marker. */
static int marker(const __u8 *b, size_t len)
{
	static const __u8 opcode[] = TMCOUNT_OPCODE;
	__u32 disp;
	unsigned int op;

	if (len != TMCOUNT_INSN_LEN || memcmp(b, opcode, sizeof(opcode)))
		return -1;
	disp = b[4] | b[5] << 8 | b[6] << 16 | (__u32)b[7] << 24;
	if ((disp & TMCOUNT_MAGIC_MASK) != TMCOUNT_MAGIC)
		return -1;
	op = (disp >> 4) & 0xf;
	if (op != TMCOUNT_OPEN && op != TMCOUNT_CLOSE)
		return -1;
	return disp & 0xff;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i, len;
	struct qemu_plugin_insn *insn;
	const enum qemu_plugin_cb_flags flags = QEMU_PLUGIN_CB_NO_REGS;
	const enum qemu_plugin_op add = QEMU_PLUGIN_INLINE_ADD_U64;
	uintptr_t vaddr;
	const __u8 *b;
	int m;

	for (i = 0; i < n; i++) {
		insn = qemu_plugin_tb_get_insn(tb, i);
		b = qemu_plugin_insn_data(insn);
		len = qemu_plugin_insn_size(insn);
		vaddr = qemu_plugin_insn_vaddr(insn);
		m = marker(b, len);
		if (m >= 0)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, mark, flags,
							       GUINT_TO_POINTER(m));
		else if (is_rep_string(b, len))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, rep_string,
							       flags, (void *)vaddr);
		else
			qemu_plugin_register_vcpu_insn_exec_inline(insn, add,
								   &insns, 1);
	}
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	fprintf(out, "total %llu %llu\nerrors %llu\n",
		(unsigned long long)insns,
		(unsigned long long)(insns + rep_extra),
		(unsigned long long)errors);
	fclose(out);
	free(reps);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info, int argc,
					   char **argv)
{
	const char *path = NULL;
	int i;

	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4)) {
			path = argv[i] + 4;
		} else {
			fprintf(stderr, "tmcount: unknown argument '%s' (takes out=FILE)\n",
				argv[i]);
			return -1;
		}
	}
	if (!path || !*path) {
		fprintf(stderr, "tmcount: out=FILE is required\n");
		return -1;
	}
	if (!info->system_emulation) {
		fprintf(stderr, "tmcount: needs system emulation\n");
		return -1;
	}
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return -1;
	}
	/* Each window as it closes: a killed QEMU keeps what it measured. */
	setvbuf(out, NULL, _IOLBF, 0);
	max_vcpus = info->system.max_vcpus;
	reps = calloc(max_vcpus, sizeof(*reps));
	if (!reps) {
		fclose(out);
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
