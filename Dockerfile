# syntax=docker/dockerfile:1
# Build: docker build -t secretgate:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
# `serve --dev` embeds the example cluster and review
COPY examples examples
RUN cargo build --release --locked --bin secretgate \
 && strip target/release/secretgate

# glibc and libgcc only; no shell, no package manager; runs as 65532
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/secretgate /secretgate
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/secretgate"]
CMD ["serve"]
