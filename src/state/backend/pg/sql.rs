//! tokenform's tables in PostgreSQL, and the statements on them. The schema is created on
//! first write and versioned (`meta.schema_version`; a newer one is refused). Documents
//! and journal records are `text` (never `jsonb`, which reorders keys and would change
//! what a pull returns).
//!
//! ```text
//! meta            (id = 1, schema_version)
//! states          (workspace PK, lineage, serial, document, updated_at)   the current state
//! state_versions  (id, workspace, lineage, serial, document, saved_at)    the last 5 replaced
//! journal         (workspace, base_serial, seq PK; lineage, record)       apply's records
//! locks           (workspace PK, id, who, operation, created, version, path, backend_pid)
//! ```
//!
//! Every statement takes the workspace as a parameter; the schema name is a validated
//! identifier, quoted.

use tokio_postgres::Client;

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// The qualified names of tokenform's tables in one schema.
#[derive(Debug, Clone)]
pub struct Tables {
    /// The schema name as configured (unquoted), for catalog lookups.
    pub schema: String,
    q: String,
}

/// Whether the schema is there, and at which version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaStatus {
    Missing,
    Version(i32),
}

impl Tables {
    pub fn new(schema: &str) -> Self {
        Self { schema: schema.to_owned(), q: format!("\"{}\"", schema.replace('"', "\"\"")) }
    }

    /// `"schema".table`
    pub fn t(&self, table: &str) -> String {
        format!("{}.{table}", self.q)
    }

    /// Whether the tables exist, and their version. Needs no privilege beyond connecting
    /// (and USAGE on the schema once it exists).
    pub async fn status(&self, c: &Client) -> Result<SchemaStatus, tokio_postgres::Error> {
        let meta: Option<String> =
            c.query_one("SELECT to_regclass($1)::text", &[&self.t("meta")]).await?.get(0);
        if meta.is_none() {
            return Ok(SchemaStatus::Missing);
        }
        let row =
            c.query_opt(&format!("SELECT schema_version FROM {} WHERE id = 1", self.t("meta")), &[]).await?;
        Ok(row.map_or(SchemaStatus::Missing, |r| SchemaStatus::Version(r.get(0))))
    }

    /// Creates the schema (when missing) and the tables, in one transaction serialized by
    /// a transaction advisory lock, so two first writers do not race. Returns the status
    /// after (another writer may have created a newer one meanwhile).
    pub async fn create(&self, c: &Client, setup_key: i64) -> Result<SchemaStatus, tokio_postgres::Error> {
        c.batch_execute("BEGIN").await?;
        let result = async {
            c.execute("SELECT pg_advisory_xact_lock($1)", &[&setup_key]).await?;
            if let SchemaStatus::Version(v) = self.status(c).await? {
                return Ok(SchemaStatus::Version(v));
            }
            let exists =
                c.query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&self.schema]).await?;
            if exists.is_none() {
                c.batch_execute(&format!("CREATE SCHEMA {}", self.q)).await?;
            }
            c.batch_execute(&self.ddl()).await?;
            c.execute(
                &format!("INSERT INTO {} (id, schema_version) VALUES (1, $1)", self.t("meta")),
                &[&SCHEMA_VERSION],
            )
            .await?;
            Ok(SchemaStatus::Version(SCHEMA_VERSION))
        }
        .await;
        finish(c, result).await
    }

    fn ddl(&self) -> String {
        format!(
            "CREATE TABLE {meta} (
                id smallint PRIMARY KEY CHECK (id = 1),
                schema_version integer NOT NULL
            );
            CREATE TABLE {states} (
                workspace text PRIMARY KEY,
                lineage text NOT NULL,
                serial bigint NOT NULL,
                document text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE {versions} (
                id bigserial PRIMARY KEY,
                workspace text NOT NULL,
                lineage text NOT NULL,
                serial bigint NOT NULL,
                document text NOT NULL,
                saved_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX ON {versions} (workspace, id);
            CREATE TABLE {journal} (
                workspace text NOT NULL,
                base_serial bigint NOT NULL,
                seq bigint NOT NULL,
                lineage text NOT NULL,
                record text NOT NULL,
                PRIMARY KEY (workspace, base_serial, seq)
            );
            CREATE TABLE {locks} (
                workspace text PRIMARY KEY,
                id text NOT NULL,
                who text NOT NULL,
                operation text NOT NULL,
                created text NOT NULL,
                version text NOT NULL,
                path text NOT NULL,
                backend_pid integer NOT NULL
            );",
            meta = self.t("meta"),
            states = self.t("states"),
            versions = self.t("state_versions"),
            journal = self.t("journal"),
            locks = self.t("locks"),
        )
    }
}

/// Commits when `result` is Ok, rolls back otherwise (keeping the first error).
pub async fn finish<T>(
    c: &Client,
    result: Result<T, tokio_postgres::Error>,
) -> Result<T, tokio_postgres::Error> {
    match result {
        Ok(v) => {
            c.batch_execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}
