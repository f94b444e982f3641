# bpf-to-bpf calls are kept and the subprogram stays appended; jumps keep their targets; lddw constants pass.
mov %r1, 5
call local sub
lddw %r2, 0x1122334455667788
add %r0, %r2
exit
sub:
mov %r0, %r1
jeq %r1, 0, +2
add %r0, 10
ja +1
mov %r0, 99
exit
# ---- expected ----
# ; bpf code for calls_and_jumps: 96 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=r0 r1=r1 r2=r2 r3=r3 r4=r4 r5=r5 r6=r6 r7=r7 r8=r8 r9=r9 r10=r10 ax=ax
# calls_and_jumps:
#     ;    0: mov %r1, 5
#          0:  b701000005000000                  mov %r1, 5
#     ;    1: call local +4
#          8:  8510000004000000                  call local +4
#     ;    2: lddw %r2, 0x1122334455667788
#         10:  18020000887766550000000044332211  lddw %r2, 0x1122334455667788
#     ;    4: add %r0, %r2
#         20:  0f20000000000000                  add %r0, %r2
#     ;    5: exit
#     ; frame setup / teardown
#         28:  9500000000000000                  exit
# calls_and_jumps_sub6:
#     ;    6: mov %r0, %r1
#         30:  bf10000000000000                  mov %r0, %r1
#     ;    7: jeq %r1, 0, +2
#         38:  1501020000000000                  jeq %r1, 0, +2
#     ;    8: add %r0, 10
#         40:  070000000a000000                  add %r0, 10
#     ;    9: ja +1
#         48:  0500010000000000                  ja +1
#     ;   10: mov %r0, 99
#         50:  b700000063000000                  mov %r0, 99
#     ;   11: exit
#     ; frame setup / teardown
#         58:  9500000000000000                  exit
