package io.jkvm.cli;

import io.jkvm.machine.Backend;
import io.jkvm.machine.GuestImage;
import io.jkvm.machine.MachineException;
import io.jkvm.machine.Machine;
import io.jkvm.machine.KernelConfig;
import io.jkvm.machine.VirtioConfig;
import io.jkvm.machine.MachineConfig;
import io.jkvm.machine.MemorySize;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.Outcome;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.migration.TcpAddress;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

import static io.jkvm.cli.CommandModel.command;
import static io.jkvm.cli.CommandModel.flag;
import static io.jkvm.cli.CommandModel.given;
import static io.jkvm.cli.CommandModel.option;
import static io.jkvm.cli.CommandModel.optionWithDefault;
import static io.jkvm.cli.CommandModel.repeated;
import static io.jkvm.cli.CommandModel.value;
import static io.jkvm.cli.CommandModel.values;

/** `jkvm run`: boots an image (or the bundled demo guest) and exits with the guest's status. */
final class RunCommand implements Callable<Integer> {
    private final Main main;
    /** This command's model, which holds the values the command line gave. */
    final CommandSpec spec;
    private final MachineOptions options;

    private Path image;
    private long memory;
    private int cpus;
    private String cpuModel;
    private Long loadAddress;
    private Path kernel;
    private String append;
    private Path initrd;
    private List<String> devices;
    private List<String> disks;
    private List<String> nets;
    private boolean noReboot;
    private String incoming;
    private long handOffEvery;

    RunCommand(Main main) {
        this.main = main;
        spec = command(this, "run", "Runs a guest in a KVM virtual machine.",
                "The guest starts in 64-bit long mode (see README: guest entry contract); its COM1 serial port is",
                "this terminal. Exit status: (v << 1) | 1 after a debug-exit write of v to port 0xF4, 0 after HLT",
                "with interrupts off, 2 on any error.");
        options = new MachineOptions(spec);
        spec.addOption(option("--image", "FILE", Path.class,
                "ELF64 x86-64 image, or a flat binary (default: the bundled demo guest)").build());
        spec.addOption(optionWithDefault("--mem", "SIZE", long.class, "64M", "guest RAM, with K/M/G suffix (default: ${DEFAULT-VALUE})")
                .converters(new SizeConverter()).build());
        spec.addOption(optionWithDefault("--cpus", "N", int.class, "1",
                "vCPUs, each in its own thread; vCPUs other than 0 start halted (default: ${DEFAULT-VALUE})").build());
        spec.addOption(optionWithDefault("--cpu", "MODEL", String.class, "host",
                "guest CPU: host, with QEMU-style edits such as host,+apx,-avx512f (default: ${DEFAULT-VALUE});",
                "with --incoming, the model the arriving guest runs with (default: the source's), as restore --cpu").build());
        spec.addOption(option("--load-addr", "ADDR", Long.class,
                "guest-physical address of a flat binary given with --image (default: 0x100000)")
                .converters(new AddressConverter()).build());
        spec.addOption(option("--kernel", "FILE", Path.class,
                "a kernel to boot as QEMU's -kernel does, instead of --image: a Linux bzImage (boot protocol 2.12+, entered"
                        + " at its 64-bit entry), a PVH ELF (vmlinux), a multiboot v1 kernel (ELF32, ELF64 or a.out kludge); a flat or"
                        + " ELF64 guest of the entry contract runs as with --image").build());
        spec.addOption(option("--append", "ARGS", String.class,
                "the kernel's command line (with --kernel; Linux gets ARGS, a multiboot kernel its path, then ARGS)")
                .defaultValue("").build());
        spec.addOption(option("--initrd", "FILE", Path.class, "Linux's initrd, or a multiboot kernel's module (with --kernel)")
                .build());
        spec.addOption(repeated("--device", "NAME",
                "an extra device (with --kernel): pc-testdev (QEMU's test device) or virtio-rng (entropy from the host)"));
        spec.addOption(repeated("--disk", "FILE[,ro]",
                "a virtio-blk disk on a raw image file (with --kernel; ,ro: read-only); the first is Linux's /dev/vda"));
        spec.addOption(repeated("--net", "tap=NAME[,mac=MAC]",
                "a virtio-net NIC on the host's TAP device NAME (with --kernel; it must exist: ip tuntap add NAME mode tap)"));
        spec.addOption(flag("--no-reboot",
                "end the run with status 0 when the guest resets the machine (reboot), instead of booting its kernel again"));
        spec.addOption(option("--incoming", "tcp:HOST:PORT", String.class,
                "wait there for a live migration (with --migration-key) and run the guest it brings, instead of an image")
                .build());
        spec.addOption(option("--handoff-every", "N", long.class,
                "diagnostic: move the vCPUs between KVM and the software core after every N port I/O exits of vCPU 0 "
                        + "(0: never); a CPU model KVM cannot run here is remade on the software core instead")
                .defaultValue("0").hidden(true).build());
    }

