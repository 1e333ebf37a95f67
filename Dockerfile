# jkvm in a container:  docker run --rm --device /dev/kvm IMAGE run   (or --privileged instead of --device)
# Base images are build arguments with the usual public defaults; CI passes images it made locally
# (scripts/docker-bases), since it has no registry to pull from.
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=eclipse-temurin:25-jre

FROM ${BUILD_IMAGE} AS build
# GNU as/ld/objcopy assemble the bundled guest during the build.
RUN command -v as >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
    && rm -rf /var/lib/apt/lists/*)
WORKDIR /src
COPY pom.xml ./
# Dependencies in their own layer: rebuilt only when pom.xml changes.
RUN mvn -B -q -Dstyle.color=never dependency:go-offline >/dev/null
COPY native-headers native-headers
COPY scripts scripts
COPY src src
RUN mvn -B -q -Dstyle.color=never package -DskipTests

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/jkvm.jar /opt/jkvm/jkvm.jar
COPY --from=build /src/scripts/docker-entrypoint /usr/local/bin/jkvm
COPY --from=build /src/scripts/jvm.options /opt/jkvm/jvm.options
# The unprivileged user jkvm drops to when /dev/kvm allows it (see scripts/docker-entrypoint).
RUN chmod 755 /usr/local/bin/jkvm \
 && echo 'jkvm:x:10001:10001:jkvm:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'jkvm:x:10001:' >> /etc/group
# The JDK's ahead-of-time caches (classes loaded and linked; no method profiles, as scripts/lib.sh's aot_cache says
# why) from training runs of the common start paths, for the options the entry point starts java with: one of a
# guest's launch alone (`run`), one of every command; the steps that need /dev/kvm just fail here.
RUN java @/opt/jkvm/jvm.options -XX:AOTCacheOutput=/opt/jkvm/jkvm-run.aot -XX:+UnlockDiagnosticVMOptions -XX:-AOTRecordTraining \
      --enable-native-access=ALL-UNNAMED -cp /opt/jkvm/jkvm.jar io.jkvm.cli.Main aot-training --run-only \
      > /tmp/aot-training.log 2>&1 \
 && java @/opt/jkvm/jvm.options -XX:AOTCacheOutput=/opt/jkvm/jkvm.aot -XX:+UnlockDiagnosticVMOptions -XX:-AOTRecordTraining \
      --enable-native-access=ALL-UNNAMED -cp /opt/jkvm/jkvm.jar io.jkvm.cli.Main aot-training \
      >> /tmp/aot-training.log 2>&1 \
 && test -s /opt/jkvm/jkvm-run.aot && test -s /opt/jkvm/jkvm.aot && chmod 644 /opt/jkvm/jkvm-run.aot /opt/jkvm/jkvm.aot \
 && rm /tmp/aot-training.log \
 || (cat /tmp/aot-training.log >&2; exit 1)
ENTRYPOINT ["/usr/local/bin/jkvm"]
CMD ["run"]
