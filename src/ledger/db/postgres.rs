//! The shared backend: a small pool of `tokio-postgres` connections (`deadpool-postgres`), each
//! with its own prepared-statement cache. Parameters adapt to the type PostgreSQL inferred for
//! them, so one [`Value`] binds to `BIGINT`, `INTEGER` or `TEXT` alike.

use std::error::Error as _;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

use super::{DbError, Row, Value};
use crate::ledger::{schema, LedgerProblem};

/// Connections per process: runs, jobs and the shared rate limit together rarely need more.
const POOL_SIZE: usize = 8;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PgDb {
    pool: Pool,
    /// Connections with `synchronous_commit = off`, for writes whose loss in a crash costs
    /// nothing that was promised (the shared rate limit's slots).
    relaxed: Pool,
}

/// The server-side bounds of every session the ledger opens, from the instance's lease
/// (`BACKSTOP_LEASE_SECS`), as PostgreSQL `options`:
///
/// - `statement_timeout`, half a lease: a statement that waits (a row another instance holds)
///   fails with an error that says so, instead of hanging the request that asked — nothing
///   waited for longer than a lease is still owned when it comes;
/// - `idle_in_transaction_session_timeout`, a lease: an instance stalled inside a transaction
///   (Cloud Run throttles CPU once a request has answered; a frozen or dying process) is cut by
///   the server, its transaction rolled back and its rows freed, as its leases run out.
///
/// A URL's own `options` come after these, so they win.
pub fn session_options(lease: Duration) -> String {
    let ms = |d: Duration| d.as_millis().max(1000);
    format!(
        "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        ms(lease / 2),
        ms(lease)
    )
}

/// Connections of the relaxed pool.
const RELAXED_POOL_SIZE: usize = 4;

impl PgDb {
    /// Connects (failing at once when the server cannot be reached) and migrates.
    /// Every session bounded by [`session_options`] of `lease`.
    pub(crate) async fn connect(
        config: &tokio_postgres::Config,
        lease: Duration,
    ) -> Result<PgDb, LedgerProblem> {
        let mut config = config.clone();
        config.connect_timeout(CONNECT_TIMEOUT);
        let given = config.get_options().unwrap_or("").to_string();
        config.options(format!("{} {given}", session_options(lease)).trim());
        let main = new_pool(config.clone(), POOL_SIZE)?;
        let options = config.get_options().unwrap_or("").to_string();
        config.options(format!("{options} -c synchronous_commit=off").trim());
        let relaxed = new_pool(config, RELAXED_POOL_SIZE)?;
        let db = PgDb {
            pool: main,
            relaxed,
        };
        let mut conn = db.conn().await?;
        migrate(&mut conn).await?;
        Ok(db)
    }

    async fn conn(&self) -> Result<Object, DbError> {
        get(&self.pool).await
    }

    pub(crate) async fn query_relaxed(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Row>, DbError> {
        query(&get(&self.relaxed).await?, sql, params).await
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute(&self.conn().await?, sql, params).await
    }

    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        query(&self.conn().await?, sql, params).await
    }

    pub(crate) async fn begin(&self) -> Result<PgTx, DbError> {
        let conn = self.conn().await?;
        conn.batch_execute("BEGIN").await?;
        Ok(PgTx { conn: Some(conn) })
    }

    pub(crate) async fn schema_version(&self) -> Result<i64, DbError> {
        version(&self.conn().await?).await
    }
}

/// A transaction on one pooled connection. Dropped without a commit, the connection is closed
/// rather than returned to the pool, and the server rolls the transaction back.
pub(crate) struct PgTx {
    conn: Option<Object>,
}

impl PgTx {
    fn conn(&self) -> &Object {
        self.conn
            .as_ref()
            .expect("an open transaction has its connection")
    }

