"""arm64 encoders, checked three ways: exact bytes against llvm-mc (one subprocess for the whole table), the same
instruction back from capstone's disassembly, and the bitmask-immediate encoder against a brute-force decoder."""

from __future__ import annotations

import inspect
import random
import re
import shutil
import subprocess

import capstone
import pytest

import bpfx_arm64.encode as E
from bpfx_arm64.encode import SP, XZR, Cond

X0, X1, X2 = 0, 1, 2
MAX_UIMM = {0: 4095, 1: 8190, 2: 16380, 3: 32760}  # largest scaled unsigned offset per access size


# (word, the text llvm-mc must encode to exactly that word[, capstone's preferred alias when it prints another])
TABLE: list[tuple] = [
    # add/sub (immediate): rd/rn 31 = SP, except the S forms' rd = XZR
    (E.add_sub_imm(1, 0, 0, 0, 1, 4095, 0), "add x0, x1, #4095"),
    (E.add_sub_imm(0, 1, 1, 2, 3, 1, 1), "subs w2, w3, #1, lsl #12"),
    (E.add_imm(1, 0, 1, 4095), "add x0, x1, #4095"),
    (E.add_imm(0, 3, 4, 4096), "add w3, w4, #1, lsl #12"),
    (E.add_imm(1, 3, 4, 4095 << 12), "add x3, x4, #4095, lsl #12"),
    (E.adds_imm(1, 3, SP, 7), "adds x3, sp, #7"),
    (E.sub_imm(1, SP, SP, 16), "sub sp, sp, #16"),
    (E.subs_imm(0, 5, 6, 0), "subs w5, w6, #0"),
    (E.cmp_imm(1, 7, 0), "cmp x7, #0"),
    (E.cmp_imm(1, SP, 4095), "cmp sp, #4095"),
    (E.cmn_imm(0, 7, 1), "cmn w7, #1"),
    (E.mov_sp(25, SP), "mov x25, sp"),
    (E.mov_sp(SP, 25), "mov sp, x25"),
    # logical (immediate): element sizes 2..64, rotations, wrap-around runs, two's complement, rd = SP
    (E.logical_imm(1, E.AND, 0, 1, 0xFF), "and x0, x1, #0xff"),
    (E.orr_imm(1, 0, XZR, 0x5555555555555555), "orr x0, xzr, #0x5555555555555555", "mov x0, #0x5555555555555555"),
    (E.and_imm(0, 1, 1, 0xFF), "and w1, w1, #0xff"),
    (E.eor_imm(1, 2, 2, 0xFFFF0000FFFF0000), "eor x2, x2, #0xffff0000ffff0000"),
    (E.tst_imm(1, 3, 1 << 63), "tst x3, #0x8000000000000000"),
    (E.and_imm(1, 4, 5, 0x7FFFFFFFFFFFFFFF), "and x4, x5, #0x7fffffffffffffff"),
    (E.and_imm(1, 4, 5, -2), "and x4, x5, #0xfffffffffffffffe"),
    (E.orr_imm(0, 6, 6, 0x80000001), "orr w6, w6, #0x80000001"),
    (E.eor_imm(0, 6, 6, 0xEEEEEEEE), "eor w6, w6, #0xeeeeeeee"),
    (E.and_imm(1, 6, 6, 0x0F0F0F0F0F0F0F0F), "and x6, x6, #0xf0f0f0f0f0f0f0f"),
    (E.and_imm(1, 6, 6, 0x8181818181818181), "and x6, x6, #0x8181818181818181"),
    (E.orr_imm(1, SP, 0, 0xFF), "orr sp, x0, #0xff"),
    (E.ands_imm(0, 9, 10, 0x7FFFFFFF), "ands w9, w10, #0x7fffffff"),
    (E.tst_imm(0, 3, 1), "tst w3, #0x1"),
    # move wide: every hw, imm16 limits
    (E.move_wide(1, E.MOVZ, 7, 0x1234, 3), "movz x7, #0x1234, lsl #48", "mov x7, #0x1234000000000000"),
    (E.movz(1, 7, 0xFFFF, 2), "movz x7, #0xffff, lsl #32", "mov x7, #0xffff00000000"),
    (E.movz(0, 0, 0xFFFF, 1), "movz w0, #0xffff, lsl #16", "mov w0, #-0x10000"),
    (E.movz(1, XZR, 1, 0), "movz xzr, #1", "mov xzr, #1"),
    (E.movn(0, 7, 0, 0), "movn w7, #0", "mov w7, #-1"),
    (E.movn(1, 7, 0xFFFF, 1), "movn x7, #0xffff, lsl #16", "mov x7, #0xffffffff0000ffff"),
    (E.movk(1, 7, 0xBEEF, 1), "movk x7, #0xbeef, lsl #16"),
    (E.movk(0, 7, 0, 0), "movk w7, #0"),
    (E.movk(1, 7, 0xFFFF, 3), "movk x7, #0xffff, lsl #48"),
    # bitfield and its aliases
    (E.bitfield(1, E.UBFM, 0, 1, 4, 11), "ubfm x0, x1, #4, #11", "ubfx x0, x1, #4, #8"),
    (E.sbfm(1, 0, 1, 63, 63), "sbfm x0, x1, #63, #63", "asr x0, x1, #63"),
    (E.ubfm(0, 0, 1, 31, 30), "ubfm w0, w1, #31, #30", "lsl w0, w1, #1"),
    (E.sxtb(1, 0, 1), "sxtb x0, w1"),
    (E.sxtb(0, 0, 1), "sxtb w0, w1"),
    (E.sxth(0, 0, 1), "sxth w0, w1"),
    (E.sxth(1, 0, 1), "sxth x0, w1"),
    (E.sxtw(1, 0, 1), "sxtw x0, w1"),
    (E.uxtb(2, 3), "uxtb w2, w3"),
    (E.uxth(2, 2), "uxth w2, w2"),
    (E.lsl_imm(1, 0, 0, 3), "lsl x0, x0, #3"),
    (E.lsl_imm(1, 0, 1, 63), "lsl x0, x1, #63"),
    (E.lsl_imm(0, 0, 0, 31), "lsl w0, w0, #31"),
    (E.lsl_imm(1, 0, 1, 0), "lsl x0, x1, #0", "lsr x0, x1, #0"),  # ubfm #0, #63: capstone prefers lsr
    (E.lsr_imm(0, 0, 0, 31), "lsr w0, w0, #31"),
    (E.lsr_imm(1, 0, 0, 1), "lsr x0, x0, #1"),
    (E.asr_imm(1, 0, 0, 63), "asr x0, x0, #63"),
    (E.asr_imm(0, 0, 0, 0), "asr w0, w0, #0"),
    # add/sub and logical (shifted register): register 31 = XZR
    (E.add_sub_shifted_reg(1, 0, 0, 0, 1, 2, E.ASR, 63), "add x0, x1, x2, asr #63"),
    (E.add_sub_shifted_reg(0, 1, 1, 0, 1, 2, E.LSR, 31), "subs w0, w1, w2, lsr #31"),
    (E.logical_shifted_reg(1, E.EOR, 1, 0, 1, 2, E.ROR, 7), "eon x0, x1, x2, ror #7"),
    (E.logical_shifted_reg(0, E.AND, 0, 3, 4, 5, E.LSL, 4), "and w3, w4, w5, lsl #4"),
    (E.add_reg(1, 0, 1, 2), "add x0, x1, x2"),
    (E.adds_reg(0, 0, 1, XZR), "adds w0, w1, wzr"),
    (E.sub_reg(0, 0, XZR, 0), "neg w0, w0"),
    (E.subs_reg(1, 0, 1, 2), "subs x0, x1, x2"),
    (E.cmp_reg(1, 7, 0), "cmp x7, x0"),
    (E.cmn_reg(0, 7, 0), "cmn w7, w0"),
    (E.neg(1, 3, 4), "neg x3, x4"),
    (E.and_reg(1, 0, 1, 2), "and x0, x1, x2"),
    (E.orr_reg(0, 0, 1, 2), "orr w0, w1, w2"),
    (E.eor_reg(1, 0, 1, 2), "eor x0, x1, x2"),
    (E.ands_reg(1, 0, 1, 2), "ands x0, x1, x2"),
    (E.bic_reg(0, 0, 1, 2), "bic w0, w1, w2"),
    (E.tst_reg(0, 0, 1), "tst w0, w1"),
    (E.mov_reg(1, 7, 0), "mov x7, x0"),
    (E.mov_reg(1, 7, XZR), "mov x7, xzr"),
    (E.mov_reg(0, 30, 29), "mov w30, w29"),
    (E.mvn(1, 10, 1), "mvn x10, x1"),
    # data processing, 2 and 1 source
    (E.data_proc_2src(0, E.UDIV, 0, 1, 2), "udiv w0, w1, w2"),
    (E.udiv(1, 0, 1, 2), "udiv x0, x1, x2"),
    (E.sdiv(0, 0, 1, 2), "sdiv w0, w1, w2"),
    (E.lslv(1, 0, 0, 1), "lsl x0, x0, x1"),
    (E.lsrv(0, 0, 0, 1), "lsr w0, w0, w1"),
    (E.asrv(1, 0, 0, 1), "asr x0, x0, x1"),
    (E.rorv(1, 30, XZR, 30), "ror x30, xzr, x30"),
    (E.data_proc_1src(1, E.RBIT, 4, 5), "rbit x4, x5"),
    (E.rbit(0, 4, 5), "rbit w4, w5"),
    (E.rev16(0, 1, 1), "rev16 w1, w1"),
    (E.rev16(1, 1, 2), "rev16 x1, x2"),
    (E.rev32(1, 2), "rev32 x1, x2"),
    (E.rev(0, 1, 1), "rev w1, w1"),
    (E.rev(1, 1, 1), "rev x1, x1"),
    (E.clz(1, 1, 2), "clz x1, x2"),
    # data processing, 3 source
    (E.data_proc_3src(0, 0, 1, 2, 3, 4), "madd w1, w2, w3, w4"),
    (E.madd(1, 0, 0, 1, XZR), "mul x0, x0, x1"),
    (E.madd(1, 0, 0, 1, 9), "madd x0, x0, x1, x9"),
    (E.msub(1, 0, 11, 1, 0), "msub x0, x11, x1, x0"),
    (E.msub(0, 0, 11, 1, XZR), "mneg w0, w11, w1"),
    (E.mul(0, 0, 1, 2), "mul w0, w1, w2"),
    (E.smulh(0, 1, 2), "smulh x0, x1, x2"),
    (E.umulh(0, 1, XZR), "umulh x0, x1, xzr"),
    # conditional select
    (E.cond_select(1, 0, 0, 0, 1, 2, Cond.EQ), "csel x0, x1, x2, eq"),
    (E.csel(0, 0, 1, 2, Cond.LE), "csel w0, w1, w2, le"),
    (E.csel(1, 0, 1, 2, Cond.AL), "csel x0, x1, x2, al"),
    (E.csel(1, 0, 1, 2, 15), "csel x0, x1, x2, nv"),
    (E.csinc(1, 0, 1, 2, Cond.HI), "csinc x0, x1, x2, hi"),
    (E.csinv(0, 0, 1, 2, Cond.VS), "csinv w0, w1, w2, vs"),
    (E.csneg(1, 0, 1, 2, Cond.LT), "csneg x0, x1, x2, lt"),
    (E.cset(1, 7, Cond.EQ), "cset x7, eq"),
    (E.cset(0, 7, Cond.LO), "cset w7, lo"),
    (E.csetm(1, 7, Cond.GT), "csetm x7, gt"),
    # branches (offsets in instructions; capstone prints targets from address 0)
    *[(E.b_cond(c, 1), f"b.{c.name.lower()} #4") for c in Cond if c != Cond.AL],
    (E.b_cond(Cond.AL, 1), "b.al #4"),
    (E.b_cond(Cond.NE, -2), "b.ne #-8"),
    (E.b_cond(Cond.LE, (1 << 18) - 1), "b.le #1048572"),
    (E.b_cond(Cond.GE, -(1 << 18)), "b.ge #-1048576"),
    (E.b(5), "b #20"),
    (E.b(0), "b #0"),
    (E.b(-(1 << 25)), "b #-134217728"),
    (E.b((1 << 25) - 1), "b #134217724"),
    (E.bl(-1), "bl #-4"),
    (E.bl((1 << 25) - 1), "bl #134217724"),
    (E.blr(10), "blr x10"),
    (E.blr(XZR), "blr xzr"),
    (E.br(16), "br x16"),
    (E.ret(), "ret"),
    (E.ret(3), "ret x3"),
    (E.compare_branch(1, 1, 2, 1), "cbnz x2, #4"),
    (E.cbz(1, 7, 3), "cbz x7, #12"),
    (E.cbz(0, XZR, (1 << 18) - 1), "cbz wzr, #1048572"),
    (E.cbnz(0, 9, -4), "cbnz w9, #-16"),
    (E.cbnz(1, 9, -(1 << 18)), "cbnz x9, #-1048576"),
    (E.test_branch(0, 3, 0, 2), "tbz w3, #0, #8"),
    (E.tbz(3, 31, (1 << 13) - 1), "tbz w3, #31, #32764"),
    (E.tbz(3, 32, -(1 << 13)), "tbz x3, #32, #-32768"),
    (E.tbnz(30, 63, -1), "tbnz x30, #63, #-4"),
    (E.tbnz(30, 5, 0), "tbnz w30, #5, #0"),
    # exception generation and system
    (E.exception(0b000, 0b01, 1), "svc #0x1"),
    (E.svc(0), "svc #0"),
    (E.hvc(0), "hvc #0"),
    (E.hvc(0xFFFF), "hvc #0xffff"),
    (E.smc(0), "smc #0"),
    (E.brk(0x3E8), "brk #0x3e8"),
    (E.dmb_ish(), "dmb ish"),
    (E.dmb("sy"), "dmb sy"),
    (E.dmb("ishld"), "dmb ishld"),
    (E.nop(), "nop"),
    # PC-relative addressing (bytes; adrp in 4 KiB pages)
    (E.pc_rel(0, 1, 3), "adr x1, #3"),
    (E.adr(0, -(1 << 20)), "adr x0, #-1048576"),
    (E.adr(0, (1 << 20) - 1), "adr x0, #1048575"),
    (E.adrp(16, 4096), "adrp x16, #4096"),
    (E.adrp(16, -(1 << 32)), "adrp x16, #-4294967296"),
    (E.adrp(16, (1 << 32) - 4096), "adrp x16, #4294963200"),
    # loads and stores, unsigned immediate (rn 31 = SP, rt 31 = zero register)
    (E.ldst_unsigned_imm(3, 1, 0, SP, 2), "ldr x0, [sp, #16]"),
    (E.LDST_IMM["ldr"](3, 0, SP, 2), "ldr x0, [sp, #16]"),
    (E.LDST_IMM["str"](0, 1, 25, 4095), "strb w1, [x25, #4095]"),
    (E.LDST_IMM["ldrs"](2, 0, 1, 1), "ldrsw x0, [x1, #4]"),
    *[(E.ldr_imm(s, 2, 3, MAX_UIMM[s]), f"ldr{'bh'[s] if s < 2 else ''} {'wx'[s == 3]}2, [x3, #{MAX_UIMM[s]}]")
      for s in range(4)],
    *[(E.str_imm(s, XZR, SP, 0), f"str{'bh'[s] if s < 2 else ''} {'wx'[s == 3]}zr, [sp]") for s in range(4)],
    *[(E.ldrs_imm(s, 0, 1, MAX_UIMM[s]), f"ldrs{'bhw'[s]} x0, [x1, #{MAX_UIMM[s]}]") for s in range(3)],
    (E.ldr_imm(1, 2, 3, 14), "ldrh w2, [x3, #14]"),
    # unscaled immediate
    (E.ldst_unscaled(3, 0, 0, 25, 255), "stur x0, [x25, #255]"),
    (E.LDST_UNSCALED["ldr"](2, 0, 25, -256), "ldur w0, [x25, #-256]"),
    (E.LDST_UNSCALED["ldrs"](1, 0, 25, -2), "ldursh x0, [x25, #-2]"),
    *[(E.ldur(s, 4, SP, -256), f"ldur{'bh'[s] if s < 2 else ''} {'wx'[s == 3]}4, [sp, #-256]") for s in range(4)],
    *[(E.stur(s, 4, 5, 255), f"stur{'bh'[s] if s < 2 else ''} {'wx'[s == 3]}4, [x5, #255]") for s in range(4)],
    *[(E.ldurs(s, 4, 5, -1), f"ldurs{'bhw'[s]} x4, [x5, #-1]") for s in range(3)],
    # register offset (rm 31 = XZR)
    (E.ldst_reg(3, 0, 1, 2, 12), "str x1, [x2, x12]"),
    (E.LDST_REG["ldrs"](0, 1, 2, 12), "ldrsb x1, [x2, x12]"),
    (E.LDST_REG["ldr"](1, 1, 2, 12), "ldrh w1, [x2, x12]"),
    *[(E.ldr_reg(s, 1, SP, XZR), f"ldr{'bh'[s] if s < 2 else ''} {'wx'[s == 3]}1, [sp, xzr]") for s in range(4)],
    *[(E.str_reg(s, 1, 2, 3), f"str{'bh'[s] if s < 2 else ''} {'wx'[s == 3]}1, [x2, x3]") for s in range(4)],
    *[(E.ldrs_reg(s, 1, 2, 3), f"ldrs{'bhw'[s]} x1, [x2, x3]") for s in range(3)],
    # register pairs: signed offset, pre-index, post-index; offset limits for X (8-byte) and W (4-byte) pairs
    (E.ldst_pair(0b10, E.PAIR_OFFSET, 0, 1, 2, 3, 8), "stp x1, x2, [x3, #8]"),
    (E.stp_pre(1, 29, 30, SP, -16), "stp x29, x30, [sp, #-16]!"),
    (E.ldp_post(1, 19, 20, SP, 16), "ldp x19, x20, [sp], #16"),
    (E.stp(1, 19, 20, SP, -512), "stp x19, x20, [sp, #-512]"),
    (E.ldp(1, 19, 20, SP, 504), "ldp x19, x20, [sp, #504]"),
    (E.ldp_pre(1, 19, 20, SP, -512), "ldp x19, x20, [sp, #-512]!"),
    (E.stp_post(1, XZR, XZR, SP, 504), "stp xzr, xzr, [sp], #504"),
    (E.stp(0, 1, 2, 3, -256), "stp w1, w2, [x3, #-256]"),
    (E.ldp(0, 1, 2, 3, 252), "ldp w1, w2, [x3, #252]"),
    (E.ldp_post(0, 1, 2, SP, 4), "ldp w1, w2, [sp], #4"),
    # LSE atomics: every acquire/release combination, all four sizes, rt = zero register aliases
    (E.atomic_memory(3, 1, 1, 1, 0, 0b000, 11, 1), "ldaddal x1, x1, [x11]"),
    (E.ldadd(2, 1, XZR, 0), "stadd w1, [x0]"),
    (E.ldadd(2, 1, 2, 0), "ldadd w1, w2, [x0]"),
    (E.ldadd(3, 1, 2, SP, acquire=True), "ldadda x1, x2, [sp]"),
    (E.ldadd(3, 1, 2, 0, release=True), "ldaddl x1, x2, [x0]"),
    (E.ldadd(0, 1, 2, 0, acquire=True, release=True), "ldaddalb w1, w2, [x0]"),
    (E.ldadd(1, 1, 2, 0), "ldaddh w1, w2, [x0]"),
    (E.ldclr(2, 10, XZR, 0), "stclr w10, [x0]"),
    (E.ldeor(3, 1, XZR, 0), "steor x1, [x0]"),
    (E.ldset(3, 1, XZR, 0, release=True), "stsetl x1, [x0]"),
    (E.ldset(2, 1, 1, 0, acquire=True, release=True), "ldsetal w1, w1, [x0]"),
    (E.ldclr(3, 10, 2, 0, acquire=True, release=True), "ldclral x10, x2, [x0]"),
    (E.swp(2, 1, 2, 0), "swp w1, w2, [x0]"),
    (E.swp(3, 1, 2, 0, acquire=True), "swpa x1, x2, [x0]"),
    (E.ldaddal(2, 1, 2, 3), "ldaddal w1, w2, [x3]"),
    (E.ldaddal(3, 1, 2, 3), "ldaddal x1, x2, [x3]"),
    (E.ldclral(2, 1, 2, 3), "ldclral w1, w2, [x3]"),
    (E.ldeoral(3, 1, 2, 3), "ldeoral x1, x2, [x3]"),
    (E.ldsetal(3, 1, 2, 3), "ldsetal x1, x2, [x3]"),
    (E.swpal(3, 1, 1, 0), "swpal x1, x1, [x0]"),
    (E.swpal(2, XZR, 1, 0), "swpal wzr, w1, [x0]"),
    # compare and swap
    (E.ldst_exclusive(3, *E.CAS, 7, 1, 0), "cas x7, x1, [x0]"),
    (E.cas(2, 7, 1, 0), "cas w7, w1, [x0]"),
    (E.casa(2, 7, 1, 0), "casa w7, w1, [x0]"),
    (E.casl(3, 7, 1, 0), "casl x7, x1, [x0]"),
    (E.casal(2, 7, 1, 0), "casal w7, w1, [x0]"),
    (E.casal(3, 7, 1, 11), "casal x7, x1, [x11]"),
    (E.casal(0, 7, 1, SP), "casalb w7, w1, [sp]"),
    # exclusives, load-acquire, store-release
    (E.ldxr(3, 10, 0), "ldxr x10, [x0]"),
    (E.ldxr(2, 10, SP), "ldxr w10, [sp]"),
    (E.ldaxr(3, 10, 0), "ldaxr x10, [x0]"),
    (E.ldaxr(2, 10, 0), "ldaxr w10, [x0]"),
    (E.stxr(2, 9, 12, 0), "stxr w9, w12, [x0]"),
    (E.stxr(3, 9, 12, 0), "stxr w9, x12, [x0]"),
    (E.stlxr(2, 9, 12, 0), "stlxr w9, w12, [x0]"),
    (E.stlxr(3, 9, 12, 11), "stlxr w9, x12, [x11]"),
    (E.ldar(3, 1, 2), "ldar x1, [x2]"),
    (E.ldar(0, 1, 2), "ldarb w1, [x2]"),
    (E.stlr(2, 1, 2), "stlr w1, [x2]"),
    (E.stlr(1, 1, 2), "stlrh w1, [x2]"),
]


