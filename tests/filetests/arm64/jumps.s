# Compare with zero is cbz/cbnz; small immediates use cmp/cmn #imm; jset uses tst.
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
exit
# ---- expected ----
# ; arm64 code for jumps: 76 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=x7 r1=x0 r2=x1 r3=x2 r4=x3 r5=x4 r6=x19 r7=x20 r8=x21 r9=x22 r10=x25 ax=x9
# jumps:
#     ;    0: mov %r0, 0
#          0:  d2800007  mov x7, #0
#     ;    1: jeq %r1, 0, +1
#          4:  b4000040  cbz x0, #0xc
#     ;    2: mov %r0, 1
#          8:  d2800027  mov x7, #1
#     ;    3: jne32 %r2, 0, +1
#          c:  35000041  cbnz w1, #0x14
#     ;    4: add %r0, 2
#         10:  910008e7  add x7, x7, #2
#     ;    5: jgt %r1, 100, +1
#         14:  f101901f  cmp x0, #0x64
#         18:  54000048  b.hi #0x20
#     ;    6: add %r0, 4
#         1c:  910010e7  add x7, x7, #4
#     ;    7: jslt %r1, -5, +1
#         20:  b100141f  cmn x0, #5
#         24:  5400004b  b.lt #0x2c
#     ;    8: add %r0, 8
#         28:  910020e7  add x7, x7, #8
#     ;    9: jset %r1, 16, +1
#         2c:  f27c001f  tst x0, #0x10
#         30:  54000041  b.ne #0x38
#     ;   10: add %r0, 16
#         34:  910040e7  add x7, x7, #0x10
#     ;   11: jle %r1, %r2, +1
#         38:  eb01001f  cmp x0, x1
#         3c:  54000049  b.ls #0x44
#     ;   12: add %r0, 32
#         40:  910080e7  add x7, x7, #0x20
#     ;   13: exit
#     ; frame setup / teardown
#         44:  aa0703e0  mov x0, x7
#         48:  d65f03c0  ret
