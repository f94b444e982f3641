# type: xdp
# UAPI xdp_md.data / data_end (u32 at 0 and 4) become the device layout's 8-byte pointers at 0 and 8; helper
# arguments are already in a0-a4, r0 comes back from a0 into a5; a helper call is auipc+jalr with one
# R_RISCV_CALL_PLT, a bpf-to-bpf call a jal ra; ra and the callee-saved s1 are saved around the body.
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
# ; riscv64 code for calls_and_ctx: 84 bytes, 1 relocations, frame 16 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# calls_and_ctx:
#     ; frame setup / teardown
#          0:  ff010113  addi sp, sp, -0x10
#          4:  00113023  sd ra, 0(sp)
#          8:  00913423  sd s1, 8(sp)
#     ;    0: ldxw %r2, [%r1]
#          c:  00053583  ld a1, 0(a0)
#     ;    1: ldxw %r3, [%r1+4]
#         10:  00853603  ld a2, 8(a0)
#     ;    2: mov %r6, %r1
#         14:  00050493  mv s1, a0
#     ;    3: mov %r1, %r2
#         18:  00058513  mv a0, a1
#     ;    4: call local +5
#         1c:  030000ef  jal 0x30
#     ;    5: mov %r1, %r6
#         20:  00048513  mv a0, s1
#     ;    6: mov %r2, 12
#         24:  00c00593  addi a1, zero, 0xc
#     ;    7: call 44
#         28:  00000097  auipc ra, 0    ; R_RISCV_CALL_PLT bpf_xdp_adjust_head
#         2c:  000080e7  jalr ra
#         30:  00050793  mv a5, a0
#     ;    8: mov %r0, 2
#         34:  00200793  addi a5, zero, 2
#     ;    9: exit
#     ; frame setup / teardown
#         38:  00013083  ld ra, 0(sp)
#         3c:  00813483  ld s1, 8(sp)
#         40:  01010113  addi sp, sp, 0x10
#         44:  00078513  mv a0, a5
#         48:  00008067  ret
# calls_and_ctx_sub10:
#     ;   10: mov %r0, %r1
#         4c:  00050793  mv a5, a0
#     ;   11: exit
#     ; frame setup / teardown
#         50:  00008067  ret
