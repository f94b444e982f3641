# features: +zba,+zbb
# With Zba a zero-extension is one zext.w (add.uw); with Zbb movsx is sext.b/sext.h, le16 zext.h and every
# byte swap a rev8 (shifted down for 16/32 bits).
mov32 %r1, %r2
add32 %r0, %r1
movsx864 %r3, %r1
movsx1664 %r4, %r1
le16 %r4
be16 %r0
be32 %r3
bswap64 %r1
exit
# ---- expected ----
# ; riscv64 code for zba_zbb: 48 bytes, 0 relocations, frame 0 bytes
# ; registers: r0=a5 r1=a0 r2=a1 r3=a2 r4=a3 r5=a4 r6=s1 r7=s2 r8=s3 r9=s4 r10=s5 ax=t0
# zba_zbb:
#     ;    0: mov32 %r1, %r2
#          0:  0805853b  add.uw a0, a1, zero
#     ;    1: add32 %r0, %r1
#          4:  00a787bb  addw a5, a5, a0
#     ;    2: movsx864 %r3, %r1
#          8:  60451613  sext.b a2, a0
#     ;    3: movsx1664 %r4, %r1
#          c:  60551693  sext.h a3, a0
#     ;    4: le16 %r4
#         10:  0806c6bb  zext.h a3, a3
#     ;    5: be16 %r0
#         14:  6b87d793  rev8 a5, a5
#         18:  0307d793  srli a5, a5, 0x30
#     ;    6: be32 %r3
#         1c:  6b865613  rev8 a2, a2
#         20:  02065613  srli a2, a2, 0x20
#     ;    7: bswap64 %r1
#         24:  6b855513  rev8 a0, a0
#     ;    8: exit
#     ; frame setup / teardown
#         28:  00078513  mv a0, a5
#         2c:  00008067  ret
