//! The statements, in one place. `$1` is always the group name.

/// The lease rule of [`TAKE_LEASE`] and [`CLAIM`]: an owner keeps its running lease (same
/// epoch) and anyone takes a free or expired one (epoch + 1); another owner's running lease
/// leaves the row untouched.
macro_rules! lease_conflict {
    () => {
        "
    ON CONFLICT (group_name, machine_id) DO UPDATE
        SET owner = EXCLUDED.owner,
            epoch = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > now()
                         THEN l.epoch ELSE l.epoch + 1 END,
            expires_at = EXCLUDED.expires_at
        WHERE l.owner = EXCLUDED.owner OR l.expires_at <= now()"
    };
}

/// Takes or keeps the lease of machine `$2` for owner `$3` for `$4` seconds and returns its
/// epoch: kept (same epoch) while this owner's lease runs, taken (epoch + 1) when it is free or
/// expired. No row: another owner's lease runs.
pub(crate) const TAKE_LEASE: &str = concat!(
    "
    INSERT INTO fsm_leases AS l (group_name, machine_id, owner, epoch, expires_at)
    VALUES ($1, $2, $3, 1, now() + make_interval(secs => $4))
    ",
    lease_conflict!(),
    "
    RETURNING epoch"
);

/// The owner of machine `$2`'s lease and the seconds it still runs.
pub(crate) const LEASE_OWNER: &str = "
    SELECT owner, GREATEST(EXTRACT(EPOCH FROM expires_at - now()), 0)::float8
    FROM fsm_leases WHERE group_name = $1 AND machine_id = $2";

/// Extends every running lease of owner `$2` to `$3` seconds from now.
pub(crate) const RENEW_LEASES: &str = "
    UPDATE fsm_leases SET expires_at = now() + make_interval(secs => $3)
    WHERE group_name = $1 AND owner = $2 AND expires_at > now()";

/// Ends every lease of owner `$2` at once (the epoch stays, so fencing keeps working).
pub(crate) const RELEASE_LEASES: &str = "
    UPDATE fsm_leases SET expires_at = '-infinity'
    WHERE group_name = $1 AND owner = $2";

/// Record `$2`: value and version.
pub(crate) const GET: &str = "
    SELECT value, version FROM fsm_records WHERE group_name = $1 AND machine_id = $2";

/// Records whose key starts with `$2` (of length `$3`).
pub(crate) const SCAN: &str = "
    SELECT machine_id, value, version FROM fsm_records
    WHERE group_name = $1 AND substring(machine_id FROM 1 FOR $3) = $2
    ORDER BY machine_id";

/// Takes the lease (as [`TAKE_LEASE`], owner `$4`, `$5` seconds) of every record whose key
/// starts with `$2` (of length `$3`) that is free, expired or already this owner's, and returns
/// those records.
pub(crate) const CLAIM: &str = concat!(
    "
    WITH claimed AS (
        INSERT INTO fsm_leases AS l (group_name, machine_id, owner, epoch, expires_at)
        SELECT group_name, machine_id, $4, 1, now() + make_interval(secs => $5)
        FROM fsm_records
        WHERE group_name = $1 AND substring(machine_id FROM 1 FOR $3) = $2
        ",
    lease_conflict!(),
    "
        RETURNING machine_id
    )
    SELECT r.machine_id, r.value, r.version
    FROM fsm_records r JOIN claimed c ON c.machine_id = r.machine_id
    WHERE r.group_name = $1
    ORDER BY r.machine_id"
);

/// Creates record `$2` = `$3` written under epoch `$4`, unless it exists.
pub(crate) const INSERT: &str = "
    INSERT INTO fsm_records (group_name, machine_id, value, version, epoch)
    VALUES ($1, $2, $3, 1, $4)
    ON CONFLICT (group_name, machine_id) DO NOTHING";

/// Replaces record `$2` with `$3` under epoch `$4` if it is still at version `$5` and was not
/// written under a newer epoch (the fencing check).
pub(crate) const UPDATE: &str = "
    UPDATE fsm_records SET value = $3, version = version + 1, epoch = $4
    WHERE group_name = $1 AND machine_id = $2 AND version = $5 AND epoch <= $4";

/// Writes record `$2` = `$3` under epoch `$4` whatever its version (a store user that never
/// read it), still refusing a record written under a newer epoch. Returns the new version.
pub(crate) const UPSERT: &str = "
    INSERT INTO fsm_records AS r (group_name, machine_id, value, version, epoch)
    VALUES ($1, $2, $3, 1, $4)
    ON CONFLICT (group_name, machine_id) DO UPDATE
        SET value = EXCLUDED.value, version = r.version + 1, epoch = EXCLUDED.epoch
        WHERE r.epoch <= EXCLUDED.epoch
    RETURNING version";

/// Deletes record `$2` if written under epoch `$3` or older and, when `$4` is not null, still
/// at version `$4`.
pub(crate) const DELETE: &str = "
    DELETE FROM fsm_records
    WHERE group_name = $1 AND machine_id = $2 AND epoch <= $3
      AND ($4::bigint IS NULL OR version = $4)";
