//! The PostgreSQL backend's errors: each names the backend (host, port, database, schema,
//! workspace: never the password or the URL) and says what to do. Server messages are
//! kept (they name users and objects, never a password). Stable codes
//! `tokenform::state::pg::*`.

use tokio_postgres::error::SqlState;

/// Errors of the PostgreSQL backend.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PgError {
    /// The connection string's environment variable is not set.
    #[error("the PostgreSQL state backend needs a connection string, and {env} is not set")]
    #[diagnostic(
        code(tokenform::state::pg::no_conn_str),
        help(
            "export {env}='postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full&sslrootcert=ca.pem' \
             (the name comes from `conn_str_env` in the state's backend block)"
        )
    )]
    NoConnStr { env: String },

    /// The connection string does not parse (the value is never shown).
    #[error("the connection string in {env} is not usable: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::bad_conn_str),
        help(
            "write a libpq URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=FILE \
             (sslmode: disable (loopback only), require, verify-ca, verify-full; percent-encode special characters)"
        )
    )]
    BadConnStr { env: String, why: String },

    /// TLS could not be set up (CA file, certificate verification settings).
    #[error("TLS for {target} cannot be set up: {why}")]
    #[diagnostic(code(tokenform::state::pg::tls), help("{help}"))]
    Tls { target: String, why: String, help: String },

    /// The server could not be reached, or the TLS handshake failed.
    #[error("cannot connect to {target}: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::connect),
        help(
            "check that the server runs and accepts TCP connections from here, that the host and port \
             in the connection string are right, and that the TLS settings (sslmode) match the server's; \
             nothing was written"
        )
    )]
    Connect { target: String, why: String },

    /// The server refused the user or password.
    #[error("{target} refused the credentials: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::auth),
        help("check the user and password in the connection string (and pg_hba.conf); nothing was written")
    )]
    Auth { target: String, why: String },

    /// The database in the URL does not exist.
    #[error("{target}: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::no_database),
        help(
            "create the database (CREATE DATABASE …) or fix its name in the connection string; tokenform creates only its schema"
        )
    )]
    NoDatabase { target: String, why: String },

    /// The user may not create or use tokenform's schema or tables.
    #[error("{target}: permission denied while {action}: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::permission),
        help(
            "tokenform needs USAGE and CREATE on schema {schema} (or CREATE on the database to make it \
             on first use), and SELECT/INSERT/UPDATE/DELETE on its tables. As an admin: \
             CREATE SCHEMA {schema} AUTHORIZATION <user>; nothing was written"
        )
    )]
    Permission { target: String, action: String, schema: String, why: String },

    /// The schema was made by a newer tokenform.
    #[error("{target}: schema {schema} is at version {found}; this tokenform knows up to {supported}")]
    #[diagnostic(code(tokenform::state::pg::newer_schema), help("upgrade tokenform; nothing was written"))]
    NewerSchema { target: String, schema: String, found: i32, supported: i32 },

    /// Session advisory locks do not hold on this connection (a transaction-pooling proxy).
    #[error("{target} does not keep session locks: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::pooled),
        help(
            "a transaction-pooling proxy (PgBouncer pool_mode=transaction, RDS Proxy, …) hands each \
             statement to another server session, so no lock would hold. Connect to PostgreSQL \
             directly, or through a pool in session mode; nothing was written"
        )
    )]
    Pooled { target: String, why: String },

    /// The connection (and with it the session lock) was lost during the command.
    #[error("the connection to {target} was lost while {action}: {why}")]
    #[diagnostic(
        code(tokenform::state::pg::connection_lost),
        help(
            "the lock went with the connection, so nothing more was written. Every step recorded \
             before the loss is in the journal table; the next run (from any machine) replays it \
             and adopts a token whose create was interrupted"
        )
    )]
    ConnectionLost { target: String, action: String, why: String },

    /// The server did not answer in time.
    #[error("{target} did not answer within {seconds} s while {action}")]
    #[diagnostic(
        code(tokenform::state::pg::timeout),
        help("check the server and the network; nothing more was written")
    )]
    Timeout { target: String, action: String, seconds: u64 },

    /// Any other server error.
    #[error("{target}: {action} failed: {why}")]
    #[diagnostic(code(tokenform::state::pg::query), help("nothing was written by this step"))]
    Query { target: String, action: String, why: String },
}

/// Sorts an error from a statement on an open connection into the variant that says
/// what to do. `target` names the backend, `action` what was being done, `schema` the
/// configured schema. An error without a server code there is the connection failing.
pub(super) fn query_error(err: &tokio_postgres::Error, target: &str, action: &str, schema: &str) -> PgError {
    classify(err, target, action, schema, true)
}

/// Sorts an error from connecting (an error without a server code is the network or TLS).
pub(super) fn connect_error(err: &tokio_postgres::Error, target: &str, schema: &str) -> PgError {
    classify(err, target, "connecting", schema, false)
}

fn classify(
    err: &tokio_postgres::Error,
    target: &str,
    action: &str,
    schema: &str,
    connected: bool,
) -> PgError {
    let target = target.to_owned();
    let action = action.to_owned();
    let why = describe(err);
    match err.code() {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            PgError::Auth { target, why }
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => PgError::NoDatabase { target, why },
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            PgError::Permission { target, action, schema: schema.to_owned(), why }
        }
        // A statement prepared in one server session and run in another (or a session that
        // already has another client's statements): only a transaction-pooling proxy does
        // that, and it breaks session locks the same way.
        Some(c) if *c == SqlState::INVALID_SQL_STATEMENT_NAME || *c == SqlState::DUPLICATE_PSTATEMENT => {
            PgError::Pooled {
                target,
                why: format!("{why} (while {action}): statements are spread over several server sessions"),
            }
        }
        Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN => {
            PgError::ConnectionLost { target, action, why }
        }
        Some(_) => PgError::Query { target, action, why },
        None if connected || err.is_closed() => PgError::ConnectionLost { target, action, why },
        None => PgError::Connect { target, why },
    }
}

/// The error and its causes in one line (tokio-postgres puts the server's text in the
/// source chain). Holds no password: neither the client nor the server quotes one.
pub(super) fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_owned();
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
