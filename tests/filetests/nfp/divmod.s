# Division by constants: a power of two is a shift, 32-bit by a reciprocal multiply, 64-bit by a loop;
# a register divisor the value tracking proves constant compiles the same way.
mov %r0, 100
div32 %r0, 7
mod %r0, 16
mov %r1, 3
div %r0, %r1
exit
# ---- expected ----
# ; nfp code for divmod: 384 bytes, 3 relocations, frame 0 bytes
# ; registers: r0=gpr0:gpr1 r1=gpr2:gpr3 r2=gpr4:gpr5 r3=gpr6:gpr7 r4=gpr8:gpr9 r5=gpr10:gpr11 r6=gpr12:gpr13 r7=gpr14:gpr15 r8=gpr16:gpr17 r9=gpr18:gpr19 r10=gpr24:gpr25 ax=gpr26:gpr27
# divmod:
#     ; frame setup / teardown
#          0:  0008c0f000205300  immed[b20, 0x200, all, 0]
#          8:  000642a081805016  alu[ab24, a22, +, b20]
#         10:  0000c2f0000c0019  immed[ab25, 0x0, all, 0]
#     ;    0: mov %r0, 100
#         18:  000902f0000d9000  immed[ab0, 0x64, all, 0]
#         20:  000cc2f0000c0001  immed[ab1, 0x0, all, 0]
#     ;    1: div32 %r0, 7
#         28:  000820f004905325  immed[b20, 0x4925, all, 0]
#         30:  000b60f442405392  immed[b20, 0x2492, word, 2]
#         38:  0003e0f800005000  mul[start, step1, a0, b20]
#         40:  000fe0f980005000  mul[32x32, step1, a0, b20]
#         48:  000aa0f980105000  mul[32x32, step2, a0, b20]
#         50:  0006a0f980205000  mul[32x32, step3, a0, b20]
#         58:  0003e0f980305000  mul[32x32, step4, a0, b20]
#         60:  000982f98040001b  mul[32x32, last, ab27]
#         68:  000c22f98050001a  mul[32x32, last2, ab26]
#         70:  0000e2aa81b06800  alu[ab27, a0, -, b26]
#         78:  0002e28011b06d00  shf[ab27, a0, none, b27, shr, 1]
#         80:  000902a081a06c1a  alu[ab26, a26, +, b27]
#         88:  000e828021a06900  shf[ab26, a0, none, b26, shr, 2]
#         90:  000902a000006800  alu[ab0, a0, b, b26]
#         98:  000cc2f0000c0001  immed[ab1, 0x0, all, 0]
#     ;    2: mod %r0, 16
#         a0:  000600f00000530f  immed[b20, 0xf, all, 0]
#         a8:  000222a400005000  alu[ab0, a0, and, b20]
#         b0:  0004a0f000005700  immed[b21, 0x0, all, 0]
#         b8:  0002a2a400105401  alu[ab1, a1, and, b21]
#     ;    3: mov %r1, 3
#         c0:  000142f0000c0c02  immed[ab2, 0x3, all, 0]
#         c8:  000da2f0000c0003  immed[ab3, 0x0, all, 0]
#     ;    4: div %r0, %r1
#         d0:  000662a001c00000  alu[ab28, a0, b, b0]
#         d8:  000322f0000c001e  immed[ab30, 0x0, all, 0]
#         e0:  000000f000005303  immed[b20, 0x3, all, 0]
#         e8:  000602a001d00400  alu[ab29, a0, b, b1]
#         f0:  0003c2f0000c001f  immed[ab31, 0x0, all, 0]
#         f8:  0004a0f000005700  immed[b21, 0x0, all, 0]
#        100:  000340f0000d0014  immed[a20, 0x40, all, 0]
#        108:  00016281f1f07b1f  shf[ab31, a31, none, b30, dshr, 31]
#        110:  0008c281f1e0771e  shf[ab30, a30, none, b29, dshr, 31]
#        118:  00006281f1d0731d  shf[ab29, a29, none, b28, dshr, 31]
#        120:  00030281f1c07200  shf[ab28, a0, none, b28, shl, 31]
#        128:  000f82aa81a0501e  alu[ab26, a30, -, b20]
#        130:  0008e2a681b0541f  alu[ab27, a31, -carry, b21]
#        138:  0107e0d80ac08025  blo[43], defer 0    ; BR_REL    ; BR_REL divmod
#        140:  000002a001e06800  alu[ab30, a0, b, b26]
#        148:  000062a001f06c00  alu[ab31, a0, b, b27]
#        150:  000242aa01cc041c  alu[ab28, a28, or, #0x1]
#        158:  000cc0aa814c0414  alu[a20, a20, -, #0x1]
#        160:  010c40d808408021  bne[33], defer 0    ; BR_REL    ; BR_REL divmod
#        168:  000602a000007000  alu[ab0, a0, b, b28]
#        170:  000662a000107400  alu[ab1, a0, b, b29]
#     ;    5: exit
#     ; frame setup / teardown
#        178:  060f60d800008038  br[0], defer 0    ; NEXT_PKT    ; NEXT_PKT nfp_done
# ; 48 of 2560 instruction words (the firmware's instruction store)