    pub(crate) async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute(self.conn(), sql, params).await
    }

    pub(crate) async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        query(self.conn(), sql, params).await
    }

    pub(crate) async fn commit(mut self) -> Result<(), DbError> {
        let conn = self
            .conn
            .take()
            .expect("an open transaction has its connection");
        match conn.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                drop(Object::take(conn));
                Err(e.into())
            }
        }
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

/// Serialises migrations across instances (`pg_advisory_xact_lock`): "backstop" in ASCII.
const MIGRATION_LOCK: i64 = 0x6261_636b_7374_6f70;

/// Brings the database to [`schema::POSTGRES_VERSION`]: one transaction under an advisory
/// lock, so instances starting at once migrate once.
async fn migrate(conn: &mut Object) -> Result<(), LedgerProblem> {
    let tx = conn.transaction().await.map_err(DbError::from)?;
    // Waiting for another instance's migration, and a migration itself, may take longer than
    // the session's statement bound.
    tx.batch_execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(DbError::from)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(DbError::from)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await
        .map_err(DbError::from)?;
    let found: Option<i64> = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await
        .map_err(DbError::from)?
        .map(|r| r.get(0));
    let todo = schema::pending(schema::POSTGRES, found.unwrap_or(0))?;
    if todo.is_empty() {
        return Ok(());
    }
    for sql in todo {
        tx.batch_execute(sql).await.map_err(DbError::from)?;
    }
    let sql = match found {
        Some(_) => "UPDATE schema_version SET version = $1",
        None => "INSERT INTO schema_version (version) VALUES ($1)",
    };
    tx.execute(sql, &[&schema::POSTGRES_VERSION])
        .await
        .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// The version the database is at (0 before the first migration).
async fn version(conn: &Object) -> Result<i64, DbError> {
    let row = conn
        .query_opt("SELECT version FROM schema_version", &[])
        .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

fn new_pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, DbError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(CONNECT_TIMEOUT * 3),
            create: Some(CONNECT_TIMEOUT),
            recycle: Some(CONNECT_TIMEOUT),
        })
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

async fn get(pool: &Pool) -> Result<Object, DbError> {
    pool.get().await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        DbError::Pool(text)
    })
}

async fn execute(conn: &Object, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let stmt = conn.prepare_cached(sql).await?;
    Ok(conn.execute(&stmt, &refs(params)).await?)
}

async fn query(conn: &Object, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let stmt = conn.prepare_cached(sql).await?;
    let rows = conn.query(&stmt, &refs(params)).await?;
    rows.iter().map(row).collect()
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut columns = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let value = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|n| Value::Int(n.into()))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|n| Value::Int(n.into()))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|b| Value::Int(b.into()))
        } else if *ty == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(DbError::column(
                col.name(),
                format!("unsupported type {ty}"),
            ));
        };
        columns.push((col.name().to_string(), value.unwrap_or(Value::Null)));
    }
    Ok(Row { columns })
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Real(x) => x.to_sql(ty, out),
            Value::Int(_) | Value::Count(_) => {
                let n = self.int()?.unwrap_or_default();
                if *ty == Type::INT4 {
                    i32::try_from(n)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(n)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (n != 0).to_sql(ty, out)
                } else if *ty == Type::INT8 {
                    n.to_sql(ty, out)
                } else {
                    n.to_string().as_str().to_sql(ty, out)
                }
            }
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::INT4,
            Type::INT2,
            Type::BOOL,
            Type::FLOAT8,
            Type::TEXT,
            Type::VARCHAR,
            Type::NAME,
            Type::BPCHAR,
            Type::UNKNOWN,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

/// A PostgreSQL error as a person reads it: the server's message and code, or the cause.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if db.code() == &tokio_postgres::error::SqlState::QUERY_CANCELED {
            // session_options' statement bound.
            text.push_str(
                ": it waited half a lease, likely on rows another instance's unfinished \
                 transaction holds; the server ends that transaction once a lease has passed, \
                 so asking again then succeeds",
            );
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
