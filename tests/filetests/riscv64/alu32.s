# ALU32 results are zero-extended (slli+srli without Zba) except where the value is already (srliw by 1..31,
# andi with a non-negative mask, mov32 of a constant) or the extension is dead: the next instruction is an
# ALU32 operation overwriting the same register from its low half. The W forms do the 32-bit arithmetic.
mov32 %r0, -1
add32 %r0, 5
sub32 %r0, %r1
rsh32 %r0, 4
and32 %r0, 0xff
lsh32 %r0, %r1
or32 %r0, 0x10
neg32 %r0
mov32 %r1, %r0
movsx832 %r2, %r1
le16 %r2
be32 %r1
exit
# ---- expected ----
# ; riscv64 code for alu32: 108 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# alu32:
#     ;    0: mov32 %r0, -1
#          0:  fff00793  addi a5, zero, -1
#     ;    1: add32 %r0, 5
#          4:  0057879b  addiw a5, a5, 5
#     ;    2: sub32 %r0, %r1
#          8:  40a787bb  subw a5, a5, a0
#     ;    3: rsh32 %r0, 4
#          c:  0047d79b  srliw a5, a5, 4
#     ;    4: and32 %r0, 255
#         10:  0ff7f793  andi a5, a5, 0xff
#     ;    5: lsh32 %r0, %r1
#         14:  00a797bb  sllw a5, a5, a0
#     ;    6: or32 %r0, 16
#         18:  0107e793  ori a5, a5, 0x10
#     ;    7: neg32 %r0
#         1c:  40f007bb  negw a5, a5
#         20:  02079793  slli a5, a5, 0x20
#         24:  0207d793  srli a5, a5, 0x20
#     ;    8: mov32 %r1, %r0
#         28:  00078513  mv a0, a5
#     ;    9: movsx832 %r2, %r1
#         2c:  03851593  slli a1, a0, 0x38
#         30:  4385d593  srai a1, a1, 0x38
#     ;   10: le16 %r2
#         34:  03059593  slli a1, a1, 0x30
#         38:  0305d593  srli a1, a1, 0x30
#     ;   11: be32 %r1
#         3c:  0105531b  srliw t1, a0, 0x10
#         40:  01051513  slli a0, a0, 0x10
#         44:  00656533  or a0, a0, t1
#         48:  00ff03b7  lui t2, 0xff0
#         4c:  0ff3839b  addiw t2, t2, 0xff
#         50:  00855313  srli t1, a0, 8
#         54:  00737333  and t1, t1, t2
#         58:  00757533  and a0, a0, t2
#         5c:  00851513  slli a0, a0, 8
#         60:  00656533  or a0, a0, t1
#     ;   12: exit
#     ; frame setup / teardown
#         64:  00078513  mv a0, a5
#         68:  00008067  ret
