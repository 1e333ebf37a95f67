# Shared by the scripts: finds a JDK >= 25 (the machine's default java may be older) and checks tools.
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
  echo "jkvm: no JDK 25 found (JAVA_HOME is not one, nor is anything in /usr/lib/jvm): install a JDK 25, e.g. Eclipse Temurin 25, and set JAVA_HOME to it" >&2
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

# Maven on JDK 25 warns about its own Unsafe use; that says nothing about jkvm.
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
