# type: xdp
# Memory commands through transfer registers, a firmware helper with its return address in B0, a local call
# whose save area lives in local memory behind ActLMAddr3.
ldxw %r2, [%r1+0]
ldxb %r3, [%r2+12]
stxw [%r10-4], %r3
mov %r1, %r10
call local f
exit
f:
ldxw %r0, [%r1-4]
exit
# ---- expected ----
# ; nfp code for memory_and_calls: 416 bytes, 6 relocations, frame 512 bytes
# ; registers: r0=gpr0:gpr1 r1=gpr2:gpr3 r2=gpr4:gpr5 r3=gpr6:gpr7 r4=gpr8:gpr9 r5=gpr10:gpr11 r6=gpr12:gpr13 r7=gpr14:gpr15 r8=gpr16:gpr17 r9=gpr18:gpr19 r10=gpr24:gpr25 ax=gpr26:gpr27
# memory_and_calls:
#     ; frame setup / teardown
#          0:  0008c0f000205300  immed[b20, 0x200, all, 0]
#          8:  000642a081805016  alu[ab24, a22, +, b20]
#         10:  0000c2f0000c0019  immed[ab25, 0x0, all, 0]
#         18:  000dc0f0007f0014  immed[a20, 0x7c0, all, 0]
#         20:  0006e0fc09ec0014  local_csr_wr[ActLMAddr3, a20]
#     ;    0: ldxw %r2, [%r1]
#         28:  000150430e048002  cmd[read8, $x0, a2, #0x0, 7, 32b]
#         30:  000c62a000460000  alu[ab4, a0, b, $x0]
#         38:  000c02a000560400  alu[ab5, a0, b, $x1]
#     ;    1: ldxb %r3, [%r2+12]
#         40:  0001d0430004b004  cmd[read8, $x0, a4, #0xc, 0, 32b]
#         48:  000522a000660000  alu[ab6, a0, b, $x0]
#         50:  000fc2f0000c0007  immed[ab7, 0x0, all, 0]
#     ;    2: stxw [%r10-4], %r3
#         58:  000180a018001800  alu[$x0, a0, b, b6]
#         60:  000700f080005303  immed[b20, 0x3, all, 0, inv]
#         68:  000ef04206085018  cmd[write8_swap, $x0, a24, b20, 3, 32b]
#     ;    3: mov %r1, %r10
#         70:  000962a000206000  alu[ab2, a0, b, b24]
#         78:  000902a000306400  alu[ab3, a0, b, b25]
#     ;    4: call local +1
#         80:  0103a0d808108038  br[32], defer 1    ; BR_REL    ; BR_REL memory_and_calls
#         88:  080da0f000005712  immed[b21, 0x12, all, 0]    ; IMMED_REL    ; IMMED_REL memory_and_calls
#     ;    5: exit
#     ; frame setup / teardown
#         90:  000200aa300c0001  alu[--, a1, or, #0x0]
#         98:  0109c0d807008021  bne[28], defer 0    ; BR_REL    ; BR_REL memory_and_calls
#         a0:  0003c0aab00c1000  alu[--, a0, -, #0x4]
#         a8:  010b40d807008024  bhs[28], defer 0    ; BR_REL    ; BR_REL memory_and_calls
#         b0:  00044081d1400200  shf[a20, a0, none, b0, shl, 29]
#         b8:  000b00a070000014  alu[--, b0, b, a20]
#         c0:  000ba0f002205782  immed[b21, 0x2282, all, 0]
#         c8:  000d60f444405711  immed[b21, 0x4411, word, 2]
#         d0:  0006e08001405500  shf[a20, a0, none, b21, shr, 0]
#         d8:  010360d807408038  br[29], defer 0    ; BR_REL    ; BR_REL memory_and_calls
#         e0:  000c60f0000e0814  immed[a20, 0x82, all, 0]
#         e8:  0007e0b041700014  alu[b23, b0, b, a20]
#         f0:  0007a0c104005e00  ld_field[a0, 0100, b23, shl, 16]
#         f8:  060f60d800008038  br[0], defer 0    ; NEXT_PKT    ; NEXT_PKT nfp_done
# memory_and_calls_sub6:
#     ; frame setup / teardown
#        100:  000e20fc09c00000  local_csr_rd[ActLMAddr3]
#        108:  000180f0000c0014  immed[a20, 0x0, all, 0]
#        110:  000fc0a0814d0014  alu[a20, a20, +, #0x40]
#        118:  0006e0fc09ec0014  local_csr_wr[ActLMAddr3, a20]
#        120:  0008c0f000205300  immed[b20, 0x200, all, 0]
#        128:  000122a081805018  alu[ab24, a24, +, b20]
#        130:  000000f0000c0300  nop
#        138:  000908a022005400  alu[lm3[0], a0, b, b21]
#     ;    6: ldxw %r0, [%r1-4]
#        140:  000700f080005303  immed[b20, 0x3, all, 0, inv]
#        148:  0003104306045002  cmd[read8, $x0, a2, b20, 3, 32b]
#        150:  000a22a000060000  alu[ab0, a0, b, $x0]
#        158:  000cc2f0000c0001  immed[ab1, 0x0, all, 0]
#     ;    7: exit
#     ; frame setup / teardown
#        160:  000646a001588000  alu[ab21, a0, b, lm3[0]]
#        168:  000e20fc09c00000  local_csr_rd[ActLMAddr3]
#        170:  000180f0000c0014  immed[a20, 0x0, all, 0]
#        178:  000b20aa814d0014  alu[a20, a20, -, #0x40]
#        180:  0006e0fc09ec0014  local_csr_wr[ActLMAddr3, a20]
#        188:  0008c0f000205300  immed[b20, 0x200, all, 0]
#        190:  0005c2aa81805018  alu[ab24, a24, -, b20]
#        198:  000ba0e800005700  rtn[b21], defer 0
# ; 52 of 2560 instruction words (the firmware's instruction store)