def _bitmask_rows() -> list[tuple]:
    """A deterministic sample of every encodable logical immediate, through the same llvm-mc run."""
    rows = []
    for width, step in ((32, 37), (64, 97)):
        for value in sorted(_all_bitmasks(width))[::step]:
            reg = "x" if width == 64 else "w"
            rows.append((E.and_imm(width == 64, 1, 2, value), f"and {reg}1, {reg}2, #{value:#x}"))
    return rows


def _decode_bitmask(n: int, immr: int, imms: int, width: int) -> int | None:
    """The Arm ARM's DecodeBitMasks (pseudocode), brute force: the value a logical immediate stands for."""
    combined = (n << 6) | (~imms & 0x3F)
    if combined == 0:
        return None
    size = 1 << (combined.bit_length() - 1)
    if size > width or size < 2 or immr >= size:  # immr >= size would alias a smaller rotation
        return None
    levels = size - 1
    s, r = imms & levels, immr
    if s == levels:
        return None  # all ones: reserved
    elem = (1 << (s + 1)) - 1
    elem = ((elem >> r) | (elem << (size - r))) & ((1 << size) - 1)
    value = 0
    for i in range(width // size):
        value |= elem << (i * size)
    return value


_BITMASKS: dict[int, dict[int, list[tuple[int, int, int]]]] = {}


def _all_bitmasks(width: int) -> dict[int, list[tuple[int, int, int]]]:
    """value -> every (N, immr, imms) that decodes to it."""
    if width not in _BITMASKS:
        found: dict[int, list[tuple[int, int, int]]] = {}
        for n in (0, 1) if width == 64 else (0,):
            for immr in range(64):
                for imms in range(64):
                    value = _decode_bitmask(n, immr, imms, width)
                    if value is not None:
                        found.setdefault(value, []).append((n, immr, imms))
        _BITMASKS[width] = found
    return _BITMASKS[width]


ALL_ROWS = TABLE + _bitmask_rows()
LLVM_MC_ARGS = ["-triple=aarch64", "-mattr=+lse,+el3", "-show-encoding"]  # el3: smc


@pytest.fixture(scope="module")
def llvm_mc_words() -> list[int]:
    mc = shutil.which("llvm-mc")
    if mc is None:
        pytest.skip("llvm-mc is not installed (Debian package llvm): cannot check encodings against it")
    source = "".join(row[1] + "\n" for row in ALL_ROWS)
    proc = subprocess.run([mc, *LLVM_MC_ARGS], input=source,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    words = [int.from_bytes(bytes(int(b, 16) for b in m.group(1).split(",")), "little")
             for m in re.finditer(r"encoding: \[(.*?)\]", proc.stdout)]
    assert len(words) == len(ALL_ROWS)
    return words


def test_every_encoder_is_in_the_table():
    public = {name for name, fn in inspect.getmembers(E, callable)
              if not name.startswith("_") and not isinstance(fn, type) and name not in ("lru_cache",)}
    with open(__file__) as f:
        source = f.read()
    table_source = source[source.index("TABLE: list"):source.index("def _bitmask_rows")]
    used = set(re.findall(r"\bE\.(\w+)\(", table_source))
    assert public - used - {"invert", "encode_bitmask_imm"} == set()


@pytest.mark.parametrize("index", range(len(ALL_ROWS)), ids=[row[1] for row in ALL_ROWS])
def test_bytes_match_llvm_mc(llvm_mc_words, index):
    word, text = ALL_ROWS[index][:2]
    assert f"{word:08x}" == f"{llvm_mc_words[index]:08x}", text


def _norm(text: str) -> str:
    """Lower case, single spaces, every #immediate as a decimal modulo 2**64 (capstone prints hex, and branch
    and adr targets as addresses from 0, so -8 comes back as 0xfffffffffffffff8)."""
    text = re.sub(r"\s+", " ", text.lower().strip())
    return re.sub(r"#(-?(?:0x[0-9a-f]+|\d+))", lambda m: f"#{int(m.group(1), 0) % (1 << 64)}", text)


CS = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)


@pytest.mark.parametrize("index", range(len(TABLE)), ids=[row[1] for row in TABLE])
def test_capstone_decodes_the_same_instruction(index):
    word, text, *alias = TABLE[index]
    decoded = list(CS.disasm(word.to_bytes(4, "little"), 0))
    assert len(decoded) == 1, f"capstone cannot decode {word:08x} ({text})"
    got = f"{decoded[0].mnemonic} {decoded[0].op_str}"
    assert _norm(got) == _norm(alias[0] if alias else text)


def test_capstone_aliases_are_the_same_instruction(llvm_mc_words):
    """The capstone spellings used above are real aliases: llvm-mc encodes them to the same words."""
    rows = [row for row in TABLE if len(row) == 3]
    proc = subprocess.run(["llvm-mc", *LLVM_MC_ARGS],
                          input="".join(row[2] + "\n" for row in rows), capture_output=True, text=True, timeout=60)
    words = [int.from_bytes(bytes(int(b, 16) for b in m.group(1).split(",")), "little")
             for m in re.finditer(r"encoding: \[(.*?)\]", proc.stdout)]
    assert words == [row[0] for row in rows], proc.stderr


@pytest.mark.parametrize("width", [32, 64])
def test_bitmask_immediates_exhaustively(width):
    """Every (N, immr, imms): the encoder finds exactly the one encoding of each value; any other value has none."""
    found = _all_bitmasks(width)
    assert len(found) == {32: 1302, 64: 5334}[width]  # the Arm ARM's counts of distinct logical immediates
    for value, encodings in found.items():
        assert encodings == [E.encode_bitmask_imm(value, width)], hex(value)
    rng = random.Random(width)
    near_misses = [v ^ (1 << rng.randrange(width)) for v in found]  # one bit off a valid pattern
    randoms = [rng.getrandbits(width) for _ in range(5000)]
    for value in near_misses + randoms + [0, (1 << width) - 1, 1 << width, -(1 << width)]:
        if value not in found:
            assert E.encode_bitmask_imm(value, width) is None, hex(value)
    negative = -(1 << (width - 1))  # two's complement of the top bit alone
    assert E.encode_bitmask_imm(negative, width) == found[1 << (width - 1)][0]


ERRORS = [
    (lambda: E.add_sub_imm(1, 0, 0, 0, 0, 4096), "imm12 4096 does not fit in 12 unsigned bits"),
    (lambda: E.add_sub_imm(2, 0, 0, 0, 0, 1), "sf 2 must be 0 or 1"),
    (lambda: E.add_sub_imm(1, 0, 0, 0, 0, 1, 2), "shift12 2 must be 0 or 1"),
    (lambda: E.add_imm(1, 0, 0, 4097), "4097 is not an add/sub immediate"),
    (lambda: E.sub_imm(1, 0, 0, -1), "-1 is not an add/sub immediate"),
    (lambda: E.add_imm(1, 0, 0, 4096 << 12), "is not an add/sub immediate"),
    (lambda: E.orr_imm(1, 0, 0, 0x1234), "0x1234 is not a 64-bit logical"),
    (lambda: E.and_imm(0, 0, 0, 0), "0x0 is not a 32-bit logical"),
    (lambda: E.and_imm(0, 0, 0, 0xFFFFFFFF), "is not a 32-bit logical"),
    (lambda: E.and_imm(0, 0, 0, 1 << 32), "is not a 32-bit logical"),
    (lambda: E.encode_bitmask_imm(1, 16), "width 16 must be 32 or 64"),
    (lambda: E.movz(0, 0, 1, 2), "hw 2 does not fit a 32-bit move"),
    (lambda: E.movz(1, 0, 1, 4), "hw 4 does not fit a 64-bit move"),
    (lambda: E.movk(1, 0, 0x10000, 0), "imm16 65536 does not fit in 16 unsigned bits"),
    (lambda: E.movn(1, 0, -1, 0), "imm16 -1"),
    (lambda: E.move_wide(1, 0b01, 0, 0, 0), "move wide opc 1 is unallocated"),
    (lambda: E.movz(1, 32, 0, 0), "register 32"),
    (lambda: E.ubfm(0, 0, 0, 32, 0), "immr 32 / imms 0 out of range 0..31"),
    (lambda: E.sbfm(1, 0, 0, 0, 64), "out of range 0..63"),
    (lambda: E.bitfield(1, 0b11, 0, 0, 0, 0), "bitfield opc 3 is unallocated"),
    (lambda: E.sxtw(0, 0, 0), "sxtw has only a 64-bit form"),
    (lambda: E.lsl_imm(0, 0, 0, 32), "shift 32 out of range 0..31"),
    (lambda: E.lsr_imm(1, 0, 0, 64), "shift 64 out of range 0..63"),
    (lambda: E.asr_imm(1, 0, 0, -1), "shift -1 out of range"),
    (lambda: E.add_reg(1, 32, 0, 0), "register 32"),
    (lambda: E.add_reg(1, 0, -1, 0), "register -1"),
    (lambda: E.add_sub_shifted_reg(1, 0, 0, 0, 0, 0, E.ROR, 1), "shift type 3 not allowed"),
    (lambda: E.add_sub_shifted_reg(0, 0, 0, 0, 0, 0, E.LSL, 32), "shift amount 32 out of range 0..31"),
    (lambda: E.logical_shifted_reg(1, 4, 0, 0, 0, 0), "opc 4"),
    (lambda: E.logical_shifted_reg(1, 0, 0, 0, 0, 0, E.LSR, 64), "shift amount 64 out of range 0..63"),
    (lambda: E.data_proc_2src(1, 0b000100, 0, 0, 0), "2 source\\) opcode 0b000100"),
    (lambda: E.data_proc_1src(0, E.REV64, 0, 0), "1 source\\) opcode 0b000011 is not allocated for sf=0"),
    (lambda: E.data_proc_3src(0, 0, 0, 0, 0, 31, E.SMULH), "op31 0b010 with sf=0"),
    (lambda: E.cond_select(1, 0, 2, 0, 0, 0, 0), "op2 2 is unallocated"),
    (lambda: E.csel(1, 0, 0, 0, 16), "condition 16 does not fit in 4 unsigned bits"),
    (lambda: E.cset(1, 0, Cond.AL), "condition 14 has no inverse"),
    (lambda: E.b_cond(0, 1 << 18), "imm19 262144 does not fit in 19 signed bits"),
    (lambda: E.b_cond(0, -(1 << 18) - 1), "imm19 -262145"),
    (lambda: E.b(1 << 25), "imm26 33554432 does not fit in 26 signed bits"),
    (lambda: E.bl(-(1 << 25) - 1), "imm26 -33554433"),
    (lambda: E.br(32), "register 32"),
    (lambda: E.cbz(1, 0, 1 << 18), "imm19 262144"),
    (lambda: E.compare_branch(1, 2, 0, 0), "op 2 must be 0 or 1"),
    (lambda: E.tbz(0, 64, 0), "bit number 64 does not fit in 6 unsigned bits"),
    (lambda: E.tbnz(0, 0, 1 << 13), "imm14 8192 does not fit in 14 signed bits"),
    (lambda: E.hvc(0x10000), "imm16 65536"),
    (lambda: E.brk(-1), "imm16 -1"),
    (lambda: E.dmb("foo"), "dmb option 'foo'"),
    (lambda: E.adr(0, 1 << 20), "imm21 1048576 does not fit in 21 signed bits"),
    (lambda: E.adrp(0, 4095), "adrp offset 4095 is not a multiple of 4096"),
    (lambda: E.adrp(0, 1 << 32), "imm21 1048576 does not fit in 21 signed bits"),
    (lambda: E.ldr_imm(3, 0, 0, 4), "offset 4 is not a multiple of 8"),
    (lambda: E.ldr_imm(3, 0, 0, 32768), "offset 4096 does not fit in 12 unsigned bits"),
    (lambda: E.str_imm(0, 0, 0, -1), "offset -1 does not fit in 12 unsigned bits"),
    (lambda: E.ldrs_imm(3, 0, 0, 0), "size 3 with opc 2"),
    (lambda: E.ldst_unsigned_imm(4, 1, 0, 0, 0), "size 4 with opc 1"),
    (lambda: E.ldur(3, 0, 0, 256), "offset 256 does not fit in 9 signed bits"),
    (lambda: E.stur(3, 0, 0, -257), "offset -257 does not fit in 9 signed bits"),
    (lambda: E.ldurs(3, 0, 0, 0), "size 3 with opc 2"),
    (lambda: E.ldr_reg(3, 0, 0, 32), "register 32"),
    (lambda: E.ldrs_reg(3, 0, 0, 1), "size 3 with opc 2"),
    (lambda: E.stp(1, 0, 1, SP, 512), "pair offset 64 does not fit in 7 signed bits"),
    (lambda: E.stp(1, 0, 1, SP, -520), "pair offset -65 does not fit in 7 signed bits"),
    (lambda: E.ldp(1, 0, 1, SP, 4), "pair offset 4 is not a multiple of 8"),
    (lambda: E.ldp(0, 0, 1, SP, 256), "pair offset 64 does not fit"),
    (lambda: E.ldp(1, 3, 3, SP, 0), "same register twice"),
    (lambda: E.stp_pre(1, 3, 4, 3, -16), "base register as a data register"),
    (lambda: E.ldp_post(1, 3, 4, 4, 16), "base register as a data register"),
    (lambda: E.ldst_pair(0b01, E.PAIR_OFFSET, 1, 0, 1, 2, 0), "opc 1 / mode 2"),
    (lambda: E.stp(2, 0, 1, 2, 0), "sf 2 must be 0 or 1"),
    (lambda: E.ldadd(4, 0, 0, 0), "size 4 does not fit in 2 unsigned bits"),
    (lambda: E.atomic_memory(3, 0, 0, 0, 1, 0b001, 0, 0), "o3 1 / opc 1"),
    (lambda: E.swpal(3, 32, 0, 0), "register 32"),
    (lambda: E.casal(3, 0, 0, 32), "register 32"),
    (lambda: E.stxr(3, 1, 1, 2), "status register must differ"),
    (lambda: E.stlxr(3, 2, 1, 2), "status register must differ"),
    (lambda: E.ldxr(4, 0, 0), "size 4"),
    (lambda: E.ldst_exclusive(3, 2, 0, 0, 0, 0, 0, 0), "o2 2 must be 0 or 1"),
    (lambda: E.invert(15), "condition 15 has no inverse"),
]


@pytest.mark.parametrize("call,message", ERRORS, ids=[m for _, m in ERRORS])
def test_field_out_of_range_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_invert_pairs_conditions():
    assert [E.invert(c) for c in (Cond.EQ, Cond.HS, Cond.HI, Cond.GE, Cond.GT)] == [
        Cond.NE, Cond.LO, Cond.LS, Cond.LT, Cond.LE]
