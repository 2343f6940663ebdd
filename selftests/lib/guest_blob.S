/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Embeds the flat binary of guest.S (built as guest.bin, found through the
 * assembler's include path) into the host library.
 */

	.section .rodata
	.balign	16
	.globl	tvm_guest_start
	.globl	tvm_guest_end
tvm_guest_start:
	.incbin	"guest.bin"
tvm_guest_end:

	.section .note.GNU-stack, "", @progbits
