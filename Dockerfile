# jkvm in a container: `docker run --rm --device /dev/kvm IMAGE run` runs the bundled guest.
# Base images are build arguments so CI can build from locally made bases (no registry needed).
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=eclipse-temurin:25-jre

FROM ${BUILD_IMAGE} AS build
# GNU as/ld/objcopy assemble the bundled guest at build time.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils >/dev/null && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pom.xml ./
COPY native-headers native-headers
COPY scripts scripts
COPY src src
RUN mvn -B -q -Dstyle.color=never package -DskipTests

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/jkvm.jar /opt/jkvm/jkvm.jar
RUN printf '#!/bin/sh\nexec java --enable-native-access=ALL-UNNAMED -jar /opt/jkvm/jkvm.jar "$@"\n' > /usr/local/bin/jkvm \
 && chmod 755 /usr/local/bin/jkvm \
 && (getent group kvm >/dev/null || groupadd -r kvm) \
 && useradd -r -m -g kvm jkvm
# Non-root by default: a user in the kvm group can open a /dev/kvm passed with --device when the host gives that group access.
# Where the host's /dev/kvm is root-only, run with --user root.
USER jkvm
ENTRYPOINT ["/usr/local/bin/jkvm"]
CMD ["run"]
