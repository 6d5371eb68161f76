//! The SQLite migrations, oldest first. V1–V4 are the schema the embedded ledger has been
//! released with (a file written by any earlier build migrates in place): they are never
//! edited. V5 adds leases and the shared rate limit's table: the queries are the same on both
//! backends, and `backstop serve` and a CLI command on one file are two instances too.

pub(super) const V1: &str = r#"
CREATE TABLE runs (
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
    events          INTEGER,
    offers_declared INTEGER,
    offers_received INTEGER,
    props_written   INTEGER,
    players         INTEGER,
    failed_offers   INTEGER,
    dropped_lines   INTEGER,
    pages_fetched   INTEGER,
    pages_total     INTEGER,
    attempts        INTEGER,
    retries         INTEGER,
    bytes           INTEGER,
    object_name     TEXT,
    generation      INTEGER,
    published       INTEGER CHECK (published IN (0, 1)),
    publish_error   TEXT,
    routes          TEXT,
    opts            TEXT NOT NULL,
    -- Only a running run has no end.
    CHECK ((status = 'running') = (finished_at IS NULL)),
    -- A finished run's known counts are numbers: 0 is 0, never NULL. Only an abandoned run,
    -- whose counts nobody knows, keeps NULL.
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

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    request         TEXT NOT NULL,
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX jobs_by_state ON jobs (state, created_at);

CREATE TABLE job_actions (
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('scrape', 'send_file')),
    game_date   TEXT NOT NULL,
    market      TEXT NOT NULL,
    object_name TEXT,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,
    run_id      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, seq),
    CHECK ((kind = 'send_file') = (object_name IS NOT NULL))
);

-- The never-twice guard: one row per object ever handed to Phase 2 by a recovery.
CREATE TABLE file_sends (
    object_name TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'sent')),
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX file_sends_by_state ON file_sends (state, claimed_at);
"#;

/// Recovery results, remembered facts for gap detection, runs found by the object they wrote.
pub(super) const V2: &str = r#"
-- What detection said about the job's dates afterwards (JSON), once it ran.
ALTER TABLE jobs ADD COLUMN result TEXT;

-- Facts that do not change, kept so gap detection does not ask again after a restart:
-- games on a past date, and the rows an object (written once) yields.
CREATE TABLE known_games (
    game_date  TEXT PRIMARY KEY,
    games      INTEGER NOT NULL CHECK (games >= 0),
    checked_at TEXT NOT NULL
);
CREATE TABLE known_file_rows (
    object_name TEXT PRIMARY KEY,
    rows        INTEGER NOT NULL CHECK (rows >= 0)
);

CREATE INDEX runs_by_object ON runs (object_name);
"#;

/// The outbox of completion messages.
pub(super) const V3: &str = r#"
-- A run's completion message, recorded before it is published. `object_name` is the complete
-- file it announces (NULL when it announces none). `claimed_at` is when a publisher took it (the
-- run itself, or a drain); a claim older than the lease belongs to a process that is gone.
CREATE TABLE outbox (
    run_id       TEXT PRIMARY KEY REFERENCES runs (id),
    object_name  TEXT,
    message      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    claimed_at   TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT,
    published_at TEXT,
    message_id   TEXT,
    CHECK ((published_at IS NULL) = (message_id IS NULL))
);
CREATE INDEX outbox_unpublished ON outbox (published_at, created_at);
CREATE INDEX outbox_by_object ON outbox (object_name);
"#;

/// Repeatable recoveries; claims settled from evidence; "no games" remembered only when
/// corroborated. (Rebuilding `jobs` needs foreign keys off: `migrate_sqlite` runs so.)
pub(super) const V4: &str = r#"
-- A request's own key (a hash of its content) names at most one *unfinished* job, so the same
-- request plans anew once its job finished; a key given by the caller (Idempotency-Key,
-- --key) names one job for ever. Both enforced by the database: partial unique indexes.
CREATE TABLE jobs_v3 (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    key_given       INTEGER NOT NULL CHECK (key_given IN (0, 1)),
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    request         TEXT NOT NULL,
    result          TEXT,
    CHECK ((state = 'running') = (finished_at IS NULL))
);
INSERT INTO jobs_v3 (id, idempotency_key, key_given, created_at, finished_at, state, request, result)
    SELECT id, idempotency_key, CASE WHEN idempotency_key LIKE 'content-%' THEN 0 ELSE 1 END,
           created_at, finished_at, state, request, result
    FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v3 RENAME TO jobs;
CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_key ON jobs (idempotency_key, created_at);
CREATE UNIQUE INDEX jobs_by_given_key ON jobs (idempotency_key) WHERE key_given = 1;
CREATE UNIQUE INDEX jobs_by_open_content_key ON jobs (idempotency_key)
    WHERE key_given = 0 AND state = 'running';

-- What each hand-over of a file to Phase 2 went through, oldest first: Phase 2's answer, and
-- every check of the table that settled (or could not settle) a claim whose outcome was
-- unknown. A released claim's row in file_sends is gone; its evidence stays here.
CREATE TABLE claim_evidence (
    id          INTEGER PRIMARY KEY,
    object_name TEXT NOT NULL,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    checked_at  TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('phase2_answer', 'table', 'person')),
    outcome     TEXT NOT NULL CHECK (outcome IN ('confirmed', 'released', 'unconfirmed')),
    -- Rows under the file's source_file_path (either form); NULL when the table was not read.
    rows_found  INTEGER CHECK (rows_found >= 0),
    detail      TEXT NOT NULL
);
CREATE INDEX claim_evidence_by_claim ON claim_evidence (object_name, job_id, checked_at);

-- Empty events answers for a past date: not yet proof of an off day (contract section 6).
-- known_games gets the zero only when an answer hours after the first agrees and nothing
-- disagrees; the row goes when the date's games are remembered.
CREATE TABLE empty_events_answers (
    game_date TEXT PRIMARY KEY,
    first_at  TEXT NOT NULL,
    last_at   TEXT NOT NULL,
    answers   INTEGER NOT NULL CHECK (answers >= 1)
);
"#;

/// Leases (who owns a running run or an unfinished job, and until when) and the shared rate
/// limit.
pub(super) const V5: &str = r#"
-- The instance that owns the work, and until when its heartbeat holds it. NULL on work
-- recorded before leases existed: its owner is unknown, so it may be taken over at once.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN lease_until TEXT;
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
CREATE INDEX runs_by_owner ON runs (owner, status);
CREATE INDEX jobs_by_owner ON jobs (owner, state);

-- One rate limit per upstream host across every instance (GCRA): the next free slot and a
-- pause asked for by a 429 / Retry-After, in microseconds since the Unix epoch.
CREATE TABLE rate_slots (
    host            TEXT PRIMARY KEY,
    next_slot_us    INTEGER NOT NULL,
    paused_until_us INTEGER NOT NULL
);
"#;
