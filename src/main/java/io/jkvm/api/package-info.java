/**
 * The control socket: {@code jkvm run --api-socket PATH} answers JSON commands (pause, resume, info, snapshot,
 * stop) on an owner-only Unix domain socket, and {@code jkvm ctl} sends them. The machine is reached only through
 * {@link io.jkvm.api.ControlTarget}, so this package depends on nothing else in jkvm. The protocol is in docs/api.md.
 */
package io.jkvm.api;
