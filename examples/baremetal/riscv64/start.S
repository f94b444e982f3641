/* Bare-metal entry for qemu-system-riscv64 -M virt -bios none: stack, .bss, main(), then the SiFive test device
 * (0x100000) powers the machine off with FINISHER_PASS (0x5555); board_exit(code) with FINISHER_FAIL (0x3333)
 * and the code, which QEMU makes its exit status. */
	.section .text.start
	.global _start
_start:
	la	sp, __stack_top
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	call	main
	li	t0, 0x100000
	li	t1, 0x5555
	sw	t1, 0(t0)
3:	wfi
	j	3b

	.text
	.global board_exit
board_exit:
	slli	a0, a0, 16
	li	t1, 0x3333
	or	a0, a0, t1
	li	t0, 0x100000
	sw	a0, 0(t0)
5:	wfi
	j	5b
