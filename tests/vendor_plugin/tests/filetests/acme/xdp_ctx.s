# type: xdp
# ACME's context layout: data at device offset 8, data_end at 16 (UAPI offsets 0 and 4), and its firmware
# helpers by address.
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, %r3
sub %r0, %r2
mov %r6, %r0
mov %r2, 12
call 44
mov %r0, %r6
exit
# ---- expected ----
# ; acme code for xdp_ctx: 72 bytes, 0 relocations, frame 32 bytes
# ; registers: r0=x7 r1=x0 r2=x1 r3=x2 r4=x3 r5=x4 r6=x19 r7=x20 r8=x21 r9=x22 r10=x25 ax=x9
# xdp_ctx:
#     ; frame setup / teardown
#          0:  a9bf7bfd  stp x29, x30, [sp, #-0x10]!
#          4:  910003fd  mov x29, sp
#          8:  a9bf7ff3  stp x19, xzr, [sp, #-0x10]!
#     ;    0: ldxw %r2, [%r1]
#          c:  f9400401  ldr x1, [x0, #8]
#     ;    1: ldxw %r3, [%r1+4]
#         10:  f9400802  ldr x2, [x0, #0x10]
#     ;    2: mov %r0, %r3
#         14:  aa0203e7  mov x7, x2
#     ;    3: sub %r0, %r2
#         18:  cb0100e7  sub x7, x7, x1
#     ;    4: mov %r6, %r0
#         1c:  aa0703f3  mov x19, x7
#     ;    5: mov %r2, 12
#         20:  d2800181  mov x1, #0xc
#     ;    6: call 44
#         24:  d288800a  mov x10, #0x4400
#         28:  f2a1000a  movk x10, #0x800, lsl #16
#         2c:  d63f0140  blr x10
#         30:  aa0003e7  mov x7, x0
#     ;    7: mov %r0, %r6
#         34:  aa1303e7  mov x7, x19
#     ;    8: exit
#     ; frame setup / teardown
#         38:  a8c17ff3  ldp x19, xzr, [sp], #0x10
#         3c:  a8c17bfd  ldp x29, x30, [sp], #0x10
#         40:  aa0703e0  mov x0, x7
#         44:  d65f03c0  ret
