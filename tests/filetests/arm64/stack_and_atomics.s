# r10-relative accesses become sp-relative scaled offsets; fetch atomics use LSE with acquire+release.
stdw [%r10-8], 7
stxw [%r10-12], %r1
ldxh %r2, [%r10-12]
ldxsb %r3, [%r10-300]
mov %r1, 2
lock fetch add [%r10-8], %r1
lock and32 [%r10-12], %r1
lock cmpxchg [%r10-8], %r3
ldxdw %r0, [%r10-8]
exit
# ---- expected ----
# ; arm64 code for stack_and_atomics: 84 bytes, 0 relocations, frame 320 bytes
# ; registers: r0=x7 r1=x0 r2=x1 r3=x2 r4=x3 r5=x4 r6=x19 r7=x20 r8=x21 r9=x22 r10=x25 ax=x9
# stack_and_atomics:
#     ; frame setup / teardown
#          0:  a9bf7ff9  stp x25, xzr, [sp, #-0x10]!
#          4:  910003f9  mov x25, sp
#          8:  d104c3ff  sub sp, sp, #0x130
#     ;    0: stdw [%r10-8], 7
#          c:  d28000ea  mov x10, #7
#         10:  f90097ea  str x10, [sp, #0x128]
#     ;    1: stxw [%r10-12], %r1
#         14:  b90127e0  str w0, [sp, #0x124]
#     ;    2: ldxh %r2, [%r10-12]
#         18:  79424be1  ldrh w1, [sp, #0x124]
#     ;    3: ldxsb %r3, [%r10-300]
#         1c:  398013e2  ldrsb x2, [sp, #4]
#     ;    4: mov %r1, 2
#         20:  d2800040  mov x0, #2
#     ;    5: lock fetch add [%r10-8], %r1
#         24:  d100232b  sub x11, x25, #8
#         28:  f8e00160  ldaddal x0, x0, [x11]
#     ;    6: lock and32 [%r10-12], %r1
#         2c:  d100332b  sub x11, x25, #0xc
#         30:  2a2003ea  mvn w10, w0
#         34:  b82a117f  stclr w10, [x11]
#     ;    7: lock cmpxchg [%r10-8], %r3
#         38:  d100232b  sub x11, x25, #8
#         3c:  c8e7fd62  casal x7, x2, [x11]
#     ;    8: ldxdw %r0, [%r10-8]
#         40:  f94097e7  ldr x7, [sp, #0x128]
#     ;    9: exit
#     ; frame setup / teardown
#         44:  9100033f  mov sp, x25
#         48:  a8c17ff9  ldp x25, xzr, [sp], #0x10
#         4c:  aa0703e0  mov x0, x7
#         50:  d65f03c0  ret
