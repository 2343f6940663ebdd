/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The workload guest of the reference VMM (trustmig-vm): keeps writing
 * pages at the pace the host sets and keeps its own integrity record, so
 * that after a migration it can check every page itself.  The layout,
 * ports and page contents are described in tvm_workload.h.
 *
 * 32-bit flat protected mode without paging (gva == gpa), no interrupts,
 * stack at the top of the header page.  %ebp is the running total of
 * writes; nothing else lives in registers across a tick.
 */
#include "tvm_workload.h"

#define HDR(f)	(TVM_WL_HDR_GPA + TVM_WL_H_##f)

	.code32
	.text
	.globl	_start
_start:
	movl	$TVM_WL_STACK_TOP, %esp
	xorl	%ebp, %ebp
	xorl	%ebx, %ebx
fill:					/* every data page once */
	call	write_page
	incl	%ebx
	cmpl	HDR(NDATA), %ebx
	jb	fill
	movl	$0, HDR(CURSOR)

tick:					/* ask the host what to do */
	incl	HDR(TICKS)
	inl	$TVM_WL_PORT_TICK, %eax
	cmpl	$TVM_WL_VERIFY, %eax
	je	do_verify
	movl	%eax, HDR(BATCH)
batch:
	cmpl	$0, HDR(BATCH)
	je	tick
	movl	HDR(CURSOR), %ebx
	call	write_page
	incl	%ebx
	cmpl	HDR(NDATA), %ebx
	jb	1f
	xorl	%ebx, %ebx
1:	movl	%ebx, HDR(CURSOR)
	decl	HDR(BATCH)
	jmp	batch

do_verify:
	call	verify
	outl	%eax, $TVM_WL_PORT_VERDICT
	jmp	tick

/*
 * write_page: rewrite data page %ebx (index) with its next generation and
 * record generation and checksum.  Keeps %ebx, bumps %ebp.
 */
write_page:
	movl	HDR(TABLE), %esi
	leal	(%esi, %ebx, 8), %esi	/* %esi = &table[index] */
	movl	(%esi), %ecx
	incl	%ecx			/* the new generation */
	pushl	%ecx
	movl	%ebx, %edi
	addl	HDR(FIRST), %edi	/* page number */
	imull	$TVM_WL_SEED_P, %edi, %edx
	imull	$TVM_WL_SEED_G, %ecx, %ecx
	xorl	%ecx, %edx		/* %edx = seed */
	shll	$12, %edi		/* %edi = gpa */
	xorl	%eax, %eax		/* %eax = checksum */
	movl	$1024, %ecx
1:	imull	$TVM_WL_LCG_A, %edx, %edx
	addl	$TVM_WL_LCG_C, %edx
	movl	%edx, (%edi)
	imull	$TVM_WL_SUM_MULT, %eax, %eax
	addl	%edx, %eax
	addl	$4, %edi
	decl	%ecx
	jnz	1b
	popl	%ecx
	movl	%ecx, (%esi)
	movl	%eax, 4(%esi)
	incl	%ebp
	movl	%ebp, HDR(TOTAL)
	ret

/*
 * verify: check every data page against its table entry and the write
 * counters against each other.  Out: %eax bad pages, %ebx first bad
 * index or ~0, %ecx pages checked, %edx TVM_WL_BAD_* flags.
 */
verify:
	xorl	%eax, %eax
	movl	%eax, HDR(INDEX)
	movl	%eax, HDR(BAD)
	movl	%eax, HDR(GENSUM)
	movl	$-1, HDR(FIRSTBAD)
vpage:
	movl	HDR(INDEX), %ebx
	cmpl	HDR(NDATA), %ebx
	jae	vdone
	movl	HDR(TABLE), %esi
	leal	(%esi, %ebx, 8), %esi
	movl	(%esi), %ecx		/* generation */
	addl	%ecx, HDR(GENSUM)
	movl	$0, HDR(PBAD)
	movl	%ebx, %edi
	addl	HDR(FIRST), %edi
	imull	$TVM_WL_SEED_P, %edi, %edx
	shll	$12, %edi
	testl	%ecx, %ecx
	jnz	2f
	xorl	%eax, %eax		/* never written: must be zero */
	movl	$1024, %ecx
3:	orl	(%edi), %eax
	addl	$4, %edi
	decl	%ecx
	jnz	3b
	orl	4(%esi), %eax
	jz	vnext
	jmp	vbad
2:	imull	$TVM_WL_SEED_G, %ecx, %ecx
	xorl	%ecx, %edx
	xorl	%eax, %eax
	movl	$1024, %ecx
4:	imull	$TVM_WL_LCG_A, %edx, %edx
	addl	$TVM_WL_LCG_C, %edx
	cmpl	(%edi), %edx
	je	5f
	movl	$1, HDR(PBAD)
5:	imull	$TVM_WL_SUM_MULT, %eax, %eax
	addl	(%edi), %eax
	addl	$4, %edi
	decl	%ecx
	jnz	4b
	cmpl	4(%esi), %eax
	jne	vbad
	cmpl	$0, HDR(PBAD)
	je	vnext
vbad:
	incl	HDR(BAD)
	cmpl	$-1, HDR(FIRSTBAD)
	jne	vnext
	movl	%ebx, HDR(FIRSTBAD)
vnext:
	incl	HDR(INDEX)
	jmp	vpage
vdone:
	xorl	%edx, %edx
	cmpl	%ebp, HDR(GENSUM)
	je	6f
	orl	$TVM_WL_BAD_GENSUM, %edx
6:	cmpl	%ebp, HDR(TOTAL)
	je	7f
	orl	$TVM_WL_BAD_TOTAL, %edx
7:	movl	HDR(BAD), %eax
	movl	HDR(FIRSTBAD), %ebx
	movl	HDR(NDATA), %ecx
	ret
