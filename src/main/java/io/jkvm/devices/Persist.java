package io.jkvm.devices;

/**
 * A component whose state leaves and re-enters the machine as a record of its own (Firecracker's Persist): what a
 * snapshot stores and a migration sends. {@link #restore} checks the record first and refuses, with one line naming
 * the field, a value the component could not hold, before it changes anything.
 */
public interface Persist<S extends Record> {
    S save();

    void restore(S state);
}
