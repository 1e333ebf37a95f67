package io.jkvm.cli;

import io.jkvm.kvm.Kvm;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.nio.file.Path;
import java.util.List;

/**
 * picocli's model of a command made in code, as every jkvm command's is: picocli reads an annotated command through
 * the JDK's annotation proxies and reflection, about 70 ms of every launch's main thread, where this model takes about
 * 12 (docs/benchmarks.md). The values parsed stay in the model: a command reads them with {@link #value} when it runs.
 */
final class CommandModel {
    private CommandModel() {
    }

    /**
     * A command running {@code command} (a Runnable or Callable) with the description's lines, and the -h/--help and
     * -V/--version options of picocli's mixinStandardHelpOptions.
     */
    static CommandSpec command(Object command, String name, String... description) {
        CommandSpec spec = CommandSpec.wrapWithoutInspection(command).name(name).versionProvider(new Main.Version());
        // no ${...} in the model (defaults are written into their descriptions): picocli would interpolate every
        // option's names at each look-up of an option, some 7 ms of a launch's main thread
        spec.interpolateVariables(false);
        spec.usageMessage().description(description);
        spec.addOption(OptionSpec.builder("-h", "--help").usageHelp(true)
                .description("Show this help message and exit.").build());
        spec.addOption(OptionSpec.builder("-V", "--version").versionHelp(true)
                .description("Print version information and exit.").build());
        return spec;
    }

    /** An option taking a value of {@code type}, shown as {@code label} in help. */
    static OptionSpec.Builder option(String name, String label, Class<?> type, String... description) {
        OptionSpec.Builder option = OptionSpec.builder(name).paramLabel(label).type(type).description(description);
        return type == Path.class ? option.converters(PATH) : option;
    }

    /**
     * An option with a default value, which each description line shows in place of {@code ${DEFAULT-VALUE}} (picocli's
     * own marker, written here once: the model interpolates nothing).
     */
    static OptionSpec.Builder optionWithDefault(String name, String label, Class<?> type, String defaultValue,
            String... description) {
        String[] lines = description.clone();
        for (int i = 0; i < lines.length; i++) {
            lines[i] = lines[i].replace("${DEFAULT-VALUE}", defaultValue);
        }
        return option(name, label, type, lines).defaultValue(defaultValue);
    }

    /**
     * A path as Path.of reads it: picocli's own converter for Path calls Paths.get by reflection, whose first call
     * spins its accessor (some 3 ms of a launch).
     */
    private static final ITypeConverter<Path> PATH = Path::of;

    /** An option given any number of times, each with a string. */
    static OptionSpec repeated(String name, String label, String... description) {
        return option(name, label, List.class, description).auxiliaryTypes(String.class).build();
    }

    /** The hidden --kvm PATH of the commands that open KVM: the device, /dev/kvm unless given (for the tests). */
    static OptionSpec kvmDevice() {
        return optionWithDefault("--kvm", "PATH", String.class, Kvm.DEFAULT_PATH, "the KVM device (default: ${DEFAULT-VALUE})")
                .hidden(true).build();
    }

    /** Positional parameter {@code index}, which the command line must give (one value of {@code type}). */
    static PositionalParamSpec required(int index, String label, Class<?> type, String... description) {
        return positional(PositionalParamSpec.builder().index(Integer.toString(index)).arity("1").required(true)
                .paramLabel(label).type(type).description(description));
    }

    /** Positional parameter {@code index}, which the command line may leave out (null then). */
    static PositionalParamSpec optional(int index, String label, Class<?> type, String... description) {
        return positional(PositionalParamSpec.builder().index(Integer.toString(index)).arity("0..1").paramLabel(label)
                .type(type).description(description));
    }

    private static PositionalParamSpec positional(PositionalParamSpec.Builder parameter) {
        return (parameter.type() == Path.class ? parameter.converters(PATH) : parameter).build();
    }

    /** An option taking no value: true when given. */
    static OptionSpec flag(String name, String... description) {
        return OptionSpec.builder(name).type(boolean.class).arity("0").description(description).build();
    }

    /** The value the command line gave option {@code name} of {@code spec}, or its default (null without one). */
    static <T> T value(CommandSpec spec, String name) {
        return spec.findOption(name).getValue();
    }

    /** The value the command line gave positional parameter {@code index} of {@code spec}; null when left out. */
    static <T> T parameter(CommandSpec spec, int index) {
        return spec.positionalParameters().get(index).getValue();
    }

    /** The strings a {@link #repeated} option was given, in order; none when it was not. */
    static List<String> values(CommandSpec spec, String name) {
        List<String> given = value(spec, name);
        return given == null ? List.of() : given;
    }

    /** A flag's value: whether the command line gave it. */
    static boolean given(CommandSpec spec, String name) {
        return Boolean.TRUE.equals(spec.findOption(name).getValue());
    }
}
