# 64-bit constants of more than two instructions and the 64-bit byte swap's masks are loaded by auipc+ld from
# one 8-byte-aligned pool after the last function, one entry per value; shorter constants stay li sequences.
# A swap of a known constant is folded: its result is the pool entry.
lddw %r0, 0x123456789abcdef1
lddw %r1, 0x100000000
add %r0, %r1
be64 %r0
lddw %r2, 0x123456789abcdef1
bswap64 %r2
xor %r0, %r2
add %r0, %r1
exit
# ---- expected ----
# ; riscv64 code for constant_pool: 160 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# constant_pool:
#     ;    0: lddw %r0, 0x123456789abcdef1
#          0:  00000797          auipc a5, 0
#          4:  0807b783          ld a5, 0x80(a5)
#     ;    2: lddw %r1, 0x100000000
#          8:  00100513          addi a0, zero, 1
#          c:  02051513          slli a0, a0, 0x20
#     ;    4: add %r0, %r1
#         10:  00a787b3          add a5, a5, a0
#     ;    5: be64 %r0
#         14:  00000397          auipc t2, 0
#         18:  0743b383          ld t2, 0x74(t2)
#         1c:  0087d313          srli t1, a5, 8
#         20:  00737333          and t1, t1, t2
#         24:  0077f7b3          and a5, a5, t2
#         28:  00879793          slli a5, a5, 8
#         2c:  0067e7b3          or a5, a5, t1
#         30:  00000397          auipc t2, 0
#         34:  0603b383          ld t2, 0x60(t2)
#         38:  0107d313          srli t1, a5, 0x10
#         3c:  00737333          and t1, t1, t2
#         40:  0077f7b3          and a5, a5, t2
#         44:  01079793          slli a5, a5, 0x10
#         48:  0067e7b3          or a5, a5, t1
#         4c:  0207d313          srli t1, a5, 0x20
#         50:  02079793          slli a5, a5, 0x20
#         54:  0067e7b3          or a5, a5, t1
#     ;    6: lddw %r2, 0x123456789abcdef1
#         58:  00000597          auipc a1, 0
#         5c:  0285b583          ld a1, 0x28(a1)
#     ;    8: bswap64 %r2
#         60:  00000597          auipc a1, 0
#         64:  0385b583          ld a1, 0x38(a1)
#     ;    9: xor %r0, %r2
#         68:  00b7c7b3          xor a5, a5, a1
#     ;   10: add %r0, %r1
#         6c:  00a787b3          add a5, a5, a0
#     ;   11: exit
#     ; frame setup / teardown
#         70:  00078513          mv a0, a5
#         74:  00008067          ret
#     ; constants
#         78:  0000000000000000  .quad 0x0
#         80:  123456789abcdef1  .quad 0x123456789abcdef1
#         88:  00ff00ff00ff00ff  .quad 0xff00ff00ff00ff
#         90:  0000ffff0000ffff  .quad 0xffff0000ffff
#         98:  f1debc9a78563412  .quad 0xf1debc9a78563412
