# 12-bit immediates fit addi/andi/ori/xori (sub as addi of the negation); larger ones are built in t1 by
# lui+addiw (32-bit) or the shortest li sequence (64-bit); shifts by immediate are one slli/srli/srai.
mov %r0, 1
add %r0, 2047
add %r0, -2048
sub %r0, 2048
and %r0, 0xff00
or %r0, 0x7ff
xor %r0, 0x12345
lsh %r0, 3
arsh %r0, 63
mov %r1, -1
lddw %r2, 0x8000000000000000
lddw %r3, 0x123456789abcdef0
mul %r0, %r1
exit
# ---- expected ----
# ; riscv64 code for alu_immediates: 96 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# alu_immediates:
#     ;    0: mov %r0, 1
#          0:  00100793          addi a5, zero, 1
#     ;    1: add %r0, 2047
#          4:  7ff78793          addi a5, a5, 0x7ff
#     ;    2: add %r0, -2048
#          8:  80078793          addi a5, a5, -0x800
#     ;    3: sub %r0, 2048
#          c:  80078793          addi a5, a5, -0x800
#     ;    4: and %r0, 65280
#         10:  00010337          lui t1, 0x10
#         14:  f003031b          addiw t1, t1, -0x100
#         18:  0067f7b3          and a5, a5, t1
#     ;    5: or %r0, 2047
#         1c:  7ff7e793          ori a5, a5, 0x7ff
#     ;    6: xor %r0, 74565
#         20:  00012337          lui t1, 0x12
#         24:  3453031b          addiw t1, t1, 0x345
#         28:  0067c7b3          xor a5, a5, t1
#     ;    7: lsh %r0, 3
#         2c:  00379793          slli a5, a5, 3
#     ;    8: arsh %r0, 63
#         30:  43f7d793          srai a5, a5, 0x3f
#     ;    9: mov %r1, -1
#         34:  fff00513          addi a0, zero, -1
#     ;   10: lddw %r2, 0x8000000000000000
#         38:  fff00593          addi a1, zero, -1
#         3c:  03f59593          slli a1, a1, 0x3f
#     ;   12: lddw %r3, 0x123456789abcdef0
#         40:  00000617          auipc a2, 0
#         44:  01863603          ld a2, 0x18(a2)
#     ;   14: mul %r0, %r1
#         48:  02a787b3          mul a5, a5, a0
#     ;   15: exit
#     ; frame setup / teardown
#         4c:  00078513          mv a0, a5
#         50:  00008067          ret
#     ; constants
#         54:  00000000          .zero 4
#         58:  123456789abcdef0  .quad 0x123456789abcdef0
