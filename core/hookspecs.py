"""The plugin author's manual: every hook a bpfx target plugin can implement.

A target plugin is a module (or package) registered under the entry-point
group ``bpfx.targets``::

    # setup.cfg of a vendor package
    [options.entry_points]
    bpfx.targets =
        acme = bpfx_acme

and implements hooks with ``bpfx.hookimpl``::

    from bpfx import hookimpl, TargetInfo

    @hookimpl
    def bpfx_targets():
        return [TargetInfo(name="acme", description="ACME NIC core", base="arm64")]

Hooks are grouped by pipeline phase. Every hook receives the ``TargetInfo``
it is asked about and must return ``None`` for targets it does not own, so one
plugin can serve several targets and several plugins can coexist. Only the
selection hooks are ``firstresult``. A target whose ``TargetInfo.base`` names
another target inherits every hook it does not implement from that target.
"""

from __future__ import annotations

import functools

import pluggy

from .back.target import ABI, ContextLayout, Executor, HelperEntry, HelperImpl, RelocType, Selector, TargetInfo

hookspec = pluggy.HookspecMarker("bpfx")
hookimpl = pluggy.HookimplMarker("bpfx")


def target_hookimpl(info: TargetInfo):
    """``@hookimpl`` for a hook that answers only about ``info``'s target: the function runs when asked about that
    target and the hook returns None for every other, the rule above, without an ``if`` in each hook::

        @target_hookimpl(INFO)
        def bpfx_abi(target):
            return ACME_ABI
    """

    def mark(fn):
        @functools.wraps(fn)  # pluggy reads the argument names through __wrapped__
        def for_target(target, *args, **kwargs):
            return fn(target, *args, **kwargs) if target.name == info.name else None

        return hookimpl(for_target)

    return mark


# -- discovery ---------------------------------------------------------------------------------------------------

@hookspec
def bpfx_targets() -> list[TargetInfo]:
    """The targets this plugin provides.

    :return: a list of :class:`TargetInfo`; names must be unique across all plugins
        (a duplicate is reported as a warning and the first one wins). ``TargetInfo.safety`` sets the target's
        default ``--safety`` (``structural`` | ``verify`` | ``checked``; None: structural). Under ``checked`` the
        core adds run-time checks (BPF rewrites, before legalisation) for what the verifier cannot prove; they call
        the helper ``bpfx_fault`` (id ``bpfx.front.verify.FAULT_HELPER``, in every helper table), which must not
        return. Legalisation also calls it, under every safety level, where a ``callx`` names no helper (r1 = the
        BPF insn, r2 = ``bpfx.back.legalize.CALLX_FAULT``, r3 = the id). A target whose native code runs without
        memory protection should default to ``checked``.

    Example::

        @hookimpl
        def bpfx_targets():
            return [TargetInfo("arm64", "AArch64 (A64)", e_machine=183, llvm_triple="aarch64-unknown-none")]
    """


# -- lowering ----------------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def bpfx_abi(target: TargetInfo) -> ABI | None:
    """How BPF registers and frames map onto the native core.

    :param target: the target being compiled for.
    :return: an :class:`ABI`: BPF r0..r10 (and 11, the hidden AX register) -> native registers, the native
        C argument/return/callee-saved registers, scratch registers, stack alignment, and the capability flags
        (``udiv_by_zero_is_zero``, ``shifts_mask_count``, ...) from which the legaliser decides which BPF
        rewrites the target needs, or which instructions it rejects at compile time, naming them
        (``has_atomics``/``atomic_widths``, ``has_bswap``, ``has_sdiv``: a device VM without them, too).
        ``None`` if the target is not yours.

    A 32-bit core (``TargetInfo.word_size=32``) maps each BPF register to a tuple of native registers, least
    significant word first, e.g. ``regs={0: (0, 1), 1: (2, 3), ...}``; ``arg_regs``/``ret_reg`` use the same
    tuples, and the core's helper-argument moves call ``selector.move(cg, dst, src)`` with whole tuples.

    Example::

        @hookimpl
        def bpfx_abi(target):
            if target.name == "arm64":
                return ABI(regs={0: 7, 1: 0, ...}, arg_regs=(0, 1, 2, 3, 4, 5, 6, 7), ret_reg=0, ...)
    """


