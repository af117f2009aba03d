//! The engine metadata ([`Meta`]) as columns of `fsm_records`: bound as statement parameters
//! and read back from rows.

use std::borrow::Cow;
use std::sync::Arc;

use fsm_runtime::store::{Failure, FailureKind, Meta, MetaError};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::sql::META_COLUMNS;

/// The values of the metadata columns of one [`Meta`], in the order of the columns
/// (`status, is_final, last_active_ms, failure_kind, failure_status, failure_error,
/// failure_at_ms, failure_halted, record_version`).
#[derive(Debug, Clone)]
pub(crate) struct MetaColumns<'a> {
    status: &'a str,
    is_final: bool,
    last_active_ms: i64,
    failure_kind: Option<&'static str>,
    failure_status: Option<&'a str>,
    failure_error: Option<&'a str>,
    failure_at_ms: Option<i64>,
    failure_halted: Option<bool>,
    record_version: i32,
}

/// A [`Meta`] value that does not fit its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    /// Which value.
    pub(crate) what: &'static str,
    /// The value.
    pub(crate) value: u64,
}

impl<'a> MetaColumns<'a> {
    /// The columns of `meta`. Times past the year 292 million are kept as the largest time;
    /// a record version above `i32::MAX` does not fit the `integer` column.
    pub(crate) fn new(meta: &'a Meta) -> Result<Self, OutOfRange> {
        let record_version = i32::try_from(meta.record_version).map_err(|_| OutOfRange {
            what: "record version",
            value: u64::from(meta.record_version),
        })?;
        let failure = meta.failure.as_ref();
        Ok(Self {
            status: &meta.status,
            is_final: meta.is_final,
            last_active_ms: millis(meta.last_active_ms),
            failure_kind: failure.map(|failure| failure.kind.as_str()),
            failure_status: failure.map(|failure| failure.status.as_ref()),
            failure_error: failure.map(|failure| failure.error.as_ref()),
            failure_at_ms: failure.map(|failure| millis(failure.at_ms)),
            failure_halted: failure.map(|failure| failure.halted),
            record_version,
        })
    }

    /// The values as statement parameters, in column order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); META_COLUMNS] {
        [
            &self.status,
            &self.is_final,
            &self.last_active_ms,
            &self.failure_kind,
            &self.failure_status,
            &self.failure_error,
            &self.failure_at_ms,
            &self.failure_halted,
            &self.record_version,
        ]
    }
}

/// The metadata of many writes as one array per column (the parameters of a set-based
/// statement), in column order.
#[derive(Debug, Default)]
pub(crate) struct MetaArrays<'a> {
    status: Vec<&'a str>,
    is_final: Vec<bool>,
    last_active_ms: Vec<i64>,
    failure_kind: Vec<Option<&'static str>>,
    failure_status: Vec<Option<&'a str>>,
    failure_error: Vec<Option<&'a str>>,
    failure_at_ms: Vec<Option<i64>>,
    failure_halted: Vec<Option<bool>>,
    record_version: Vec<i32>,
}

