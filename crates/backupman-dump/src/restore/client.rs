//! Restoring into a database server through its command-line client (`psql`, `mariadb`):
//! what each engine states about its client, and what is the same for all of them: the
//! refusal to restore over data, streaming the dump into the client's stdin through the
//! client's filter, killing it before its input ends when the backup proves damaged or holds
//! a command, and the wording of its failures.

use std::fmt;
use std::io::Read;
use std::process::Command;

use super::filter::Filter;
use super::pump::{PumpError, check_read, pump};
use super::{DatabaseSummary, RestoreError, RestoreOptions, RestoreOutcome};
use crate::process::{run_capture, spawn_fed};

/// A server's command-line client, connected to the target database. Its `Display` names the
/// target (without the password).
pub(crate) trait SqlClient: fmt::Display {
    /// True when a failed restore applies nothing: the client commits only at the end of its
    /// input.
    fn transactional(&self) -> bool;

    /// SQL that counts what a restore would replace in the target: the tables, views and
    /// sequences of its database, and what they are called in a message.
    fn count_objects_query(&self) -> (&'static str, &'static str);

    /// The client reading the dump on its stdin.
    fn restore_command(&self) -> Command;

    /// The filter the dump passes on its way to the client, so that only data reaches it.
    /// Fails when the client cannot be run safely (a `mariadb` client without `--sandbox`).
    fn filter(&self) -> Result<Box<dyn Filter>, RestoreError>;

    /// The client running `sql` in the target database, printing rows of fields.
    fn query_command(&self, sql: &str) -> Command;

    /// The client running `sql` outside the target database (CREATE/DROP DATABASE).
    fn admin_command(&self, sql: &str) -> Command;

    /// The tables of the target database and their exact row counts.
    fn summarize(&self) -> Result<DatabaseSummary, RestoreError>;

    /// The target database's name when the server says it does not exist; `None` when it
    /// does, or cannot be told.
    fn absent_database(&self) -> Option<String> {
        None
    }

    /// The client's `message` as an error of this target. Nothing is applied by the queries
    /// and statements that fail this way.
    fn failed(&self, message: String) -> RestoreError {
        RestoreError::Client {
            target: self.to_string(),
            message,
            transactional: true,
        }
    }

    /// Runs one query in the target database and returns its output.
    fn query(&self, sql: &str) -> Result<String, RestoreError> {
        run_capture(&mut self.query_command(sql), None).map_err(|e| self.failed(e.to_string()))
    }

    /// Runs one statement outside the target database.
    fn admin(&self, sql: &str) -> Result<(), RestoreError> {
        run_capture(&mut self.admin_command(sql), None)
            .map(|_| ())
            .map_err(|e| self.failed(e.to_string()))
    }

    /// How many tables, views and sequences the target database holds.
    fn count_objects(&self) -> Result<u64, RestoreError> {
        let out = self.query(self.count_objects_query().0)?;
        out.trim().parse().map_err(|_| {
            self.failed(format!(
                "unexpected answer to a table count: {:?}",
                out.trim()
            ))
        })
    }
}

/// Refuses a target database that holds tables, views or sequences, unless `force`.
pub(crate) fn ensure_empty<C: SqlClient>(client: &C, force: bool) -> Result<(), RestoreError> {
    if force {
        return Ok(());
    }
    let objects = client
        .count_objects()
        .map_err(|err| match client.absent_database() {
            Some(database) => RestoreError::NoDatabase {
                target: client.to_string(),
                database,
            },
            None => err,
        })?;
    if objects > 0 {
        return Err(RestoreError::NotEmpty {
            target: client.to_string(),
            detail: format!("{objects} {}", client.count_objects_query().1),
        });
    }
    Ok(())
}

/// Streams a gzipped backup from `reader` into the client. Its stdin is closed only once the
/// hash matched, so a transactional client never reaches the end of its input, and never
/// commits, when the backup is damaged.
pub(crate) fn restore_through<C: SqlClient, R: Read>(
    reader: R,
    client: &C,
    options: &RestoreOptions,
) -> Result<RestoreOutcome, RestoreError> {
    ensure_empty(client, options.force)?;
    let transactional = client.transactional();
    let client_failed = |message: String| RestoreError::Client {
        target: client.to_string(),
        message,
        transactional,
    };
    let mut filter = client.filter()?;
    let (running, mut stdin) =
        spawn_fed(client.restore_command()).map_err(|e| RestoreError::Tool(e.to_string()))?;
    // Every early return below kills the client while its stdin is still open: on end of
    // input psql would commit, and run a command line it holds only part of.
    let pumped = match pump(reader, options, Some(filter.as_mut()), &mut stdin) {
        Ok(pumped) => pumped,
        Err(PumpError::Write(_)) => {
            drop(stdin);
            let message = match running.wait_blocking() {
                Err(err) => err.to_string(),
                Ok(_) => "the client stopped reading its input".to_owned(),
            };
            return Err(client_failed(message));
        }
        // Nothing reached the client: it dies without having read a statement.
        Err(PumpError::Decrypt(cause)) => {
            running.kill();
            return Err(RestoreError::Decrypt(cause));
        }
        Err(PumpError::Read(cause)) => {
            running.kill();
            return Err(RestoreError::Corrupt {
                cause,
                partially_applied: !transactional,
            });
        }
        Err(PumpError::Refused(refusal)) => {
            running.kill();
            return Err(RestoreError::Refused {
                refusal,
                partially_applied: !transactional,
            });
        }
        Err(PumpError::TooLarge { limit }) => {
            running.kill();
            return Err(RestoreError::TooLarge {
                limit,
                partially_applied: !transactional,
            });
        }
    };
    if let Err(mismatch) = check_read(options, &pumped) {
        // Killed before its input ends: psql never sends COMMIT.
        running.kill();
        return Err(RestoreError::Damaged {
            mismatch,
            partially_applied: !transactional,
        });
    }
    drop(stdin);
    running
        .wait_blocking()
        .map_err(|e| client_failed(e.to_string()))?;
    Ok(pumped)
}