@hookspec(firstresult=True)
def bpfx_selector(target: TargetInfo, abi: ABI, features: dict[str, bool]) -> Selector | None:
    """The instruction selector: an object the codegen driver calls for each BPF instruction.

    :param target: the target being compiled for.
    :param abi: the ABI ``bpfx_abi`` returned for it.
    :param features: the target's features after the user's overrides (e.g. ``{"lse": True}``).
    :return: a new selector (one per compilation) implementing :class:`bpfx.Selector` (core/back/target.py):
        ``reloc_types``, ``prologue(cg, frame)``, ``epilogue(cg, frame)``, ``lower(cg, pc, insn, nxt)`` and the
        primitives the core's calling-convention code uses (``move(cg, dst, src)``, ``call(cg, helper_entry)``,
        ``call_local(cg, label)``, ``jump(cg, label)``); optionally ``lowering_table()`` (per-opcode fast path),
        ``memo_plan()`` with ``memo`` and ``memo_key`` (the driver looks repeated instructions, conditional jumps
        included, up itself), and
        ``disassembler`` (for listings and benchmarks; a ``footer(image) -> str`` attribute on it closes the
        listing, e.g. the code size against the device's code store). ``cg`` is the :class:`bpfx.CodeGen`; code goes out
        through ``cg.em``, an :class:`bpfx.Emitter`; ``cg.upper_half_dead(pc, reg)`` tells a selector whose
        32-bit operations leave the upper half dirty (riscv64's sign-extending W forms) whether a zero-extension
        is needed (``cg.upper_live_after()``: the same facts as a list), and ``cg.local_def(pc, reg)`` names the
        instruction that last wrote ``reg`` on the straight-line path into ``pc`` (riscv64 skips a JMP32 operand's
        ``sext.w`` when that writer left it extended; ``cg.operand_defs(opcodes)`` answers it for the operands of
        every instruction with those opcodes at once). A lowering may clobber AX's native register and the ABI's
        scratch registers, nothing else. Raise :class:`bpfx.Unsupported` for an instruction it cannot lower.
        :class:`bpfx.TableSelector` is a base class that supplies ``lower``/``lowering_table``/``memo_plan``
        from per-kind lowerings and memoises pure ones; :mod:`bpfx.fields` range-checks encoder fields.

    Example::

        @hookimpl
        def bpfx_selector(target, abi, features):
            if target.name == "arm64":
                return Arm64Selector(abi, lse=features["lse"])
    """


@hookspec
def bpfx_helpers(target: TargetInfo, prog_type: str) -> dict[int, HelperEntry] | None:
    """How helpers are reached: by absolute address, by relocation against a symbol, or inline.

    All results are merged, later plugins overriding earlier ones, so a *driver* plugin can add addresses for
    helpers a target plugin only knows by symbol. The core's default for every helper the program type allows
    is a relocation against ``bpf_<name>``.

    :param target: the target being compiled for.
    :param prog_type: the program type ("xdp", "sched_cls", ...).
    :return: helper id -> :class:`HelperEntry`, or None.

    Example::

        @hookimpl
        def bpfx_helpers(target, prog_type):
            if target.name == "acme":
                return {44: HelperEntry(44, "xdp_adjust_head", address=0x4000_1000)}
    """


@hookspec(firstresult=True)
def bpfx_context(target: TargetInfo, prog_type: str) -> ContextLayout | None:
    """The device's context layout for a program type.

    :param prog_type: the program type ("xdp", "sched_cls", ...).
    :return: a :class:`ContextLayout` mapping each supported UAPI ctx field (by UAPI offset) to the device's
        field (offset, size, kind). The core rewrites ctx loads and stores to it; an access to a field the
        layout lacks is a compile error naming the field. None: use the default layout from specs/.

    Example::

        @hookimpl
        def bpfx_context(target, prog_type):
            if target.name == "acme" and prog_type == "xdp":
                return ContextLayout("acme_xdp_md", 24, {0: ContextField("data", 8, 8, "ptr"), ...})
    """


@hookspec(firstresult=True)
def bpfx_reloc_types(target: TargetInfo) -> dict[int, RelocType] | None:
    """Every ELF relocation type the target's loader can apply, keyed by its ELF number (``r_type``).

    The LLVM tier reads the relocations of the object LLVM emits for the target's triple and looks each
    number up here, so the Image carries records (and ``RelocType.apply`` functions) the writers, the emulator
    and :func:`bpfx.resolve` can use. A relocation LLVM emits that is missing here is an ``Unsupported`` error
    naming its number. The baseline tier uses the selector's ``reloc_types``; if this hook returns None the
    core falls back to those too. A low-part relocation that ELF expresses against the label of its high-part
    partner (RISC-V ``R_RISCV_PCREL_LO12_I/S`` against ``.Lpcrel_hiN``) arrives as a record against the
    partner's symbol with the addend moved by the distance between the two instructions, so ``apply`` computes
    it like any pc-relative relocation from ``value - pc``.

    :return: ELF relocation number -> :class:`RelocType`, or None if the target is not yours.

    Example::

        @hookimpl
        def bpfx_reloc_types(target):
            if target.name == "arm64":
                return {283: RelocType("R_AARCH64_CALL26", apply_call26), 275: RelocType(...), ...}
    """


