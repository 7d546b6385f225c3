//! The PostgreSQL backend: the state, its last versions, the journal and the lock holder
//! in tables of one schema ([`sql`]), one row set per workspace.
//!
//! One dedicated connection per command does everything: it holds the session advisory
//! lock ([`lock`]) and makes every write, so a lost connection loses the lock and every
//! later write fails instead of overwriting. Writes are compare-and-swaps: the final save
//! is one transaction `UPDATE … WHERE serial = <read>` (0 rows: another writer won,
//! nothing is written) with the history row and the journal cleanup; a journal append is
//! one autocommit INSERT, durable when it returns. Readers read the state and journal in
//! one REPEATABLE READ snapshot, and never create anything.
//!
//! The client is async (tokio-postgres); it runs on the backend's own [`Bridge`].
//! Credentials come in through [`BackendEnv`] only; no message holds the URL or password.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::{Client, Statement};

use crate::state::backend::bridge::Bridge;
use crate::state::backend::{Backend, BackendEnv, Document, Stored, Version};
use crate::state::error::StateError;
use crate::state::journal::{JOURNAL_VERSION, JournalContents, JournalHeader, JournalLine};
use crate::state::lock::{ForceUnlocked, LockInfo};
use crate::state::settings::PgSettings;

mod error;
mod lock;
pub mod sql;
mod tls;
pub mod url;

pub use error::PgError;
use sql::{SchemaStatus, Tables};

/// The longest any one statement (or the connect) may take before the command gives up.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// The state of one workspace in PostgreSQL, over one dedicated connection.
#[derive(Debug)]
pub struct PgBackend {
    bridge: Bridge,
    client: Arc<Client>,
    tables: Tables,
    workspace: String,
    /// `user@host:port/db`, for messages.
    target: String,
    /// Why the connection ended, once it has (set by its driver task).
    lost: Arc<Mutex<Option<String>>>,
    /// The lock id while this backend holds the lock.
    held: Option<String>,
    /// The next journal sequence number.
    next_seq: i64,
    /// The prepared journal INSERT, once the schema exists.
    append: Option<Statement>,
    /// How to open another connection like this one (the pooling probe).
    connector: Connector,
}

