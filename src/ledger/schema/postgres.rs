//! The PostgreSQL migrations, oldest first. V1 is the whole schema the SQLite migrations
//! arrive at, in PostgreSQL's types: 64-bit integers, and `rowid` (an identity column) where
//! rows are listed in insertion order, which SQLite has built in.

/// Runs, recovery jobs and their keys, file deliveries and their evidence, remembered facts,
/// the outbox, leases and the shared rate limit. The comments in `schema::sqlite` say what
/// each table and constraint is for.
pub(super) const V1: &str = r#"
CREATE TABLE runs (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              TEXT PRIMARY KEY,
    scraper         TEXT NOT NULL,
    game_date       TEXT NOT NULL,
    market          TEXT,
    "trigger"       TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL CHECK (status IN
                        ('running', 'success', 'partial', 'no_data', 'failed', 'abandoned')),
    error_kind      TEXT,
    error_message   TEXT,
    events          BIGINT,
    offers_declared BIGINT,
    offers_received BIGINT,
    props_written   BIGINT,
    players         BIGINT,
    failed_offers   BIGINT,
    dropped_lines   BIGINT,
    pages_fetched   BIGINT,
    pages_total     BIGINT,
    attempts        BIGINT,
    retries         BIGINT,
    bytes           BIGINT,
    object_name     TEXT,
    generation      BIGINT,
    published       BIGINT CHECK (published IN (0, 1)),
    publish_error   TEXT,
    routes          TEXT,
    opts            TEXT NOT NULL,
    owner           TEXT,
    lease_until     TEXT,
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK (status IN ('running', 'abandoned') OR (
        offers_received IS NOT NULL AND props_written IS NOT NULL AND players IS NOT NULL
        AND failed_offers IS NOT NULL AND dropped_lines IS NOT NULL
        AND pages_fetched IS NOT NULL AND attempts IS NOT NULL AND retries IS NOT NULL
        AND bytes IS NOT NULL))
);
CREATE INDEX runs_by_started ON runs (started_at);
CREATE INDEX runs_by_date ON runs (game_date, scraper, market, started_at);
CREATE INDEX runs_by_scraper ON runs (scraper, started_at);
CREATE INDEX runs_by_status ON runs (status, started_at);
CREATE INDEX runs_by_object ON runs (object_name);
CREATE INDEX runs_by_owner ON runs (owner, status);

CREATE TABLE jobs (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    key_given       BIGINT NOT NULL CHECK (key_given IN (0, 1)),
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    request         TEXT NOT NULL,
    result          TEXT,
    owner           TEXT,
    lease_until     TEXT,
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_key ON jobs (idempotency_key, created_at);
CREATE UNIQUE INDEX jobs_by_given_key ON jobs (idempotency_key) WHERE key_given = 1;
CREATE UNIQUE INDEX jobs_by_open_content_key ON jobs (idempotency_key)
    WHERE key_given = 0 AND state = 'running';
CREATE INDEX jobs_by_owner ON jobs (owner, state);

CREATE TABLE job_actions (
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('scrape', 'send_file')),
    game_date   TEXT NOT NULL,
    market      TEXT NOT NULL,
    object_name TEXT,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    detail      TEXT,
    run_id      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, seq),
    CHECK ((kind = 'send_file') = (object_name IS NOT NULL))
);

CREATE TABLE file_sends (
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    object_name TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'sent')),
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX file_sends_by_state ON file_sends (state, claimed_at);

CREATE TABLE claim_evidence (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    object_name TEXT NOT NULL,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    checked_at  TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('phase2_answer', 'table', 'person')),
    outcome     TEXT NOT NULL CHECK (outcome IN ('confirmed', 'released', 'unconfirmed')),
    rows_found  BIGINT CHECK (rows_found >= 0),
    detail      TEXT NOT NULL
);
CREATE INDEX claim_evidence_by_claim ON claim_evidence (object_name, job_id, checked_at);

CREATE TABLE known_games (
    game_date  TEXT PRIMARY KEY,
    games      BIGINT NOT NULL CHECK (games >= 0),
    checked_at TEXT NOT NULL
);
CREATE TABLE known_file_rows (
    object_name TEXT PRIMARY KEY,
    rows        BIGINT NOT NULL CHECK (rows >= 0)
);
CREATE TABLE empty_events_answers (
    game_date TEXT PRIMARY KEY,
    first_at  TEXT NOT NULL,
    last_at   TEXT NOT NULL,
    answers   BIGINT NOT NULL CHECK (answers >= 1)
);

CREATE TABLE outbox (
    run_id       TEXT PRIMARY KEY REFERENCES runs (id),
    object_name  TEXT,
    message      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    claimed_at   TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT,
    published_at TEXT,
    message_id   TEXT,
    CHECK ((published_at IS NULL) = (message_id IS NULL))
);
CREATE INDEX outbox_unpublished ON outbox (published_at, created_at);
CREATE INDEX outbox_by_object ON outbox (object_name);

CREATE TABLE rate_slots (
    host            TEXT PRIMARY KEY,
    next_slot_us    BIGINT NOT NULL,
    paused_until_us BIGINT NOT NULL
);
"#;
