# type: xdp
# UAPI xdp_md.data / data_end (u32 at 0 and 4) become the device layout's 8-byte pointers at 0 and 8;
# helper arguments are already in x0-x4, r0 comes back from x0 into x7; a bpf-to-bpf call is a bl.
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r6, %r1
mov %r1, %r2
call local count
mov %r1, %r6
mov %r2, 12
call 44
mov %r0, 2
exit
count:
mov %r0, %r1
exit
# ---- expected ----
# ; arm64 code for calls_and_ctx: 76 bytes, 1 relocations, frame 32 bytes
# ; registers: r0=x7 r1=x0 r2=x1 r3=x2 r4=x3 r5=x4 r6=x19 r7=x20 r8=x21 r9=x22 r10=x25 ax=x9
# calls_and_ctx:
#     ; frame setup / teardown
#          0:  a9bf7bfd  stp x29, x30, [sp, #-0x10]!
#          4:  910003fd  mov x29, sp
#          8:  a9bf7ff3  stp x19, xzr, [sp, #-0x10]!
#     ;    0: ldxw %r2, [%r1]
#          c:  f9400001  ldr x1, [x0]
#     ;    1: ldxw %r3, [%r1+4]
#         10:  f9400402  ldr x2, [x0, #8]
#     ;    2: mov %r6, %r1
#         14:  aa0003f3  mov x19, x0
#     ;    3: mov %r1, %r2
#         18:  aa0103e0  mov x0, x1
#     ;    4: call local +5
#         1c:  9400000a  bl #0x44
#     ;    5: mov %r1, %r6
#         20:  aa1303e0  mov x0, x19
#     ;    6: mov %r2, 12
#         24:  d2800181  mov x1, #0xc
#     ;    7: call 44
#         28:  94000000  bl #0x28    ; R_AARCH64_CALL26 bpf_xdp_adjust_head
#         2c:  aa0003e7  mov x7, x0
#     ;    8: mov %r0, 2
#         30:  d2800047  mov x7, #2
#     ;    9: exit
#     ; frame setup / teardown
#         34:  a8c17ff3  ldp x19, xzr, [sp], #0x10
#         38:  a8c17bfd  ldp x29, x30, [sp], #0x10
#         3c:  aa0703e0  mov x0, x7
#         40:  d65f03c0  ret
# calls_and_ctx_sub10:
#     ;   10: mov %r0, %r1
#         44:  aa0003e7  mov x7, x0
#     ;   11: exit
#     ; frame setup / teardown
#         48:  d65f03c0  ret
