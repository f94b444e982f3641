# 64-bit ALU on GPR pairs: low word then high word with the carry; wide constants through immed.
mov %r0, 1
lddw %r1, 0x123456789abcdef0
add %r0, %r1
sub %r0, -3
lsh %r0, 36
arsh %r0, 5
mul %r0, %r1
exit
# ---- expected ----
# ; nfp code for alu_pairs: 344 bytes, 1 relocations, frame 0 bytes
# ; registers: r0=gpr0:gpr1 r1=gpr2:gpr3 r2=gpr4:gpr5 r3=gpr6:gpr7 r4=gpr8:gpr9 r5=gpr10:gpr11 r6=gpr12:gpr13 r7=gpr14:gpr15 r8=gpr16:gpr17 r9=gpr18:gpr19 r10=gpr24:gpr25 ax=gpr26:gpr27
# alu_pairs:
#     ; frame setup / teardown
#          0:  0008c0f000205300  immed[b20, 0x200, all, 0]
#          8:  000642a081805016  alu[ab24, a22, +, b20]
#         10:  0000c2f0000c0019  immed[ab25, 0x0, all, 0]
#     ;    0: mov %r0, 1
#         18:  000902f0000c0400  immed[ab0, 0x1, all, 0]
#         20:  000cc2f0000c0001  immed[ab1, 0x0, all, 0]
#     ;    1: lddw %r1, 0x123456789abcdef0
#         28:  0003a2f00defc002  immed[ab2, 0xdef0, all, 0]
#         30:  000c22f449aef002  immed[ab2, 0x9abc, word, 2]
#         38:  000e62f0056de003  immed[ab3, 0x5678, all, 0]
#         40:  0001e2f4412cd003  immed[ab3, 0x1234, word, 2]
#     ;    3: add %r0, %r1
#         48:  000802a080000800  alu[ab0, a0, +, b2]
#         50:  000162a880100c01  alu[ab1, a1, +carry, b3]
#     ;    4: sub %r0, -3
#         58:  0007e0f080005302  immed[b20, 0x2, all, 0, inv]
#         60:  0003a0f080005700  immed[b21, 0x0, all, 0, inv]
#         68:  000fc2aa80005000  alu[ab0, a0, -, b20]
#         70:  0008a2a680105401  alu[ab1, a1, -carry, b21]
#     ;    5: lsh %r0, 36
#         78:  000a2281c0100200  shf[ab1, a0, none, b0, shl, 28]
#         80:  000c22f0000c0000  immed[ab0, 0x0, all, 0]
#     ;    6: arsh %r0, 5
#         88:  000da28050000301  shf[ab0, a1, none, b0, dshr, 5]
#         90:  0001e0a070000001  alu[--, b0, b, a1]
#         98:  0009e28c50100500  shf[ab1, a0, asr, b1, shr, 5]
#     ;    7: mul %r0, %r1
#         a0:  0000c0f800000800  mul[start, step1, a0, b2]
#         a8:  000cc0f980000800  mul[32x32, step1, a0, b2]
#         b0:  000980f980100800  mul[32x32, step2, a0, b2]
#         b8:  000580f980200800  mul[32x32, step3, a0, b2]
#         c0:  0000c0f980300800  mul[32x32, step4, a0, b2]
#         c8:  000a62f98040001c  mul[32x32, last, ab28]
#         d0:  000fc2f98050001d  mul[32x32, last2, ab29]
#         d8:  0005e0f800000c00  mul[start, step1, a0, b3]
#         e0:  0009e0f980000c00  mul[32x32, step1, a0, b3]
#         e8:  000ca0f980100c00  mul[32x32, step2, a0, b3]
#         f0:  0000a0f980200c00  mul[32x32, step3, a0, b3]
#         f8:  0005e0f980300c00  mul[32x32, step4, a0, b3]
#        100:  000b02f98040001e  mul[32x32, last, ab30]
#        108:  0003a2a081d0781d  alu[ab29, a29, +, b30]
#        110:  000020f800000801  mul[start, step1, a1, b2]
#        118:  000c20f980000801  mul[32x32, step1, a1, b2]
#        120:  000960f980100801  mul[32x32, step2, a1, b2]
#        128:  000560f980200801  mul[32x32, step3, a1, b2]
#        130:  000020f980300801  mul[32x32, step4, a1, b2]
#        138:  000b02f98040001e  mul[32x32, last, ab30]
#        140:  0003e2a08010781d  alu[ab1, a29, +, b30]
#        148:  000602a000007000  alu[ab0, a0, b, b28]
#     ;    8: exit
#     ; frame setup / teardown
#        150:  060f60d800008038  br[0], defer 0    ; NEXT_PKT    ; NEXT_PKT nfp_done
# ; 43 of 2560 instruction words (the firmware's instruction store)
