# UDIV/SDIV by zero give 0 and MSUB then leaves the dividend: no guards on arm64.
mov %r0, 100
mov %r1, 7
div %r0, %r1
sdiv32 %r0, %r1
mod %r0, %r1
smod %r0, %r1
exit
# ---- expected ----
# ; arm64 code for divmod: 40 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=x7 r1=x0 r2=x1 r3=x2 r4=x3 r5=x4 r6=x19 r7=x20 r8=x21 r9=x22 r10=x25 ax=x9
# divmod:
#     ;    0: mov %r0, 100
#          0:  d2800c87  mov x7, #0x64
#     ;    1: mov %r1, 7
#          4:  d28000e0  mov x0, #7
#     ;    2: div %r0, %r1
#          8:  9ac008e7  udiv x7, x7, x0
#     ;    3: sdiv32 %r0, %r1
#          c:  1ac00ce7  sdiv w7, w7, w0
#     ;    4: mod %r0, %r1
#         10:  9ac008eb  udiv x11, x7, x0
#         14:  9b009d67  msub x7, x11, x0, x7
#     ;    5: smod %r0, %r1
#         18:  9ac00ceb  sdiv x11, x7, x0
#         1c:  9b009d67  msub x7, x11, x0, x7
#     ;    6: exit
#     ; frame setup / teardown
#         20:  aa0703e0  mov x0, x7
#         24:  d65f03c0  ret