    /** Takes the values the command line gave (or the defaults). */
    private void read() {
        options.read();
        image = value(spec, "--image");
        memory = value(spec, "--mem");
        cpus = value(spec, "--cpus");
        cpuModel = value(spec, "--cpu");
        loadAddress = value(spec, "--load-addr");
        kernel = value(spec, "--kernel");
        append = value(spec, "--append");
        initrd = value(spec, "--initrd");
        devices = values(spec, "--device");
        disks = values(spec, "--disk");
        nets = values(spec, "--net");
        noReboot = given(spec, "--no-reboot");
        incoming = value(spec, "--incoming");
        handOffEvery = value(spec, "--handoff-every");
    }

    @Override
    public Integer call() {
        read();
        options.checkSandboxOptions();
        byte[] key = options.migrationKey();
        if (incoming != null) {
            return receiveMigration(key);
        }
        if (kernel != null && image == null && append.isEmpty() && initrd == null && devices.isEmpty() && disks.isEmpty()
                && nets.isEmpty() && !KernelConfig.bootsByProtocol(kernel)) {
            image = kernel; // a flat binary or an ELF64 of the entry contract: --kernel runs it as --image does
            kernel = null;
        }
        if (loadAddress != null && (image == null || GuestImage.isElf(image))) {
            throw new MachineException("--load-addr places a flat binary, and " + (image == null ? "the bundled guest" : image)
                    + " is an ELF, which loads where its segments say: drop --load-addr");
        }
        long load = loadAddress == null ? GuestImage.DEFAULT_LOAD_ADDRESS : loadAddress;
        Optional<KernelConfig> kernelConfig = kernelConfig();
        if (kernelConfig.isPresent() && !noReboot) {
            options.sandboxWouldTakeAway("a reboot boots the kernel again from its files, which the sandbox cannot reopen"
                    + " (with --no-reboot a reboot ends the run)");
        }
        if (handOffEvery > 0) {
            options.sandboxWouldTakeAway("--handoff-every may open KVM after the guest starts");
        }
        MachineConfig config = new MachineConfig(Optional.ofNullable(image), memory, cpus, cpuModel, options.backend, load, options.kvmPath,
                options.trace, kernelConfig);
        while (true) {
            Machine machine = Machine.create(config, main.console());
            Outcome outcome = options.serve(machine, key, main, () -> machine.handOffEvery(handOffEvery));
            if (!(outcome instanceof Outcome.Reset) || kernelConfig.isEmpty() || noReboot || options.sandboxed()) {
                return options.end(outcome, main);
            }
            // A reset (the guest's reboot): the same kernel boots again on a machine made anew, as after a power cycle
        }
    }

    /** --kernel and what goes with it, checked: each of --append, --initrd and --device needs --kernel, and --kernel no --image. */
    private Optional<KernelConfig> kernelConfig() {
        List<VirtioConfig> virtio = new ArrayList<>();
        for (String d : devices) {
            switch (d) {
                case "pc-testdev" -> {
                }
                case "virtio-rng" -> virtio.add(new VirtioConfig.Rng());
                default -> throw new MachineException("--device " + d + " is not a device jkvm has: pc-testdev and virtio-rng are");
            }
        }
        for (String d : disks) {
            virtio.add(VirtioConfig.parseDisk(d));
        }
        for (String n : nets) {
            virtio.add(VirtioConfig.parseNet(n));
        }
        if (kernel == null) {
            if (!append.isEmpty() || initrd != null || !devices.isEmpty() || !disks.isEmpty() || !nets.isEmpty()) {
                throw new MachineException((!append.isEmpty() ? "--append" : initrd != null ? "--initrd"
                        : !devices.isEmpty() ? "--device" : !disks.isEmpty() ? "--disk" : "--net") + " goes with --kernel: add --kernel FILE");
            }
            return Optional.empty();
        }
        if (image != null) {
            throw new MachineException("--kernel and --image both name what to boot: give one");
        }
        return Optional.of(new KernelConfig(kernel, append, Optional.ofNullable(initrd), devices.contains("pc-testdev"), virtio));
    }

