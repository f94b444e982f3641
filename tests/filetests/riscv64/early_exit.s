# An exit before the end repeats a short epilogue (here mv a0, a5; ret) instead of jumping to the shared one:
# one instruction fewer on that path, and no far jump for relaxation to grow in a large function.
mov %r0, 1
jeq %r1, 0, +1
exit
mov %r0, 2
exit
# ---- expected ----
# ; riscv64 code for early_exit: 28 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# early_exit:
#     ;    0: mov %r0, 1
#          0:  00100793  addi a5, zero, 1
#     ;    1: jeq %r1, 0, +1
#          4:  00050663  beqz a0, 0xc
#     ;    2: exit
#     ; frame setup / teardown
#          8:  00078513  mv a0, a5
#          c:  00008067  ret
#     ;    3: mov %r0, 2
#         10:  00200793  addi a5, zero, 2
#     ;    4: exit
#     ; frame setup / teardown
#         14:  00078513  mv a0, a5
#         18:  00008067  ret
