//! Statements kept prepared on their connection: SQLite parses each statement of the store
//! once per connection instead of at every call (the parsing was a few percent of `serve`'s
//! CPU). Statements whose text is built per call (`IN` lists of varying length) are prepared
//! each time, as before.
//!
//! A statement kept prepared is only parsed once if its plan does not depend on the values
//! bound to it. By default SQLite marks a statement to be parsed and planned again whenever a
//! parameter that could change its plan is bound anew, and for the store's statements that is
//! most of them: an equality on an index followed by `ORDER BY` on the index's next column
//! (the outbox), or a parameter inside `COALESCE` (a pipeline's declaration). Under `serve`
//! that re-parsing was about 600 times a second, 3 to 4% of the server's CPU. The store's
//! tables have one obvious plan per statement and no statistics (no `ANALYZE`) that a bound
//! value could be weighed against, so the planner's stability guarantee (`ENABLE_QPSG`) costs
//! nothing and keeps every plan from the first parse.

use rusqlite::config::DbConfig;
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

/// Sets how many statements `connection` keeps prepared, and keeps each one's plan across the
/// values bound to it (see the module's comment).
pub(crate) fn keep_prepared(connection: &Connection) -> rusqlite::Result<()> {
    connection.set_prepared_statement_cache_capacity(CAPACITY);
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    const OUTBOX: &str = "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, claimed_by TEXT);
                          CREATE INDEX outbox_by_execution ON outbox (execution_id, seq);";
    const WAITING: &str = "SELECT seq FROM outbox WHERE execution_id = ? AND claimed_by IS NULL ORDER BY seq";

    /// How often the kept statement of `sql` was parsed again over `runs` runs, each binding
    /// another value.
    fn reparsed(connection: &Connection, runs: usize) -> i32 {
        connection.execute_batch(OUTBOX).unwrap();
        for run in 0..runs {
            let found: Vec<i64> = connection
                .statement(WAITING)
                .unwrap()
                .query_map([format!("execution-{run}")], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(found.is_empty());
        }
        connection.statement(WAITING).unwrap().get_status(StatementStatus::RePrepare)
    }

    #[test]
    fn a_kept_statement_is_not_parsed_again_when_other_values_are_bound() {
        let connection = Connection::open_in_memory().unwrap();
        keep_prepared(&connection).unwrap();
        assert_eq!(reparsed(&connection, 5), 0);
    }

    #[test]
    fn without_it_sqlite_parses_that_statement_again_at_every_new_value() {
        // What the setting is for: if SQLite stopped doing this, the setting could go.
        let connection = Connection::open_in_memory().unwrap();
        connection.set_prepared_statement_cache_capacity(CAPACITY);
        assert_eq!(reparsed(&connection, 5), 4);
    }
}