    /** --incoming: waits for a source, takes its machine, tells it the guest runs here, and runs it. */
    private int receiveMigration(byte[] key) {
        if (key == null) {
            throw new MachineException("--incoming needs --migration-key FILE: the key the source holds too");
        }
        if (image != null) {
            throw new MachineException("--incoming brings its guest from the source: drop --image");
        }
        TcpAddress at = TcpAddress.parse(incoming).orElseThrow(
                () -> new MachineException("--incoming " + incoming + " is not tcp:HOST:PORT, e.g. tcp:0.0.0.0:4444"));
        GuestMemory[] memory = new GuestMemory[1];
        MigrationTarget.Incoming arrived;
        try {
            arrived = MigrationTarget.receive(at.host(), at.port(), key, shape -> {
                new MachineConfig(Optional.empty(), shape.memorySize(), shape.vcpus(), shape.cpu().spec(), options.backend,
                        GuestImage.DEFAULT_LOAD_ADDRESS, options.kvmPath, options.trace); // the limits of a machine here, before any memory
                memory[0] = GuestMemory.allocate(shape.memorySize());
                return memory[0];
            }, Machine.DEVICE_STATES, line -> main.err.println("jkvm: " + line));
        } catch (RuntimeException e) {
            if (memory[0] != null) {
                memory[0].close();
            }
            throw e;
        }
        Machine machine;
        try {
            String cpu = spec.commandLine().getParseResult().hasMatchedOption("--cpu") ? cpuModel : null; // else the source's
            machine = Machine.arrived(arrived.state(), memory[0], options.backend, cpu, options.kvmPath, options.trace,
                    main.console(), arrived.from());
        } catch (RuntimeException e) {
            arrived.failed(e.getMessage());
            throw e;
        }
        return options.end(options.serve(machine, key, main, () -> {
            arrived.resumed();
            if (options.trace) {
                main.err.printf("jkvm: migrated in from %s: %d rounds, %d pages%n", arrived.from(), arrived.rounds(), arrived.pages());
            }
        }), main);
    }

    /** A run's end: its one line (a failure, a reset that ends it), its exit status (and the whole one in a file). */
    static int end(Outcome outcome, Main main, ExitStatusFile exitStatusFile) {
        main.out.flush();
        if (outcome instanceof Outcome.Failed failed) {
            main.err.println("jkvm: " + failed.message());
            main.err.flush();
        } else if (outcome instanceof Outcome.Reset reset) {
            main.err.println("jkvm: " + reset.how() + ", and the run ends here (--no-reboot; --sandbox, under which jkvm"
                    + " cannot open its kernel and /dev/kvm again; or a machine with no kernel of its own to boot again)");
            main.err.flush();
        }
        if (exitStatusFile != null) {
            exitStatusFile.write(Long.toUnsignedString(outcome.fullStatus()) + "\n");
        }
        return outcome.exitStatus();
    }

    static final class SizeConverter implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return MemorySize.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    static final class AddressConverter implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                String v = value.strip().toLowerCase(java.util.Locale.ROOT);
                long a = v.startsWith("0x") ? Long.parseUnsignedLong(v.substring(2), 16) : Long.parseLong(v);
                if (a < 0) {
                    throw new NumberFormatException();
                }
                return a;
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not an address: write e.g. 0x100000");
            }
        }
    }

    static final class BackendConverter implements CommandLine.ITypeConverter<Backend> {
        @Override
        public Backend convert(String value) {
            try {
                return Backend.valueOf(value.strip().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not a backend: use auto, kvm or emulator");
            }
        }
    }

}
