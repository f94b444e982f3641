# features: +c
# With C, the selector's 32-bit words become 16-bit forms where one exists (r0-r5 live in a5, a0-a4: all in
# x8-x15), a jump to the next block is c.j and a compare with zero c.beqz/c.bnez.
mov %r0, 0
mov %r1, 7
add %r0, %r1
add %r0, 1
stxdw [%r10-8], %r1
ldxdw %r2, [%r10-8]
jeq %r2, 0, +2
and %r0, 15
ja +1
sub %r0, %r2
exit
# ---- expected ----
# ; riscv64 code for compressed: 28 bytes, 0 relocations, frame 16 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# compressed:
#     ; frame setup / teardown
#          0:  717d      c.addi16sp sp, -0x10
#     ;    0: mov %r0, 0
#          2:  4781      c.li a5, 0
#     ;    1: mov %r1, 7
#          4:  451d      c.li a0, 7
#     ;    2: add %r0, %r1
#          6:  97aa      c.add a5, a0
#     ;    3: add %r0, 1
#          8:  0785      c.addi a5, 1
#     ;    4: stxdw [%r10-8], %r1
#          a:  e42a      c.sdsp a0, 8(sp)
#     ;    5: ldxdw %r2, [%r10-8]
#          c:  65a2      c.ldsp a1, 8(sp)
#     ;    6: jeq %r2, 0, +2
#          e:  c199      c.beqz a1, 6
#     ;    7: and %r0, 15
#         10:  8bbd      c.andi a5, 0xf
#     ;    8: ja +1
#         12:  a011      c.j 4
#     ;    9: sub %r0, %r2
#         14:  8f8d      c.sub a5, a1
#     ;   10: exit
#     ; frame setup / teardown
#         16:  6141      c.addi16sp sp, 0x10
#         18:  853e      c.mv a0, a5
#         1a:  8082      c.jr ra
