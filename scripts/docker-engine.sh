# Sourced by scripts/test: makes a Docker engine and jkvm's base images available for the container tests.
# Starts dockerd when it is installed but not running (and stops it, by its PID, when the caller exits), and on a
# machine that cannot pull the Dockerfile's public bases, makes local ones with scripts/docker-bases.

jkvm_dockerd_pid=""

docker_reachable() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

stop_docker_engine() {
  if [ -n "$jkvm_dockerd_pid" ] && kill -0 "$jkvm_dockerd_pid" 2>/dev/null; then
    echo "docker: stopping dockerd (pid $jkvm_dockerd_pid)" >&2
    kill "$jkvm_dockerd_pid"
    for _ in $(seq 1 30); do kill -0 "$jkvm_dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
}

start_docker_engine() {
  if docker_reachable; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "docker: no Docker engine here (install docker.io and run as root to start one): the container tests will be skipped" >&2
    return 0
  fi
  local log=/tmp/jkvm-dockerd.log
  echo "docker: starting dockerd (log $log)" >&2
  # Without the caller's other descriptors: a daemon that outlives a killed caller must not keep its locks open.
  dockerd >"$log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  jkvm_dockerd_pid=$!
  trap stop_docker_engine EXIT
  for _ in $(seq 1 60); do
    if docker_reachable; then return 0; fi
    kill -0 "$jkvm_dockerd_pid" 2>/dev/null || break
    sleep 1
  done
  echo "docker: dockerd did not come up, see $log: the container tests will be skipped" >&2
}

# Local base images when none are named and this machine has no registry to pull the public ones from.
prepare_docker_bases() {
  docker_reachable || return 0
  [ -n "${JKVM_BUILD_IMAGE:-}" ] && return 0
  if docker image inspect maven:3.9-eclipse-temurin-25 >/dev/null 2>&1 \
      && docker image inspect eclipse-temurin:25-jre >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "docker: the public base images are not here and debootstrap is missing (apt-get install debootstrap)" >&2
    return 0
  fi
  local line
  while read -r line; do
    case "$line" in
      BUILD_IMAGE=*) export JKVM_BUILD_IMAGE=${line#BUILD_IMAGE=} ;;
      RUNTIME_IMAGE=*) export JKVM_RUNTIME_IMAGE=${line#RUNTIME_IMAGE=} ;;
    esac
  done < <("$jkvm_root/scripts/docker-bases")
  # No registry: Testcontainers must neither pull its Ryuk reaper nor run its image-based start-up checks.
  export TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_CHECKS_DISABLE=true
}

# Inside a container (this kind of machine has /.dockerenv), Testcontainers must reach dockerd's ports on localhost.
if [ -f /.dockerenv ] && [ -z "${TESTCONTAINERS_HOST_OVERRIDE:-}" ]; then
  export TESTCONTAINERS_HOST_OVERRIDE=localhost
fi