/// The connection settings and TLS of a backend, to open more connections like the first.
#[derive(Clone)]
struct Connector {
    config: tokio_postgres::Config,
    /// `None`: `sslmode=disable`.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    limit: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the password: show nothing of it.
        f.debug_struct("Connector").field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

impl Connector {
    /// Connects (bounded by the connect timeout); `lost` is told when the connection ends.
    async fn connect(
        self,
        lost: Arc<Mutex<Option<String>>>,
    ) -> Option<Result<Client, tokio_postgres::Error>> {
        let limit = self.limit;
        match self.tls {
            None => with_timeout(limit, connect_with(self.config, tokio_postgres::NoTls, lost)).await,
            Some(tls) => with_timeout(limit, connect_with(self.config, tls, lost)).await,
        }
    }
}

impl PgBackend {
    /// Connects with the URL in the environment variable `settings.conn_str_env`.
    /// Creates nothing and takes no lock.
    pub fn connect(settings: &PgSettings, env: &BackendEnv) -> Result<Self, StateError> {
        let url = env
            .var(&settings.conn_str_env)
            .ok_or_else(|| pg_err(PgError::NoConnStr { env: settings.conn_str_env.clone() }))?;
        let bad = |why: String| pg_err(PgError::BadConnStr { env: settings.conn_str_env.clone(), why });
        let params = url::parse(url.expose()).map_err(bad)?;
        let user =
            params.user.clone().or_else(|| env.user.clone()).ok_or_else(|| {
                bad("it names no user, and the user running tokenform is unknown".to_owned())
            })?;
        let target = params.target(&user);
        if params.sslmode == url::SslMode::Disable && !params.is_loopback() {
            return Err(bad(format!(
                "sslmode=disable sends the password and the state in clear; it is allowed only for \
                 loopback, and {} is not (use sslmode=verify-full)",
                params.host
            )));
        }
        let mut config = tokio_postgres::Config::new();
        config
            .host(&params.host)
            .port(params.port)
            .user(&user)
            .dbname(params.dbname.as_deref().unwrap_or(&user))
            .application_name(&params.application_name)
            .connect_timeout(params.connect_timeout)
            .keepalives_idle(Duration::from_secs(15))
            .ssl_mode(if params.sslmode == url::SslMode::Disable {
                tokio_postgres::config::SslMode::Disable
            } else {
                tokio_postgres::config::SslMode::Require
            });
        #[cfg(target_os = "linux")]
        config.tcp_user_timeout(OP_TIMEOUT);
        if let Some(p) = &params.password {
            config.password(p.expose());
        }
        let tls = if params.sslmode == url::SslMode::Disable {
            None
        } else {
            let tls = tls::client_config(params.sslmode, params.root_cert.as_ref())
                .map_err(|e| pg_err(PgError::Tls { target: target.clone(), why: e.why, help: e.help }))?;
            Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        };
        let limit = params.connect_timeout + Duration::from_secs(5);
        let connector = Connector { config, tls, limit };
        let bridge = Bridge::new("tokenform-pg")
            .map_err(StateError::io("start the PostgreSQL client for", &target))?;
        let lost = Arc::new(Mutex::new(None));
        let connected = bridge.run(connector.clone().connect(lost.clone()));
        let client = match connected {
            Ok(Some(Ok(client))) => client,
            Ok(Some(Err(e))) => return Err(pg_err(error::connect_error(&e, &target, &settings.schema))),
            Ok(None) => {
                return Err(pg_err(PgError::Timeout {
                    target,
                    action: "connecting".into(),
                    seconds: limit.as_secs(),
                }));
            }
            Err(stopped) => return Err(pg_err(PgError::Connect { target, why: stopped.to_string() })),
        };
        Ok(Self {
            bridge,
            client: Arc::new(client),
            tables: Tables::new(&settings.schema),
            workspace: settings.workspace.clone(),
            target,
            lost,
            held: None,
            next_seq: 1,
            append: None,
            connector,
        })
    }

    /// Runs one database step on the bridge with the op timeout; `action` says what it
    /// was, for errors (`reading the state`).
    fn call<T, F, Fut>(&self, action: &str, f: F) -> Result<T, StateError>
    where
        F: FnOnce(Arc<Client>, Tables, String) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let fut = f(self.client.clone(), self.tables.clone(), self.workspace.clone());
        let lost = || self.lost.lock().ok().and_then(|l| l.clone());
        let outcome = self.bridge.run(with_timeout(OP_TIMEOUT, fut));
        let err = match outcome {
            Ok(Some(Ok(v))) => return Ok(v),
            Ok(Some(Err(e))) => match lost() {
                Some(why) => {
                    PgError::ConnectionLost { target: self.target.clone(), action: action.into(), why }
                }
                None => error::query_error(&e, &self.target, action, &self.tables.schema),
            },
            Ok(None) => PgError::Timeout {
                target: self.target.clone(),
                action: action.into(),
                seconds: OP_TIMEOUT.as_secs(),
            },
            Err(stopped) => PgError::ConnectionLost {
                target: self.target.clone(),
                action: action.into(),
                why: stopped.to_string(),
            },
        };
        Err(StateError::Pg(Box::new(err)))
    }

    /// The schema's status; a newer one than this build knows is an error.
    fn status(&self) -> Result<SchemaStatus, StateError> {
        let status = self.call("reading the schema version", |c, t, _| async move { t.status(&c).await })?;
        if let SchemaStatus::Version(found) = status
            && found > sql::SCHEMA_VERSION
        {
            return Err(pg_err(PgError::NewerSchema {
                target: self.target.clone(),
                schema: self.tables.schema.clone(),
                found,
                supported: sql::SCHEMA_VERSION,
            }));
        }
        Ok(status)
    }

