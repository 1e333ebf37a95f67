# Shared by the scripts and .ci/run: finds a JDK >= 25 (the machine's default java may be older), installs or names
# the Debian packages they need, and runs Maven through the Maven Wrapper.
# Sourced, not run.

jkvm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Prints the major version of the JDK at $1, or nothing.
jdk_major() {
  local home=$1 v=""
  [ -x "$home/bin/java" ] || return 0
  if [ -f "$home/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
  fi
  if [ -z "$v" ]; then
    v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  fi
  echo "$v"
}

# Sets JAVA_HOME to a JDK >= 25: JAVA_HOME when it is one, else the newest /usr/lib/jvm/*25* (or later) with javac.
find_jdk() {
  local v
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(jdk_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 25 ] && [ -x "$JAVA_HOME/bin/javac" ]; then export JAVA_HOME; return 0; fi
  fi
  local candidate
  for candidate in $(ls -d /usr/lib/jvm/*25* /usr/lib/jvm/*2[6-9]* 2>/dev/null | sort -V -r); do
    v=$(jdk_major "$candidate")
    if [ -n "$v" ] && [ "$v" -ge 25 ] && [ -x "$candidate/bin/javac" ]; then
      export JAVA_HOME=$candidate
      return 0
    fi
  done
  echo "jkvm: no JDK 25 found (JAVA_HOME is not one, nor is anything in /usr/lib/jvm/*25*): Debian 12 has no JDK 25 package; install Eclipse Temurin 25 and set JAVA_HOME to it" >&2
  exit 2
}

# Fails with one line naming the package when a command is missing.
need() {
  local tool=$1 package=$2
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "jkvm: '$tool' is missing: install it with 'apt-get install $package'" >&2
    exit 2
  fi
}

# The Debian packages the scripts and .ci/run need, each with what shows it is there (a command, or a file):
# binutils assembles the guests; gcc and libc6-dev build the UAPI layout check and the benchmark harness;
# util-linux has flock and setpriv; docker.io and debootstrap run the container tests and make their base images;
# iproute2's ip makes the network namespaces the migration tests stand in for two hosts with; libssl3's libcrypto
# seals the migration stream (without it jkvm falls back to the JDK's slower AES-GCM, and the tests say so);
# acpica-tools' iasl decodes the ACPI tables jkvm writes, as the tests check them; e2fsprogs makes and reads the ext4
# disk image the Linux guest writes (iproute2 also makes its network test's namespace and TAP); xz-utils unpacks the
# bzImage's kernel for the PVH boot. Maven is not here: ./mvnw brings it.
jkvm_packages=(binutils:as gcc:gcc libc6-dev:/usr/include/stdio.h util-linux:setpriv docker.io:dockerd debootstrap:debootstrap iproute2:ip
  libssl3:/usr/lib/x86_64-linux-gnu/libcrypto.so.3 acpica-tools:iasl e2fsprogs:mkfs.ext4 xz-utils:xz)

# True when a jkvm_packages check ($1: a command, or an absolute path) finds it (sbin too, off a user's PATH).
package_present() {
  case $1 in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

# Makes the named packages present (all of jkvm_packages without arguments): a name from jkvm_packages, or a
# package:check pair of its own (as the benchmarks' peers). As root, apt-get installs the missing ones; otherwise one
# line names them with the command to run, and the script exits 2.
require_packages() {
  local entries=() missing=() entry arg
  if [ $# -eq 0 ]; then entries=("${jkvm_packages[@]}"); fi
  for arg in "$@"; do
    if [[ $arg == *:* ]]; then entries+=("$arg"); continue; fi
    for entry in "${jkvm_packages[@]}"; do
      if [ "${entry%%:*}" = "$arg" ]; then entries+=("$entry"); fi
    done
  done
  for entry in "${entries[@]}"; do
    if ! package_present "${entry#*:}"; then
      missing+=("${entry%%:*}")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "jkvm: missing Debian packages ${missing[*]}: install them as root with 'apt-get install ${missing[*]}'" >&2
    exit 2
  fi
  local log=/tmp/jkvm-apt-get.log
  echo "jkvm: installing ${missing[*]} with apt-get ..." >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } </dev/null >"$log" 2>&1; then
    echo "jkvm: 'apt-get install ${missing[*]}' failed, see $log" >&2
    exit 2
  fi
}

# Maven through the Maven Wrapper: the version in .mvn/wrapper/maven-wrapper.properties, fetched from Maven Central
# into ~/.m2/wrapper (or $MAVEN_USER_HOME) on first use. Needs JAVA_HOME (find_jdk).
mvnw() {
  "$jkvm_root/mvnw" "$@"
}

# True when target/jkvm.jar is missing or older than what it is built from.
jar_stale() {
  [ ! -f "$jkvm_root/target/jkvm.jar" ] && return 0
  [ -n "$(find "$jkvm_root/pom.xml" "$jkvm_root/src/main" "$jkvm_root/scripts/build-guests" "$jkvm_root/scripts/guest.ld" \
      -newer "$jkvm_root/target/jkvm.jar" -print -quit)" ]
}

# The JDK's ahead-of-time cache of target/jkvm.jar (JEP 483/514/515: classes loaded and linked), made by a training
# run (`jkvm aot-training`) when it is missing or older than the jar, for a JVM started with the options given after
# the kind. Three kinds: `run`, target/jkvm-run.aot, for a guest's launch (trained on `run` alone); `linux`,
# target/jkvm-linux.aot, for a Linux kernel's (trained on a boot of the kernel $aot_kernel names into the user space of
# jkvm's training /init, with the JIT's profiles of that boot); and `all`, target/jkvm.aot, for every other command
# (snapshot, restore, info, ctl: their JSON classes too). A JVM loads and links every class of its cache as it starts,
# and Jackson's 634 would cost each guest launch some 20 ms. The JIT's profiles only where a Linux boot made them: a
# boot then runs some 10% shorter, where the bundled guest's profiles steered C2 badly on other guests' hot code, a
# third slower on the core benchmarks (docs/benchmarks.md). Succeeds when the cache is there to use and puts the
# options that start a JVM from it in the array aot_opts (its path also in aot_path); a failed training only costs the
# speed-up, and is not tried again until the next build (a kernel that never ends its boot would otherwise cost every
# launch the 300 s limit). A JVM started from a cache without profiles is told so: its thread that replays a cache's
# training data otherwise spends some 9 ms of a launch's CPU on the empty set (launches 8 ms shorter without it).
aot_cache() {
  local kind=$1 training=(aot-training) profiles=(-XX:+UnlockDiagnosticVMOptions -XX:-AOTRecordTraining) what="" limit=()
  local replay=(-XX:+UnlockDiagnosticVMOptions -XX:-AOTReplayTraining)
  shift
  aot_path="$jkvm_root/target/jkvm.aot"
  case "$kind" in
    run) aot_path="$jkvm_root/target/jkvm-run.aot" training+=(--run-only) ;;
    linux)
      [ -f "${aot_kernel:-}" ] || return 1
      aot_path="$jkvm_root/target/jkvm-linux.aot" training+=(--linux "$aot_kernel") profiles=() what=": a boot of $aot_kernel"
      replay=()
      limit=(timeout 300) # a kernel that never powers off (its boot does not reach the training's /init) ends it
      ;;
  esac
  aot_opts=("-XX:AOTCache=$aot_path" "${replay[@]}")
  local aot=$aot_path
  if built_after "$aot"; then
    return 0
  elif built_after "$aot.failed"; then
    return 1
  fi
  echo "jkvm: making the start-up cache ${aot#"$jkvm_root/"} (once per build$what) ..." >&2
  rm -f "$aot" "$aot.failed"
  if ! "${limit[@]}" "$JAVA_HOME/bin/java" "$@" "-XX:AOTCacheOutput=$aot.tmp" "${profiles[@]}" --enable-native-access=ALL-UNNAMED \
      -cp "$jkvm_root/target/jkvm.jar" io.jkvm.cli.Main "${training[@]}" > "$jkvm_root/target/aot-training-$kind.log" 2>&1 || [ ! -s "$aot.tmp" ]; then
    echo "jkvm: no start-up cache ${aot#"$jkvm_root/"} (its training run failed, see target/aot-training-$kind.log;" \
      "not tried again until the next build)" >&2
    rm -f "$aot.tmp"
    touch "$aot.failed"
    return 1
  fi
  mv "$aot.tmp" "$aot"
}

# Whether file $1 is there and newer than the jar and scripts/jvm.options: made for this build and these options.
built_after() {
  [ -f "$1" ] && [ "$1" -nt "$jkvm_root/target/jkvm.jar" ] && [ "$1" -nt "$jkvm_root/scripts/jvm.options" ]
}

# The JVM options of a jkvm the benchmarks start, as scripts/jkvm starts it by default (scripts/jvm.options, the
# start-up cache of the kind given: run for a guest's launch, linux for a Linux kernel's, all for restore), into the
# array jkvm_java; JKVM_AOT=off leaves the cache out, for a run to compare with.
bench_jkvm_java() {
  jkvm_java=("@$jkvm_root/scripts/jvm.options")
  if [ "${JKVM_AOT:-on}" != off ] && aot_cache "$1" "${jkvm_java[@]}"; then
    jkvm_java+=("${aot_opts[@]}")
  fi
}

# The benchmark classes (-Pbench) compiled, and their classpath written to target/bench/classpath.txt.
bench_classpath() {
  mkdir -p "$jkvm_root/target/bench"
  mvnw -q -B -Dstyle.color=never -Pbench test-compile dependency:build-classpath -Dmdep.includeScope=test \
    -Dmdep.outputFile="$jkvm_root/target/bench/classpath.txt" >&2
}

# Maven on JDK 25 warns about its own Unsafe use; that says nothing about jkvm.
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