# -- running -----------------------------------------------------------------------------------------------------

@hookspec(firstresult=True)
def bpfx_machine(target: TargetInfo) -> Executor | None:
    """How to run the target's compiled Images, so ``bpfx run`` and ``bpfx conformance`` work for it.

    :return: an :class:`Executor`: any object with ``run(image, runtime, budget) -> Result`` (see its
        docstring for what the runtime offers). For a CPU unicorn emulates, return the core's
        :class:`Machine` (unicorn architecture, mode, CPU model, register ids, the instruction a helper
        trampoline returns with, how calls pass the return address, how to count instructions); a target
        whose code unicorn cannot run (a microengine model, a cycle simulator) returns its own executor.
        None if the target cannot be run here.

    Example::

        @hookimpl
        def bpfx_machine(target):
            if target.name == "arm64":
                return Machine(uc_arch=UC_ARCH_ARM64, uc_mode=UC_MODE_ARM, pc=UC_ARM64_REG_PC, ...)
            if target.name == "acme-me":
                return AcmeMicroengineModel()     # has run(image, runtime, budget)
    """


@hookspec
def bpfx_helper_impls(target: TargetInfo, prog_type: str) -> list[HelperImpl] | None:
    """Implementations of helpers for emulated runs: a device's firmware helpers, so ``bpfx run -t acme``
    runs programs that call them.

    All results are merged (base targets first, later plugins overriding earlier ones); a caller's
    ``bpfx.run(..., helpers={id: fn})`` overrides them all. An implemented id is allowed in programs of
    ``prog_type`` compiled or run for this target, and native code calls it as ``bpf_<name>`` unless
    ``bpfx_helpers`` gives it an address.

    :param target: the target being run.
    :param prog_type: the program type ("xdp", "mem", ...).
    :return: a list of :class:`HelperImpl` (``fn(call, a1, a2, a3, a4, a5) -> r0``, where ``call`` is a
        :class:`bpfx.HelperCall`: ``read``/``write``/``load``/``store`` by address, ``maps``, ``trace``), or None.

    Example::

        @hookimpl
        def bpfx_helper_impls(target, prog_type):
            if target.name == "acme":
                return [HelperImpl(0x1000, "acme_crc32", lambda call, ptr, n, *_: zlib.crc32(call.read(ptr, n)))]
    """


@hookspec(firstresult=True)
def bpfx_run(target: TargetInfo, program, runtime, budget: int, options: dict):
    """Run a program directly, for targets that are not compiled to native code (the reference interpreter).

    :param target: the target asked to run it.
    :param program: the validated :class:`bpfx.Program`.
    :param runtime: the :class:`bpfx.runtime.Runtime` holding memory, maps and helpers.
    :param budget: the instruction budget.
    :param options: extra run options (``harden``; ``opt``, the -O level asked for: the host target JIT-compiles
        at it); ignore what you do not know.
    :return: a :class:`bpfx.runtime.Result`, or None if the target is not yours.

    Example::

        @hookimpl
        def bpfx_run(target, program, runtime, budget, options):
            if target.name == "interp":
                return interpret(program, runtime, budget=budget)
    """


@hookspec(firstresult=True)
def bpfx_runner(target: TargetInfo, options: dict):
    """The per-run function of a target that runs programs itself (``bpfx_run``), for repeated runs: a prepared
    program (``bpfx.prepare``) asks once and then calls the function for every run, so the runs skip the hook
    dispatch (several microseconds, what a whole host run costs). It must do exactly what ``bpfx_run`` does.

    :param target: the target asked.
    :param options: the run options, as ``bpfx_run`` gets them (the same for every later call).
    :return: a callable ``(program, runtime, budget) -> Result``, or None (the runs then go through
        ``bpfx_run``).

    Example::

        @hookimpl
        def bpfx_runner(target, options):
            if target.name == "interp":
                return lambda program, runtime, budget: interpret(program, runtime, budget=budget)
    """


HOOK_NAMES = ("bpfx_targets", "bpfx_abi", "bpfx_selector", "bpfx_helpers", "bpfx_context", "bpfx_reloc_types",
              "bpfx_machine", "bpfx_helper_impls", "bpfx_run", "bpfx_runner")
