package io.jkvm.api;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * The commands of the control socket: one request (a JSON object) in, one response out. Every problem with the
 * request or the VM is an {@code {"ok": false, "error": "..."}} response, never an exception.
 */
final class ControlCommands {
    /** Every command the socket knows, in the order docs/api.md lists them. */
    static final List<String> NAMES = List.of("info", "pause", "resume", "snapshot", "stop", "migrate", "cancel", "restore");

    static final ObjectMapper MAPPER = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private final ControlTarget target;
    // One command at a time: the state check and the call it guards must see the same VM.
    private final Object lock = new Object();

    ControlCommands(ControlTarget target) {
        this.target = target;
    }

    /** The response to one request, given as the bytes of its line (without the newline). */
    ObjectNode answer(byte[] request) {
        JsonNode tree;
        try (JsonParser parser = MAPPER.createParser(request)) {
            tree = MAPPER.readTree(parser);
            if (tree != null && parser.nextToken() != null) {
                return error("malformed JSON: more follows the request object (one request per connection)");
            }
        } catch (JsonProcessingException e) {
            return error("malformed JSON: " + oneLine(e.getOriginalMessage()));
        } catch (IOException e) {
            return error("malformed JSON: " + oneLine(e.getMessage()));
        }
        if (tree == null || tree.isMissingNode()) {
            return error("empty request: send one JSON object such as {\"command\": \"info\"}");
        }
        if (!tree.isObject()) {
            return error("a request is a JSON object such as {\"command\": \"info\"}, not " + kind(tree));
        }
        JsonNode command = tree.get("command");
        if (command == null) {
            return error("the request has no \"command\": known commands are " + String.join(", ", NAMES));
        }
        if (!command.isTextual()) {
            return error("\"command\" must be a string, not " + kind(command));
        }
        if (command.asText().equals("info")) {
            return withNoArguments(tree, this::info); // it only reads: answered while a snapshot or migration runs
        }
        if (command.asText().equals("cancel")) {
            return withNoArguments(tree, this::cancel); // must get past a migrate that holds the command lock
        }
        synchronized (lock) {
            String name = command.asText();
            ObjectNode empty = NAMES.contains(name) && !Set.of("stop", "restore").contains(name) ? guarded(name,
                    () -> target.info().state() != VmInfo.State.EMPTY ? null
                            : error("no VM here yet: this jkvm waits for a restore command ({\"command\": \"restore\", \"file\": ...})"))
                    : null;
            if (empty != null) {
                return empty;
            }
            return switch (command.asText()) {
                case "pause" -> withNoArguments(tree, this::pause);
                case "resume" -> withNoArguments(tree, this::resume);
                case "stop" -> withNoArguments(tree, this::stop);
                case "snapshot" -> snapshot(tree);
                case "migrate" -> migrate(tree);
                case "restore" -> restore(tree);
                default -> error("unknown command '" + quote(command.asText()) + "': known commands are " + String.join(", ", NAMES));
            };
        }
    }

    private ObjectNode info() {
        ObjectNode response = ok();
        response.setAll((ObjectNode) MAPPER.valueToTree(target.info()));
        return response;
    }

    private ObjectNode pause() {
        switch (target.info().state()) {
            case ENDED -> {
                return error("the guest has ended: there is nothing to pause");
            }
            case PAUSED -> {
                return error("the VM is already paused");
            }
            case RUNNING, EMPTY -> {
            }
        }
        if (!target.pause()) {
            return error("the guest ended before it could be paused");
        }
        return ok().put("state", VmInfo.State.PAUSED.jsonName());
    }

    private ObjectNode resume() {
        switch (target.info().state()) {
            case ENDED -> {
                return error("the guest has ended: there is nothing to resume");
            }
            case RUNNING -> {
                return error("the VM is not paused");
            }
            case PAUSED, EMPTY -> {
            }
        }
        target.resume();
        return ok().put("state", VmInfo.State.RUNNING.jsonName());
    }

    private ObjectNode stop() {
        if (target.info().state() == VmInfo.State.ENDED) {
            return error("the guest has already ended");
        }
        target.stop();
        return ok();
    }

    private ObjectNode snapshot(JsonNode request) {
        ObjectNode unknown = unknownFields(request, Set.of("command", "file"), "it takes \"file\"");
        if (unknown != null) {
            return unknown;
        }
        Path path;
        switch (absoluteFile(request, "snapshot needs \"file\": the absolute path of the snapshot to write")) {
            case FileArgument.Refused refused -> {
                return refused.response();
            }
            case FileArgument.Given given -> path = given.path();
        }
        return guarded("snapshot", () -> {
            if (target.info().state() == VmInfo.State.ENDED) {
                return error("the guest has ended: there is nothing to snapshot");
            }
            ControlTarget.SnapshotResult r = target.snapshot(path);
            return ok().put("file", r.file().toString()).put("pausedMillis", r.pausedMillis()).put("totalMillis", r.totalMillis());
        });
    }

