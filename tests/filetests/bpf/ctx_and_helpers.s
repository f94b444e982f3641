# type: xdp
# xdp_md's u32 data/data_end become 8-byte loads from bpfx_xdp_md (offsets 0 and 8); ingress_ifindex moves
# from 12 to 24; helper calls keep their id (no driver table); the mid-function exit stays an exit.
ldxw %r2, [%r1+4]
ldxw %r3, [%r1]
ldxw %r4, [%r1+12]
mov %r0, 1
jgt %r3, %r2, +1
exit
mov %r2, 12
call 44
mov %r0, 2
exit
# ---- expected ----
# ; bpf code for ctx_and_helpers: 80 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=r0 r1=r1 r2=r2 r3=r3 r4=r4 r5=r5 r6=r6 r7=r7 r8=r8 r9=r9 r10=r10 ax=ax
# ctx_and_helpers:
#     ;    0: ldxw %r2, [%r1+4]
#          0:  0000000000081279  ldxdw %r2, [%r1+8]
#     ;    1: ldxw %r3, [%r1]
#          8:  0000000000001379  ldxdw %r3, [%r1]
#     ;    2: ldxw %r4, [%r1+12]
#         10:  0000000000181461  ldxw %r4, [%r1+24]
#     ;    3: mov %r0, 1
#         18:  00000001000000b7  mov %r0, 1
#     ;    4: jgt %r3, %r2, +1
#         20:  000000000001232d  jgt %r3, %r2, +1
#     ;    5: exit
#         28:  0000000000000095  exit
#     ;    6: mov %r2, 12
#         30:  0000000c000002b7  mov %r2, 12
#     ;    7: call 44
#         38:  0000002c00000085  call 44
#     ;    8: mov %r0, 2
#         40:  00000002000000b7  mov %r0, 2
#     ;    9: exit
#     ; frame setup / teardown
#         48:  0000000000000095  exit
