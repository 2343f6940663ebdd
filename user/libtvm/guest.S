/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tvm guest: one pass over a range of data pages.
 *
 * Runs in 32-bit flat protected mode without paging (so gva == gpa), with
 * no stack and no interrupts.  It is linked to run at TVM_GUEST_GPA (page 0)
 * and is position independent anyway (relative jumps only).
 *
 * In (set by the host with KVM_SET_REGS before each pass):
 *   %ebx  first page number
 *   %ecx  number of pages in the range
 *   %esi  stride (>= 1)
 *   %edi  generation of this pass
 *
 * For page = first, first + stride, ... < first + count it stores the
 * 32-bit word ((gen * TVM_GEN_MULT + page) | 1) at byte offset
 * ((gen * 4) & 0xffc) of that page; tvm.h mirrors this in tvm_pass_value()
 * and tvm_pass_offset().
 *
 * Out: "outl %eax, $0xb7" with %eax = the first page number past the last
 * one written (the host checks it).  Entering again without new registers
 * just reports the end again.
 */

	.code32
	.text
	.globl	_start
_start:
	movl	%edi, %edx
	shll	$2, %edx
	andl	$0xffc, %edx		/* %edx = offset in the page */
	imull	$0x9e3779b1, %edi, %ebp	/* %ebp = gen * TVM_GEN_MULT */
	testl	%ecx, %ecx
	jz	2f

1:	movl	%ebx, %eax
	shll	$12, %eax		/* %eax = gpa of the page */
	leal	(%ebp, %ebx), %edi
	orl	$1, %edi		/* %edi = value for this page */
	movl	%edi, (%eax, %edx)
	addl	%esi, %ebx		/* next page */
	subl	%esi, %ecx		/* pages left in the range */
	ja	1b			/* loop while count > stride (unsigned) */

2:	movl	%ebx, %eax
	outl	%eax, $0xb7		/* TVM_PORT_DONE: pass complete */
	jmp	2b
