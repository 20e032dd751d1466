//! Statements kept prepared on their connection: SQLite parses each statement of the store
//! once per connection instead of at every call (the parsing was a few percent of `serve`'s
//! CPU). Statements whose text is built per call (`IN` lists of varying length) are prepared
//! each time, as before.

use rusqlite::{CachedStatement, Connection, Params, Row};

/// How many statements each connection keeps prepared: more than the store has, so none is
/// evicted and parsed again.
const CAPACITY: usize = 64;

pub(crate) trait Prepared {
    /// The statement of `sql`, prepared once on this connection and kept.
    fn statement(&self, sql: &str) -> rusqlite::Result<CachedStatement<'_>>;

    /// Runs `sql` (kept prepared): how many rows it changed.
    fn run(&self, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
        self.statement(sql)?.execute(params)
    }

    /// The first row `sql` (kept prepared) finds, as `row` reads it.
    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.statement(sql)?.query_row(params, row)
    }
}

impl Prepared for Connection {
    fn statement(&self, sql: &str) -> rusqlite::Result<CachedStatement<'_>> {
        self.prepare_cached(sql)
    }
}

/// Sets how many statements `connection` keeps prepared.
pub(crate) fn keep_prepared(connection: &Connection) {
    connection.set_prepared_statement_cache_capacity(CAPACITY);
}
