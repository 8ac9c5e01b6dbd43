# The service's image: supervise as PID 1, running the Flask example
# behind its proxy and Azure AD sign-in, configured by supervisor.yaml.
# No pm2, no Node.js, no Caddy, no shell script.
#
#   docker build -t supervise .                     # compiles supervise in a Rust stage
#   docker build --build-arg SUPERVISE_BINARY=prebuilt -t supervise .
#                                                   # takes dist/supervise from the context
#
# Base images are build arguments, so the image can be built from local
# ones where no registry is reachable (see scripts/container-check).
# The prebuilt path needs a builder that skips unused stages (BuildKit,
# buildah, podman): the Rust image is then never pulled. Buildah 1.28
# (podman 4.3, Debian bookworm) ignores the default of an ARG used in FROM
# when it picks the stages to build, skips `builder` and fails with
# "builder: image not known": there, pass SUPERVISE_BINARY=builder.

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Where the binary comes from: `builder` compiles it below; `prebuilt`
# copies dist/supervise, built outside (for glibc 2.36 or older, such as
# on Debian bookworm, or for a musl target).
ARG SUPERVISE_BINARY=builder

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cache mounts keep the crates and target/ between builds (BuildKit,
# buildah); the binary is copied out of target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/supervise /out/supervise

FROM scratch AS prebuilt
COPY dist/supervise /out/supervise

FROM ${SUPERVISE_BINARY} AS binary

FROM ${PYTHON_IMAGE} AS runtime

# The backend's Python: a virtualenv first on PATH, so the configuration's
# `python3 app.py` runs with Flask installed (Debian's own Python refuses
# pip installs outside a virtualenv).
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY examples/flask/requirements.txt /app/examples/flask/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -r /app/examples/flask/requirements.txt

# The service runs as this user, never as root.
RUN useradd --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin supervise

COPY examples/flask/app.py /app/examples/flask/app.py
COPY supervisor.yaml /app/supervisor.yaml
COPY --from=binary /out/supervise /usr/local/bin/supervise

# Port 80 as a non-root user: the binary carries the file capability
# cap_net_bind_service=ep, exactly what `setcap cap_net_bind_service=+ep`
# writes (the security.capability attribute, version 2, effective bit set,
# permitted bit 10), set with Python because slim images have no setcap.
# Only supervise holds it; the processes it runs do not inherit it. A
# runtime with no-new-privileges set ignores file capabilities: there,
# set PORT=8080 (see the README's "Container" section).
RUN python3 -c 'import os, struct; os.setxattr("/usr/local/bin/supervise", "security.capability", struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0))' \
 && supervise --version

# For a read-only root file system (as in examples/ecs), /tmp is a volume;
# declared here, it takes this directory's mode (1777) on Fargate too, so
# the non-root user can write temporary files there.
RUN chmod 1777 /tmp
VOLUME ["/tmp"]

WORKDIR /app
USER supervise:supervise
# PORT is the proxy's listen port (supervisor.yaml: 0.0.0.0:${PORT}):
# 80 on Fargate; locally `-p 5001:80`, or `-e PORT=5001 -p 5001:5001`.
ENV SUPERVISE_CONFIG=/app/supervisor.yaml \
    PORT=80
EXPOSE 80
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["supervise", "health"]
ENTRYPOINT ["supervise", "up"]
