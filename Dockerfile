# backstop: multi-stage build; the runtime image holds one static-ish binary and runs as non-root.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY fixtures fixtures
COPY scrapers scrapers
ARG BACKSTOP_COMMIT=unknown
ENV BACKSTOP_COMMIT=${BACKSTOP_COMMIT}
RUN cargo build --release --locked --bin backstop && strip target/release/backstop

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/backstop /usr/local/bin/backstop
USER nonroot:nonroot
ENV PORT=8080 \
    BACKSTOP_LOG_FORMAT=json \
    BACKSTOP_STORAGE=gs://nba-scraped-data \
    BACKSTOP_LEDGER=/var/lib/backstop/ledger.db
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/backstop"]
CMD ["serve"]