impl<'a> MetaArrays<'a> {
    /// Room for `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            status: Vec::with_capacity(rows),
            is_final: Vec::with_capacity(rows),
            last_active_ms: Vec::with_capacity(rows),
            failure_kind: Vec::with_capacity(rows),
            failure_status: Vec::with_capacity(rows),
            failure_error: Vec::with_capacity(rows),
            failure_at_ms: Vec::with_capacity(rows),
            failure_halted: Vec::with_capacity(rows),
            record_version: Vec::with_capacity(rows),
        }
    }

    /// Appends one row.
    pub(crate) fn push(&mut self, meta: &MetaColumns<'a>) {
        self.status.push(meta.status);
        self.is_final.push(meta.is_final);
        self.last_active_ms.push(meta.last_active_ms);
        self.failure_kind.push(meta.failure_kind);
        self.failure_status.push(meta.failure_status);
        self.failure_error.push(meta.failure_error);
        self.failure_at_ms.push(meta.failure_at_ms);
        self.failure_halted.push(meta.failure_halted);
        self.record_version.push(meta.record_version);
    }

    /// The arrays as statement parameters, in column order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); META_COLUMNS] {
        [
            &self.status,
            &self.is_final,
            &self.last_active_ms,
            &self.failure_kind,
            &self.failure_status,
            &self.failure_error,
            &self.failure_at_ms,
            &self.failure_halted,
            &self.record_version,
        ]
    }
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The metadata in the [`META_COLUMNS`] columns of `row` starting at column `first`: missing
/// when the status is null (a record written before the metadata columns existed), damaged
/// when the other columns do not make a [`Meta`].
pub(crate) fn from_row(row: &Row, first: usize) -> Result<Meta, MetaError> {
    let damaged = |what: String| MetaError::Damaged(what);
    let column = |offset: usize| first + offset;
    let text = |offset: usize| -> Result<Option<String>, MetaError> {
        row.try_get(column(offset))
            .map_err(|error| damaged(format!("column {}: {error}", column(offset))))
    };
    let int8 = |offset: usize| -> Result<Option<i64>, MetaError> {
        row.try_get(column(offset))
            .map_err(|error| damaged(format!("column {}: {error}", column(offset))))
    };
    let boolean = |offset: usize| -> Result<Option<bool>, MetaError> {
        row.try_get(column(offset))
            .map_err(|error| damaged(format!("column {}: {error}", column(offset))))
    };
    let Some(status) = text(0)? else {
        return Err(MetaError::Missing);
    };
    let is_final = boolean(1)?.ok_or_else(|| damaged("is_final is null".to_owned()))?;
    let last_active_ms = time(int8(2)?, "last_active_ms")?;
    let record_version: Option<i32> = row
        .try_get(column(8))
        .map_err(|error| damaged(format!("column {}: {error}", column(8))))?;
    let record_version = record_version
        .ok_or_else(|| damaged("record_version is null".to_owned()))
        .and_then(|version| {
            u32::try_from(version)
                .map_err(|_| damaged(format!("record_version {version} is negative")))
        })?;
    let failure = match text(3)? {
        None => None,
        Some(kind_name) => {
            let kind = FailureKind::from_name(&kind_name)
                .ok_or_else(|| damaged(format!("unknown failure kind {kind_name:?}")))?;
            let status = text(4)?.ok_or_else(|| damaged("failure_status is null".to_owned()))?;
            let error = text(5)?.ok_or_else(|| damaged("failure_error is null".to_owned()))?;
            let at_ms = time(int8(6)?, "failure_at_ms")?;
            let halted = boolean(7)?.ok_or_else(|| damaged("failure_halted is null".to_owned()))?;
            Some(Box::new(Failure {
                kind,
                status: Cow::Owned(status),
                error: Arc::from(error),
                at_ms,
                halted,
            }))
        }
    };
    Ok(Meta {
        status: Cow::Owned(status),
        is_final,
        last_active_ms,
        failure,
        record_version,
    })
}

/// A time column: present and not negative.
fn time(value: Option<i64>, name: &str) -> Result<u64, MetaError> {
    let value = value.ok_or_else(|| MetaError::Damaged(format!("{name} is null")))?;
    u64::try_from(value).map_err(|_| MetaError::Damaged(format!("{name} {value} is negative")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_versions_beyond_the_column_are_refused() {
        let mut meta = Meta::new("S", false);
        meta.record_version = u32::MAX;
        let error = MetaColumns::new(&meta).unwrap_err();
        assert_eq!(error.what, "record version");
        meta.record_version = 7;
        let columns = MetaColumns::new(&meta).unwrap();
        assert_eq!(columns.record_version, 7);
        assert_eq!(columns.params().len(), META_COLUMNS);
    }

    #[test]
    fn huge_times_are_clamped() {
        assert_eq!(millis(u64::MAX), i64::MAX);
        assert_eq!(millis(5), 5);
        assert!(time(Some(-1), "t").is_err());
        assert!(time(None, "t").is_err());
        assert_eq!(time(Some(3), "t"), Ok(3));
    }
}
