/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Embeds the flat binaries of guest.S and guest_workload.S (built as
 * guest.bin and guest_workload.bin, found through the assembler's include
 * path) into the host library.
 */

	.section .rodata
	.balign	16
	.globl	tvm_guest_start
	.globl	tvm_guest_end
tvm_guest_start:
	.incbin	"guest.bin"
tvm_guest_end:

	.balign	16
	.globl	tvm_workload_start
	.globl	tvm_workload_end
tvm_workload_start:
	.incbin	"guest_workload.bin"
tvm_workload_end:

	.section .note.GNU-stack, "", @progbits
