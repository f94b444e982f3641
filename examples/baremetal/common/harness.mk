# The rules both native bare-metal harnesses share; a board's Makefile sets CROSS, CFLAGS, QEMU and HARNESS (the
# folder of harness.c, gen_maps.py and standin_xdp.c) and includes this from its own folder (start.S, env.ld).
PROG ?= prog.o
ENTRY ?= xdp_prog
BUILD ?= build
# The BPF object the program came from: its maps get storage in maps.c (gen_maps.py needs bpfx).
BPF_OBJ ?=
MAPS := $(if $(BPF_OBJ),$(BUILD)/maps.o)
STANDIN := $(BUILD)/standin_xdp.o

all: $(BUILD)/env.elf

$(BUILD)/start.o: start.S
	@mkdir -p $(BUILD)
	$(CROSS)gcc $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: $(HARNESS)/%.c
	@mkdir -p $(BUILD)
	$(CROSS)gcc $(CFLAGS) -c $< -o $@

$(BUILD)/maps.c: $(BPF_OBJ)
	@mkdir -p $(BUILD)
	python3 $(HARNESS)/gen_maps.py $< > $@

$(BUILD)/maps.o: $(BUILD)/maps.c
	$(CROSS)gcc $(CFLAGS) -c $< -o $@

# Relinked every time: PROG and ENTRY may name another program than the last build's.
# The harness calls bpfx_prog; --defsym points it at the program's entry symbol.
$(BUILD)/env.elf: $(BUILD)/start.o $(BUILD)/harness.o $(PROG) $(MAPS) env.ld FORCE
	$(CROSS)ld --no-warn-rwx-segments -T env.ld --defsym=bpfx_prog=$(ENTRY) -o $@ \
		$(BUILD)/start.o $(BUILD)/harness.o $(MAPS) $(PROG)

run: $(BUILD)/env.elf
	$(QEMU) $<

standin: $(STANDIN)
	$(MAKE) --no-print-directory PROG=$(STANDIN) ENTRY=xdp_prog BPF_OBJ= all

standin-run: standin
	$(QEMU) $(BUILD)/env.elf

clean:
	rm -rf $(BUILD)

FORCE:
.PHONY: all run standin standin-run clean FORCE
