# backstop: multi-stage build; the runtime image holds one binary and runs as non-root.
# The service is built without the test doubles (`--no-default-features` leaves out the `sim`
# feature: the local BettingPros, its fixtures and `backstop demo`).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies alone first, against a stub crate: this layer is reused until Cargo.toml or
# Cargo.lock change, so a source change rebuilds backstop only, not every crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --no-default-features --bin backstop \
 && rm -rf src
COPY src src
COPY scrapers scrapers
ARG BACKSTOP_COMMIT=unknown
ENV BACKSTOP_COMMIT=${BACKSTOP_COMMIT}
# The sources may be older than the stub's build: touched, so cargo builds them, not the stub.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --no-default-features --bin backstop \
 && strip target/release/backstop

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/backstop /usr/local/bin/backstop
USER nonroot:nonroot
# No BACKSTOP_LEDGER: on Cloud Run the service refuses a ledger on the instance's disk;
# deploy/service.yaml gives it the Cloud SQL one.
ENV PORT=8080 \
    BACKSTOP_LOG_FORMAT=json \
    BACKSTOP_STORAGE=gs://nba-scraped-data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/backstop"]
CMD ["serve"]
