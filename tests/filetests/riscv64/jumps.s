# Compares against 0 use the zero register; other immediates go through t2; jgt/jle/jsgt/jsle swap operands.
# JMP32 compares sign-extended low halves (sext.w), which keeps signed and unsigned order alike.
mov %r0, 0
jeq %r1, 0, +1
mov %r0, 1
jne32 %r2, 0, +1
add %r0, 2
jgt %r1, 100, +1
add %r0, 4
jslt %r1, -5, +1
add %r0, 8
jset %r1, 0x10, +1
add %r0, 16
jle %r1, %r2, +1
add %r0, 32
jsgt32 %r1, %r2, +1
add %r0, 64
jset32 %r1, -1, +1
add %r0, 128
exit
# ---- expected ----
# ; riscv64 code for jumps: 108 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# jumps:
#     ;    0: mov %r0, 0
#          0:  00000793  mv a5, zero
#     ;    1: jeq %r1, 0, +1
#          4:  00050463  beqz a0, 8
#     ;    2: mov %r0, 1
#          8:  00100793  addi a5, zero, 1
#     ;    3: jne32 %r2, 0, +1
#          c:  0005831b  sext.w t1, a1
#         10:  00031463  bnez t1, 8
#     ;    4: add %r0, 2
#         14:  00278793  addi a5, a5, 2
#     ;    5: jgt %r1, 100, +1
#         18:  06400393  addi t2, zero, 0x64
#         1c:  00a3e463  bltu t2, a0, 8
#     ;    6: add %r0, 4
#         20:  00478793  addi a5, a5, 4
#     ;    7: jslt %r1, -5, +1
#         24:  ffb00393  addi t2, zero, -5
#         28:  00754463  blt a0, t2, 8
#     ;    8: add %r0, 8
#         2c:  00878793  addi a5, a5, 8
#     ;    9: jset %r1, 16, +1
#         30:  01057313  andi t1, a0, 0x10
#         34:  00031463  bnez t1, 8
#     ;   10: add %r0, 16
#         38:  01078793  addi a5, a5, 0x10
#     ;   11: jle %r1, %r2, +1
#         3c:  00a5f463  bgeu a1, a0, 8
#     ;   12: add %r0, 32
#         40:  02078793  addi a5, a5, 0x20
#     ;   13: jsgt32 %r1, %r2, +1
#         44:  0005031b  sext.w t1, a0
#         48:  0005839b  sext.w t2, a1
#         4c:  0063c463  blt t2, t1, 8
#     ;   14: add %r0, 64
#         50:  04078793  addi a5, a5, 0x40
#     ;   15: jset32 %r1, -1, +1
#         54:  fff57313  andi t1, a0, -1
#         58:  0003031b  sext.w t1, t1
#         5c:  00031463  bnez t1, 8
#     ;   16: add %r0, 128
#         60:  08078793  addi a5, a5, 0x80
#     ;   17: exit
#     ; frame setup / teardown
#         64:  00078513  mv a0, a5
#         68:  00008067  ret
