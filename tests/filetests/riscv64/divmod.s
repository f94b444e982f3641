# divu by zero gives all ones on RISC-V, so the legaliser guards div (jne src, 0), unless a constant divisor is set
# on the straight-line path into it; remu by zero gives the dividend and div/rem of INT_MIN by -1 do not trap, so
# mod and the signed overflow need no guard. The guard of sdiv32 needs no sext.w: lwu zero-extended r1.
mov %r0, 100
ldxdw %r1, [%r1+0]
div %r0, %r1
ldxw %r1, [%r1+0]
sdiv32 %r0, %r1
mod %r0, %r1
smod %r0, %r1
mod32 %r0, %r1
mov %r2, 7
div %r0, %r2
exit
# ---- expected ----
# ; riscv64 code for divmod: 88 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# divmod:
#     ;    0: mov %r0, 100
#          0:  06400793  addi a5, zero, 0x64
#     ;    1: ldxdw %r1, [%r1]
#          4:  00053503  ld a0, 0(a0)
#     ;    2: div %r0, %r1
#          8:  00051663  bnez a0, 0xc
#     ;    2: div %r0, %r1
#          c:  00000793  mv a5, zero
#     ;    2: div %r0, %r1
#         10:  0080006f  j 8
#     ;    2: div %r0, %r1
#         14:  02a7d7b3  divu a5, a5, a0
#     ;    3: ldxw %r1, [%r1]
#         18:  00056503  lwu a0, 0(a0)
#     ;    4: sdiv32 %r0, %r1
#         1c:  00051663  bnez a0, 0xc
#     ;    4: sdiv32 %r0, %r1
#         20:  00000793  mv a5, zero
#     ;    4: sdiv32 %r0, %r1
#         24:  0100006f  j 0x10
#     ;    4: sdiv32 %r0, %r1
#         28:  02a7c7bb  divw a5, a5, a0
#         2c:  02079793  slli a5, a5, 0x20
#         30:  0207d793  srli a5, a5, 0x20
#     ;    5: mod %r0, %r1
#         34:  02a7f7b3  remu a5, a5, a0
#     ;    6: smod %r0, %r1
#         38:  02a7e7b3  rem a5, a5, a0
#     ;    7: mod32 %r0, %r1
#         3c:  02a7f7bb  remuw a5, a5, a0
#         40:  02079793  slli a5, a5, 0x20
#         44:  0207d793  srli a5, a5, 0x20
#     ;    8: mov %r2, 7
#         48:  00700593  addi a1, zero, 7
#     ;    9: div %r0, %r2
#         4c:  02b7d7b3  divu a5, a5, a1
#     ;   10: exit
#     ; frame setup / teardown
#         50:  00078513  mv a0, a5
#         54:  00008067  ret
