/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Measured windows for tmcount, trustmig's instruction-counting QEMU TCG
 * plugin (bench/tmcount-plugin.c; docs/benchmarks.md).
 *
 * Code under measurement marks the start and the end of a window with one
 * magic no-op instruction, "nopl DISP(%rax,%rax,1)" (0f 1f 84 00 DISP32),
 * whose displacement is TMCOUNT_MAGIC | op << 4 | slot.  Without the plugin
 * it does nothing, costs nothing and needs no privilege, in user space, in
 * the kernel and in a nested guest alike; one instruction cannot be split
 * between translation blocks, so the plugin always sees it whole.  Slots
 * let windows overlap (e.g. a downtime window inside a migration window);
 * the plugin writes one line per closed window.
 *
 * Here, beside neither the benchmarks nor the tests, because the product
 * places markers too: trustmig-vm, the selftests and the benchmark
 * programs include it, and so does the plugin that counts them.
 */
#ifndef _TMCOUNT_H
#define _TMCOUNT_H

#define TMCOUNT_MAGIC		0x544d4300	/* "TMC" in the top bytes */
#define TMCOUNT_MAGIC_MASK	0xffffff00
#define TMCOUNT_OPEN		1
#define TMCOUNT_CLOSE		2
#define TMCOUNT_SLOTS		16

/*
 * Slots trustmig-vm marks: from the start of a migration on the source
 * to the resume confirmation, and from the source pausing the vCPU to
 * the destination starting it (user/vmm/migrate.c).
 */
#define TMCOUNT_SLOT_MIGRATION	1
#define TMCOUNT_SLOT_DOWNTIME	2

/* The marker's bytes before the displacement. */
#define TMCOUNT_OPCODE		{ 0x0f, 0x1f, 0x84, 0x00 }
#define TMCOUNT_INSN_LEN	8

/*
 * A compiler barrier too, so that no memory access moves across it;
 * @op and @slot must be compile-time constants.
 */
#define TMCOUNT_MARK(op, slot)						\
	({								\
		asm volatile(".byte 0x0f, 0x1f, 0x84, 0x00\n\t.long %c0"	\
			     : : "i" (TMCOUNT_MAGIC | (op) << 4 | (slot))	\
			     : "memory");					\
	})

#define tmcount_open(slot)	TMCOUNT_MARK(TMCOUNT_OPEN, slot)
#define tmcount_close(slot)	TMCOUNT_MARK(TMCOUNT_CLOSE, slot)

#endif /* _TMCOUNT_H */
