/* Bare-metal entry for qemu-system-aarch64 -M virt: stack, .bss, main(), then PSCI SYSTEM_OFF; board_exit(code)
 * ends QEMU with that exit status through semihosting SYS_EXIT (QEMU needs -semihosting). */
	.section .text.start
	.global _start
_start:
	ldr	x0, =__stack_top
	mov	sp, x0
	ldr	x0, =__bss_start
	ldr	x1, =__bss_end
1:	cmp	x0, x1
	b.hs	2f
	str	xzr, [x0], #8
	b	1b
2:	bl	main
	ldr	x0, =0x84000008		/* PSCI SYSTEM_OFF */
	hvc	#0
3:	wfe
	b	3b

	.text
	.global board_exit
board_exit:				/* SYS_EXIT (0x18) with {ADP_Stopped_ApplicationExit, code} */
	sub	sp, sp, #16
	ldr	x1, =0x20026
	str	x1, [sp]
	sxtw	x0, w0
	str	x0, [sp, #8]
	mov	x1, sp
	mov	x0, #0x18
	hlt	#0xf000
4:	wfe
	b	4b