    /// Creates the schema when missing (writers only), then prepares the journal INSERT.
    fn ensure_schema(&mut self) -> Result<(), StateError> {
        if self.status()? == SchemaStatus::Missing {
            let key = lock::setup_key(&self.tables.schema);
            self.call(&format!("creating schema {}", self.tables.schema), move |c, t, _| async move {
                t.create(&c, key).await
            })?;
            self.status()?;
        }
        let append = self.call("preparing the journal insert", |c, t, _| async move {
            c.prepare(&format!(
                "INSERT INTO {} (workspace, lineage, base_serial, seq, record) \
                 SELECT $1, $2, $3, $4 + n - 1, r FROM unnest($5::text[]) WITH ORDINALITY AS u(r, n)",
                t.t("journal")
            ))
            .await
        })?;
        self.append = Some(append);
        Ok(())
    }

    fn require_lock(&self) -> Result<(), StateError> {
        if self.held.is_some() { Ok(()) } else { Err(StateError::ReadOnly { what: self.describe() }) }
    }
}

fn pg_err(e: PgError) -> StateError {
    StateError::Pg(Box::new(e))
}

async fn with_timeout<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    tokio::time::timeout(limit, f).await.ok()
}

/// Connects and spawns the connection's driver; when the connection ends, `lost` says why.
async fn connect_with<T>(
    config: tokio_postgres::Config,
    tls: T,
    lost: Arc<Mutex<Option<String>>>,
) -> Result<Client, tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Send,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        let why = match connection.await {
            Ok(()) => "the server closed the connection".to_owned(),
            Err(e) => error::describe(&e),
        };
        if let Ok(mut slot) = lost.lock() {
            *slot = Some(why);
        }
    });
    Ok(client)
}

fn to_i64(serial: u64) -> Result<i64, StateError> {
    i64::try_from(serial)
        .map_err(|_| StateError::Serialize { message: format!("serial {serial} is too large") })
}

impl Backend for PgBackend {
    fn describe(&self) -> String {
        format!(
            "the state in PostgreSQL {} (schema \"{}\", workspace \"{}\")",
            self.target, self.tables.schema, self.workspace
        )
    }

    fn describe_journal(&self) -> String {
        format!(
            "the state journal in PostgreSQL {} (table {}, workspace \"{}\")",
            self.target,
            self.tables.t("journal"),
            self.workspace
        )
    }

    fn restore_hint(&self) -> String {
        "save the previous version with `tokenform state pull --previous 1 > previous.json`, \
         check it, and restore it with `tokenform state push --force previous.json`"
            .to_owned()
    }

    fn lock(&mut self, holder: &LockInfo, timeout: Duration) -> Result<(), StateError> {
        // First, before anything is prepared or created: would a session lock hold here?
        lock::probe_pooling(self)?;
        self.ensure_schema()?;
        let mut holder = holder.clone();
        holder.path = format!("{} schema {} workspace {}", self.target, self.tables.schema, self.workspace);
        lock::acquire(self, &holder, timeout)?;
        self.held = Some(holder.id);
        Ok(())
    }

