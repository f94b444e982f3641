# Immediates take the one-instruction forms when they fit: add/sub imm12 (also negative, as the other op),
# logical bitmask immediates, shifts as ubfm/sbfm; otherwise a scratch register.
mov %r0, 1
add %r0, 4095
add %r0, -16
sub %r0, 0x1000
and %r0, 0xff00
or32 %r0, 0x80000001
xor %r0, 0x12345
lsh %r0, 3
arsh32 %r0, 31
mov %r1, -1
mov32 %r2, -1
mul %r0, %r1
exit
# ---- expected ----
# ; arm64 code for alu_immediates: 64 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=x7 r1=x0 r2=x1 r3=x2 r4=x3 r5=x4 r6=x19 r7=x20 r8=x21 r9=x22 r10=x25 ax=x9
# alu_immediates:
#     ;    0: mov %r0, 1
#          0:  d2800027  mov x7, #1
#     ;    1: add %r0, 4095
#          4:  913ffce7  add x7, x7, #0xfff
#     ;    2: add %r0, -16
#          8:  d10040e7  sub x7, x7, #0x10
#     ;    3: sub %r0, 4096
#          c:  d14004e7  sub x7, x7, #1, lsl #12
#     ;    4: and %r0, 65280
#         10:  92781ce7  and x7, x7, #0xff00
#     ;    5: or32 %r0, -2147483647
#         14:  320104e7  orr w7, w7, #0x80000001
#     ;    6: xor %r0, 74565
#         18:  d28468aa  mov x10, #0x2345
#         1c:  f2a0002a  movk x10, #1, lsl #16
#         20:  ca0a00e7  eor x7, x7, x10
#     ;    7: lsh %r0, 3
#         24:  d37df0e7  lsl x7, x7, #3
#     ;    8: arsh32 %r0, 31
#         28:  131f7ce7  asr w7, w7, #0x1f
#     ;    9: mov %r1, -1
#         2c:  92800000  mov x0, #-1
#     ;   10: mov32 %r2, -1
#         30:  12800001  mov w1, #-1
#     ;   11: mul %r0, %r1
#         34:  9b007ce7  mul x7, x7, x0
#     ;   12: exit
#     ; frame setup / teardown
#         38:  aa0703e0  mov x0, x7
#         3c:  d65f03c0  ret