    private ObjectNode restore(JsonNode request) {
        ObjectNode unknown = unknownFields(request, Set.of("command", "file", "checkMemory"),
                "it takes \"file\" and \"checkMemory\"");
        if (unknown != null) {
            return unknown;
        }
        JsonNode checkMemory = request.get("checkMemory");
        if (checkMemory != null && !checkMemory.isBoolean()) {
            return error("\"checkMemory\" must be true or false, not " + kind(checkMemory));
        }
        Path path;
        switch (absoluteFile(request, "restore needs \"file\": the absolute path of the snapshot to restore")) {
            case FileArgument.Refused refused -> {
                return refused.response();
            }
            case FileArgument.Given given -> path = given.path();
        }
        return guarded("restore", () -> {
            if (target.info().state() != VmInfo.State.EMPTY) {
                return error("this jkvm runs a VM already: restore into a jkvm that waits for one"
                        + " (jkvm restore --api-socket PATH, with no SNAPSHOT)");
            }
            ControlTarget.RestoreResult r = target.restore(path, checkMemory == null || checkMemory.booleanValue());
            return ok().put("state", VmInfo.State.RUNNING.jsonName()).put("file", r.file().toString())
                    .put("backend", r.backend()).put("restoreMillis", r.restoreMillis());
        });
    }

    /** A request's "file": an absolute path, or the error response that refuses it. */
    private sealed interface FileArgument {
        record Given(Path path) implements FileArgument {
        }

        record Refused(ObjectNode response) implements FileArgument {
        }
    }

    private static FileArgument absoluteFile(JsonNode request, String missing) {
        JsonNode file = request.get("file");
        if (file == null || !file.isTextual() || file.asText().isEmpty()) {
            return new FileArgument.Refused(error(missing));
        }
        Path path;
        try {
            path = Path.of(file.asText());
        } catch (InvalidPathException e) {
            return new FileArgument.Refused(error("\"file\" is not a usable path: " + oneLine(e.getReason())));
        }
        if (!path.isAbsolute()) { // a relative path would resolve against the VM's directory, not the client's
            return new FileArgument.Refused(error("\"file\" must be an absolute path, not " + quote(file.asText())));
        }
        return new FileArgument.Given(path);
    }

    private ObjectNode cancel() {
        if (!target.cancelMigration()) {
            return error("no migration is under way");
        }
        return ok();
    }

    private ObjectNode migrate(JsonNode request) {
        ObjectNode unknown = unknownFields(request, Set.of("command", "target", "maxDowntimeMillis"),
                "it takes \"target\" and \"maxDowntimeMillis\"");
        if (unknown != null) {
            return unknown;
        }
        JsonNode destination = request.get("target");
        if (destination == null || !destination.isTextual() || !destination.asText().startsWith("tcp:")) {
            return error("migrate needs \"target\": the destination as tcp:HOST:PORT (a jkvm run --incoming there)");
        }
        JsonNode downtime = request.get("maxDowntimeMillis");
        if (downtime != null && (!downtime.canConvertToLong() || downtime.longValue() < 0)) {
            return error("\"maxDowntimeMillis\" must be 0 or more milliseconds");
        }
        long maxDowntime = downtime == null ? ControlTarget.DEFAULT_MAX_DOWNTIME_MS : downtime.longValue();
        return guarded("migrate", () -> {
            if (target.info().state() == VmInfo.State.ENDED) {
                return error("the guest has ended: there is nothing to migrate");
            }
            ControlTarget.MigrationResult r = target.migrate(destination.asText(), maxDowntime);
            return ok().put("destination", r.destination()).put("rounds", r.rounds()).put("pagesSent", r.pagesSent())
                    .put("bytesSent", r.bytesSent()).put("downtimeMillis", r.downtimeMillis()).put("totalMillis", r.totalMillis());
        });
    }

    private ObjectNode withNoArguments(JsonNode request, java.util.function.Supplier<ObjectNode> command) {
        ObjectNode unknown = unknownFields(request, Set.of("command"), "it takes no arguments");
        return unknown != null ? unknown : guarded(request.get("command").asText(), command);
    }

    /** Runs a command against the target; what the target throws becomes the error, and the server serves on. */
    private static ObjectNode guarded(String name, java.util.function.Supplier<ObjectNode> command) {
        try {
            return command.get();
        } catch (RuntimeException | Error e) { // an Error too (out of memory): one client's command must not end the server
            String message = e.getMessage();
            return error(message == null || message.isBlank()
                    ? name + " failed: " + e.getClass().getSimpleName() + " (a jkvm bug: please report it)" : oneLine(message));
        }
    }

    private static ObjectNode unknownFields(JsonNode request, Set<String> allowed, String takes) {
        for (Iterator<String> names = request.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!allowed.contains(name)) {
                return error("unknown field '" + quote(name) + "' in a " + request.get("command").asText()
                        + " request (" + takes + ")");
            }
        }
        return null;
    }

    static ObjectNode ok() {
        return MAPPER.createObjectNode().put("ok", true);
    }

    static ObjectNode error(String message) {
        return MAPPER.createObjectNode().put("ok", false).put("error", message);
    }

    private static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case ARRAY -> "an array";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            default -> "an object";
        };
    }

    /** A message from the target or the JSON parser, on one line. */
    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\p{Cntrl}+", " ").strip();
    }

    /** Text taken from a request, on one line and short enough to quote in an error. */
    static String quote(String s) {
        String line = oneLine(s);
        return line.length() <= 100 ? line : line.substring(0, 100) + "...";
    }
}