    fn read(&mut self) -> Result<Stored, StateError> {
        if self.status()? == SchemaStatus::Missing {
            return Ok(Stored { document: None, version: Version::Absent, journal: None });
        }
        let (state, journal) = self.call("reading the state", |c, t, ws| async move {
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
            let result = async {
                let state = c
                    .query_opt(
                        &format!("SELECT serial, document FROM {} WHERE workspace = $1", t.t("states")),
                        &[&ws],
                    )
                    .await?
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
                let journal: Vec<(String, i64, i64, String)> = c
                    .query(
                        &format!(
                            "SELECT lineage, base_serial, seq, record FROM {} WHERE workspace = $1 \
                             ORDER BY base_serial, seq",
                            t.t("journal")
                        ),
                        &[&ws],
                    )
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect();
                Ok((state, journal))
            }
            .await;
            sql::finish(&c, result).await
        })?;
        let version = state.as_ref().map_or(Version::Absent, |(serial, _)| Version::At(serial.to_string()));
        self.next_seq = journal.last().map_or(1, |(_, _, seq, _)| seq + 1);
        let journal = journal_contents(journal, &self.describe_journal())?;
        Ok(Stored { document: state.map(|(_, doc)| doc.into_bytes()), version, journal })
    }

    fn append_journal(&mut self, header: &JournalHeader, lines: &[String]) -> Result<(), StateError> {
        self.require_lock()?;
        let statement = self.append.clone().ok_or_else(|| StateError::ReadOnly { what: self.describe() })?;
        let (lineage, base, seq, lines) =
            (header.lineage.clone(), to_i64(header.base_serial)?, self.next_seq, lines.to_vec());
        let count = lines.len();
        let inserted = self.call("appending to the journal", move |c, _, ws| async move {
            c.execute(&statement, &[&ws, &lineage, &base, &seq, &lines]).await
        })?;
        if usize::try_from(inserted).ok() != Some(count) {
            return Err(pg_err(PgError::Query {
                target: self.target.clone(),
                action: "appending to the journal".into(),
                why: format!("{inserted} of {count} records were stored"),
            }));
        }
        self.next_seq += i64::try_from(count).unwrap_or(i64::MAX);
        Ok(())
    }

    fn write(&mut self, expected: &Version, document: Document<'_>) -> Result<Version, StateError> {
        self.require_lock()?;
        let text = String::from_utf8(document.bytes.to_vec())
            .map_err(|_| StateError::Serialize { message: "the state document is not UTF-8".into() })?;
        let (serial, lineage) = (to_i64(document.serial)?, document.lineage.to_owned());
        let expected: Option<i64> = match expected {
            Version::Absent => None,
            Version::At(s) => Some(s.parse().map_err(|_| StateError::Conflict {
                what: self.describe(),
                detail: format!("the version read ({s}) is not a serial"),
            })?),
        };
        // Some(current serial) when another writer won the race.
        let lost_race = self.call("saving the state", move |c, t, ws| async move {
            c.batch_execute("BEGIN").await?;
            let result = async {
                let changed = match expected {
                    Some(read) => {
                        c.execute(
                            &format!(
                                "INSERT INTO {} (workspace, lineage, serial, document) \
                                 SELECT workspace, lineage, serial, document FROM {} WHERE workspace = $1 AND serial = $2",
                                t.t("state_versions"),
                                t.t("states")
                            ),
                            &[&ws, &read],
                        )
                        .await?;
                        c.execute(
                            &format!(
                                "UPDATE {} SET lineage = $2, serial = $3, document = $4, updated_at = now() \
                                 WHERE workspace = $1 AND serial = $5",
                                t.t("states")
                            ),
                            &[&ws, &lineage, &serial, &text, &read],
                        )
                        .await?
                    }
                    None => {
                        c.execute(
                            &format!(
                                "INSERT INTO {} (workspace, lineage, serial, document) VALUES ($1, $2, $3, $4) \
                                 ON CONFLICT (workspace) DO NOTHING",
                                t.t("states")
                            ),
                            &[&ws, &lineage, &serial, &text],
                        )
                        .await?
                    }
                };
                if changed != 1 {
                    let now = c
                        .query_opt(&format!("SELECT serial FROM {} WHERE workspace = $1", t.t("states")), &[&ws])
                        .await?
                        .map(|r| r.get::<_, i64>(0));
                    return Ok(Some(now));
                }
                c.execute(
                    &format!(
                        "DELETE FROM {v} WHERE workspace = $1 AND id NOT IN \
                         (SELECT id FROM {v} WHERE workspace = $1 ORDER BY id DESC LIMIT {})",
                        crate::state::backend::PREVIOUS,
                        v = t.t("state_versions")
                    ),
                    &[&ws],
                )
                .await?;
                c.execute(&format!("DELETE FROM {} WHERE workspace = $1", t.t("journal")), &[&ws]).await?;
                Ok(None)
            }
            .await;
            match result {
                Ok(Some(now)) => {
                    c.batch_execute("ROLLBACK").await?;
                    Ok(Some(now))
                }
                other => sql::finish(&c, other).await,
            }
        })?;
        if let Some(now) = lost_race {
            let read = expected.map_or_else(|| "no state".to_owned(), |s| format!("serial {s}"));
            let found = now.map_or_else(|| "no state".to_owned(), |s| format!("serial {s}"));
            return Err(StateError::Conflict {
                what: self.describe(),
                detail: format!("read {read}, now {found}"),
            });
        }
        self.next_seq = 1;
        Ok(Version::At(serial.to_string()))
    }

