# r10-relative accesses are sp-relative (r10 = sp + the frame's stack); fetch atomics are AMOs with aq+rl,
# 32-bit fetches zero-extend the old value, cmpxchg is an lr/sc loop; r10 as a value is built in a scratch.
stdw [%r10-8], 7
stxw [%r10-12], %r1
ldxh %r2, [%r10-12]
ldxsb %r3, [%r10-300]
mov %r1, 2
lock fetch add [%r10-8], %r1
lock and32 [%r10-12], %r1
lock fetch xor32 [%r10-12], %r1
lock xchg [%r10-8], %r2
lock cmpxchg [%r10-8], %r3
lock cmpxchg32 [%r10-12], %r3
mov %r4, %r10
ldxdw %r0, [%r10-8]
exit
# ---- expected ----
# ; riscv64 code for stack_and_atomics: 132 bytes, 0 relocations, frame 512 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# stack_and_atomics:
#     ; frame setup / teardown
#          0:  e0010113  addi sp, sp, -0x200
#     ;    0: stdw [%r10-8], 7
#          4:  00700313  addi t1, zero, 7
#          8:  1e613c23  sd t1, 0x1f8(sp)
#     ;    1: stxw [%r10-12], %r1
#          c:  1ea12a23  sw a0, 0x1f4(sp)
#     ;    2: ldxh %r2, [%r10-12]
#         10:  1f415583  lhu a1, 0x1f4(sp)
#     ;    3: ldxsb %r3, [%r10-300]
#         14:  0d410603  lb a2, 0xd4(sp)
#     ;    4: mov %r1, 2
#         18:  00200513  addi a0, zero, 2
#     ;    5: lock fetch add [%r10-8], %r1
#         1c:  1f810313  addi t1, sp, 0x1f8
#         20:  06a3352f  amoadd.d.aqrl a0, a0, (t1)
#     ;    6: lock and32 [%r10-12], %r1
#         24:  1f410313  addi t1, sp, 0x1f4
#         28:  60a3202f  amoand.w zero, a0, (t1)
#     ;    7: lock fetch xor32 [%r10-12], %r1
#         2c:  1f410313  addi t1, sp, 0x1f4
#         30:  26a3252f  amoxor.w.aqrl a0, a0, (t1)
#     ;    8: lock xchg [%r10-8], %r2
#         34:  1f810313  addi t1, sp, 0x1f8
#         38:  0eb335af  amoswap.d.aqrl a1, a1, (t1)
#     ;    9: lock cmpxchg [%r10-8], %r3
#         3c:  1f810313  addi t1, sp, 0x1f8
#         40:  160333af  lr.d.aqrl t2, (t1)
#         44:  00f39663  bne t2, a5, 0xc
#         48:  1ac33e2f  sc.d.rl t3, a2, (t1)
#         4c:  fe0e1ae3  bnez t3, -0xc
#         50:  00038793  mv a5, t2
#     ;   10: lock cmpxchg32 [%r10-12], %r3
#         54:  1f410313  addi t1, sp, 0x1f4
#         58:  0007829b  sext.w t0, a5
#         5c:  160323af  lr.w.aqrl t2, (t1)
#         60:  00539663  bne t2, t0, 0xc
#         64:  1ac32e2f  sc.w.rl t3, a2, (t1)
#         68:  fe0e1ae3  bnez t3, -0xc
#         6c:  00038793  mv a5, t2
#     ;   11: mov %r4, %r10
#         70:  20010693  addi a3, sp, 0x200
#     ;   12: ldxdw %r0, [%r10-8]
#         74:  1f813783  ld a5, 0x1f8(sp)
#     ;   13: exit
#     ; frame setup / teardown
#         78:  20010113  addi sp, sp, 0x200
#         7c:  00078513  mv a0, a5
#         80:  00008067  ret
