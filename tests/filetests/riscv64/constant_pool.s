# 64-bit constants of more than two instructions and the 64-bit byte swap's masks are loaded by auipc+ld from
# one 8-byte-aligned pool after the last function, one entry per value; shorter constants stay li sequences.
lddw %r0, 0x123456789abcdef1
lddw %r1, 0x100000000
be64 %r0
lddw %r2, 0x123456789abcdef1
xor %r0, %r2
add %r0, %r1
exit
# ---- expected ----
# ; riscv64 code for constant_pool: 136 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# constant_pool:
#     ;    0: lddw %r0, 0x123456789abcdef1
#          0:  00000797          auipc a5, 0
#          4:  0707b783          ld a5, 0x70(a5)
#     ;    2: lddw %r1, 0x100000000
#          8:  00100513          addi a0, zero, 1
#          c:  02051513          slli a0, a0, 0x20
#     ;    4: be64 %r0
#         10:  00000397          auipc t2, 0
#         14:  0683b383          ld t2, 0x68(t2)
#         18:  0087d313          srli t1, a5, 8
#         1c:  00737333          and t1, t1, t2
#         20:  0077f7b3          and a5, a5, t2
#         24:  00879793          slli a5, a5, 8
#         28:  0067e7b3          or a5, a5, t1
#         2c:  00000397          auipc t2, 0
#         30:  0543b383          ld t2, 0x54(t2)
#         34:  0107d313          srli t1, a5, 0x10
#         38:  00737333          and t1, t1, t2
#         3c:  0077f7b3          and a5, a5, t2
#         40:  01079793          slli a5, a5, 0x10
#         44:  0067e7b3          or a5, a5, t1
#         48:  0207d313          srli t1, a5, 0x20
#         4c:  02079793          slli a5, a5, 0x20
#         50:  0067e7b3          or a5, a5, t1
#     ;    5: lddw %r2, 0x123456789abcdef1
#         54:  00000597          auipc a1, 0
#         58:  01c5b583          ld a1, 0x1c(a1)
#     ;    7: xor %r0, %r2
#         5c:  00b7c7b3          xor a5, a5, a1
#     ;    8: add %r0, %r1
#         60:  00a787b3          add a5, a5, a0
#     ;    9: exit
#     ; frame setup / teardown
#         64:  00078513          mv a0, a5
#         68:  00008067          ret
#     ; constants
#         6c:  00000000          .zero 4
#         70:  123456789abcdef1  .quad 0x123456789abcdef1
#         78:  00ff00ff00ff00ff  .quad 0xff00ff00ff00ff
#         80:  0000ffff0000ffff  .quad 0xffff0000ffff
