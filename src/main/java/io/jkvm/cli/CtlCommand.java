package io.jkvm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.api.ApiClient;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

import static io.jkvm.cli.CommandModel.command;
import static io.jkvm.cli.CommandModel.flag;
import static io.jkvm.cli.CommandModel.given;
import static io.jkvm.cli.CommandModel.optional;
import static io.jkvm.cli.CommandModel.option;
import static io.jkvm.cli.CommandModel.parameter;
import static io.jkvm.cli.CommandModel.required;
import static io.jkvm.cli.CommandModel.value;

/** `jkvm ctl PATH COMMAND [ARG]`: sends one command to a running VM's control socket and prints the answer. */
final class CtlCommand implements Callable<Integer> {
    /** The commands that take an argument, and the request field it goes in. */
    private static final Map<String, String> ARGUMENT_FIELDS = Map.of("snapshot", "file", "migrate", "target", "restore", "file");

    private final Main main;
    /** This command's model, which holds the values the command line gave. */
    final CommandSpec spec;

    CtlCommand(Main main) {
        this.main = main;
        spec = command(this, "ctl", "Sends a command to a VM started with jkvm run --api-socket PATH and prints its answer.",
                "Commands: info, pause, resume, snapshot FILE, stop, migrate tcp:HOST:PORT, cancel, and restore FILE to a",
                "jkvm restore --api-socket PATH that waits for one. See docs/api.md.");
        spec.usageMessage().footer("Exit status: 0 when the VM did it, 2 with one line on stderr when it refused or could not be reached.");
        spec.addPositional(required(0, "PATH", Path.class, "the VM's API socket"));
        spec.addPositional(required(1, "COMMAND", String.class, "info, pause, resume, snapshot, stop, migrate, cancel, restore"));
        spec.addPositional(optional(2, "ARG", String.class,
                "snapshot: the FILE to write; restore: the FILE to restore; migrate: tcp:HOST:PORT"));
        spec.addOption(flag("--json", "print the response as JSON, as the socket sent it"));
        spec.addOption(option("--max-downtime", "MS", Long.class,
                "migrate: stop the vCPUs once what is left takes no longer than this to send (default 300)").build());
        spec.addOption(flag("--no-memory-check",
                "restore: do not read the memory file for its checksum first (as jkvm restore --no-memory-check)"));
    }

    @Override
    public Integer call() {
        Path socket = parameter(spec, 0);
        String command = parameter(spec, 1);
        String argument = parameter(spec, 2);
        boolean json = given(spec, "--json");
        Long maxDowntimeMillis = value(spec, "--max-downtime");
        boolean noMemoryCheck = given(spec, "--no-memory-check");
        ObjectNode request = ApiClient.request(command);
        String field = ARGUMENT_FIELDS.get(command);
        if (field == null && argument != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), command + " takes no argument");
        }
        if (("snapshot".equals(command) || "restore".equals(command)) && argument == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), command + " needs the FILE to "
                    + ("snapshot".equals(command) ? "write" : "restore"));
        }
        if (argument != null) { // a FILE is relative to where ctl runs, not to where the VM runs
            request.put(field, "file".equals(field) ? Path.of(argument).toAbsolutePath().normalize().toString() : argument);
        }
        if (maxDowntimeMillis != null) {
            if (!"migrate".equals(command) || maxDowntimeMillis < 0) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--max-downtime takes 0 or more milliseconds, with migrate");
            }
            request.put("maxDowntimeMillis", maxDowntimeMillis);
        }
        if (noMemoryCheck) {
            if (!"restore".equals(command)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--no-memory-check goes with restore");
            }
            request.put("checkMemory", false);
        }
        JsonNode response = new ApiClient(socket).send(request);
        if (json) {
            main.out.println(response);
        } else if (response.get("ok").asBoolean()) {
            printFields(response);
        }
        main.out.flush();
        if (!response.get("ok").asBoolean()) {
            main.err.println("jkvm: " + response.get("error").asText());
            main.err.flush();
            return Main.ERROR;
        }
        return 0;
    }

    /** Every field but "ok", one per line ("state: paused"); "ok" alone when there are none. */
    private void printFields(JsonNode response) {
        int width = 0;
        for (var names = response.fieldNames(); names.hasNext(); ) {
            width = Math.max(width, names.next().length());
        }
        boolean any = false;
        for (var fields = response.fields(); fields.hasNext(); ) {
            var field = fields.next();
            if (!field.getKey().equals("ok")) {
                JsonNode v = field.getValue();
                main.out.printf("%-" + (width + 1) + "s %s%n", field.getKey() + ":", v.isValueNode() ? v.asText() : v.toString());
                any = true;
            }
        }
        if (!any) {
            main.out.println("ok");
        }
    }
}
