# ALU32 results are zero-extended (slli+srli without Zba) except where the value is already: srliw by 1..31,
# andi with a non-negative mask, mov32 of a constant. The W forms (addw, sllw, ...) do the 32-bit arithmetic.
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
# ; riscv64 code for alu32: 164 bytes, 0 relocations, frame 0 bytes
# alu32:
#     ;    0: mov32 %r0, -1
#          0:  fff00793  addi a5, zero, -1
#          4:  0207d793  srli a5, a5, 0x20
#     ;    1: add32 %r0, 5
#          8:  0057879b  addiw a5, a5, 5
#          c:  02079793  slli a5, a5, 0x20
#         10:  0207d793  srli a5, a5, 0x20
#     ;    2: sub32 %r0, %r1
#         14:  40a787bb  subw a5, a5, a0
#         18:  02079793  slli a5, a5, 0x20
#         1c:  0207d793  srli a5, a5, 0x20
#     ;    3: rsh32 %r0, 4
#         20:  0047d79b  srliw a5, a5, 4
#     ;    4: and32 %r0, 255
#         24:  0ff7f793  andi a5, a5, 0xff
#     ;    5: lsh32 %r0, %r1
#         28:  00a797bb  sllw a5, a5, a0
#         2c:  02079793  slli a5, a5, 0x20
#         30:  0207d793  srli a5, a5, 0x20
#     ;    6: or32 %r0, 16
#         34:  0107e793  ori a5, a5, 0x10
#         38:  02079793  slli a5, a5, 0x20
#         3c:  0207d793  srli a5, a5, 0x20
#     ;    7: neg32 %r0
#         40:  40f007bb  negw a5, a5
#         44:  02079793  slli a5, a5, 0x20
#         48:  0207d793  srli a5, a5, 0x20
#     ;    8: mov32 %r1, %r0
#         4c:  02079513  slli a0, a5, 0x20
#         50:  02055513  srli a0, a0, 0x20
#     ;    9: movsx832 %r2, %r1
#         54:  03851593  slli a1, a0, 0x38
#         58:  4185d593  srai a1, a1, 0x18
#         5c:  0205d593  srli a1, a1, 0x20
#     ;   10: le16 %r2
#         60:  03059593  slli a1, a1, 0x30
#         64:  0305d593  srli a1, a1, 0x30
#     ;   11: be32 %r1
#         68:  0ff57393  andi t2, a0, 0xff
#         6c:  00839393  slli t2, t2, 8
#         70:  00855513  srli a0, a0, 8
#         74:  0ff57313  andi t1, a0, 0xff
#         78:  0063e3b3  or t2, t2, t1
#         7c:  00839393  slli t2, t2, 8
#         80:  00855513  srli a0, a0, 8
#         84:  0ff57313  andi t1, a0, 0xff
#         88:  0063e3b3  or t2, t2, t1
#         8c:  00839393  slli t2, t2, 8
#         90:  00855513  srli a0, a0, 8
#         94:  0ff57513  andi a0, a0, 0xff
#         98:  00756533  or a0, a0, t2
#     ;   12: exit
#     ; frame setup / teardown
#         9c:  00078513  mv a0, a5
#         a0:  00008067  ret