    fn clear_journal(&mut self) -> Result<(), StateError> {
        self.require_lock()?;
        self.call("clearing the journal", |c, t, ws| async move {
            c.execute(&format!("DELETE FROM {} WHERE workspace = $1", t.t("journal")), &[&ws]).await
        })?;
        self.next_seq = 1;
        Ok(())
    }

    fn previous(&mut self, n: usize) -> Result<Option<Vec<u8>>, StateError> {
        if n == 0 || self.status()? == SchemaStatus::Missing {
            return Ok(None);
        }
        let offset = i64::try_from(n - 1).unwrap_or(i64::MAX);
        let doc = self.call("reading a previous version", move |c, t, ws| async move {
            Ok(c.query_opt(
                &format!(
                    "SELECT document FROM {} WHERE workspace = $1 ORDER BY id DESC OFFSET $2 LIMIT 1",
                    t.t("state_versions")
                ),
                &[&ws, &offset],
            )
            .await?
            .map(|r| r.get::<_, String>(0)))
        })?;
        Ok(doc.map(String::into_bytes))
    }

    fn force_unlock(&mut self, id: &str) -> Result<ForceUnlocked, StateError> {
        if self.status()? == SchemaStatus::Missing {
            return Ok(ForceUnlocked::NotLocked);
        }
        lock::force_unlock(self, id)
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        if let Some(id) = self.held.take() {
            // Best effort and bounded: closing the connection releases the session lock anyway.
            lock::release(self, &id);
        }
    }
}

/// The journal rows of one workspace as the journal they form. Rows of more than one
/// lineage or base serial cannot come from one run: that is damage, reported.
fn journal_contents(
    rows: Vec<(String, i64, i64, String)>,
    what: &str,
) -> Result<Option<JournalContents>, StateError> {
    let Some((lineage, base, _, _)) = rows.first().cloned() else { return Ok(None) };
    let mut lines = Vec::with_capacity(rows.len());
    for (i, (l, b, _, record)) in rows.into_iter().enumerate() {
        let damaged = |reason: String| StateError::Journal { what: what.to_owned(), line: i + 2, reason };
        if l != lineage || b != base {
            return Err(damaged(format!(
                "records of two runs are mixed (lineage {lineage} serial {base}, then lineage {l} serial {b})"
            )));
        }
        lines.push(serde_json::from_str::<JournalLine>(&record).map_err(|e| damaged(e.to_string()))?);
    }
    let base_serial = u64::try_from(base).map_err(|_| StateError::Journal {
        what: what.to_owned(),
        line: 1,
        reason: format!("base serial {base} is negative"),
    })?;
    Ok(Some(JournalContents {
        header: JournalHeader { journal: JOURNAL_VERSION, lineage, base_serial },
        lines,
    }))
}
