//! Machine ids: how a group's key type maps to store keys and to text in errors.

use std::fmt;
use std::hash::Hash;

/// The id type a [`Group`](crate::Group) keys its machines by.
///
/// An id has a byte form (its store key, which must round-trip through [`MachineId::from_key`])
/// and a text form used in errors and traces. Implemented for `u64` (8 big-endian bytes, so keys
/// sort numerically), `String` (its UTF-8 bytes) and `Vec<u8>` (the bytes themselves, shown as
/// hex).
pub trait MachineId: Clone + Eq + Hash + fmt::Debug + Send + Sync + 'static {
    /// Appends this id's store key to `out`.
    fn write_key(&self, out: &mut Vec<u8>);

    /// Parses a store key written by [`MachineId::write_key`].
    fn from_key(key: &[u8]) -> Result<Self, IdError>;

    /// Writes this id as text, for errors and traces.
    fn fmt_id(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// A `Display` adapter over [`MachineId::fmt_id`].
    fn display(&self) -> DisplayId<'_, Self> {
        DisplayId(self)
    }
}

/// Shows a [`MachineId`] as text; returned by [`MachineId::display`].
pub struct DisplayId<'a, I: ?Sized>(&'a I);

impl<I: MachineId> fmt::Display for DisplayId<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_id(f)
    }
}

impl<I: MachineId> fmt::Debug for DisplayId<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_id(f)
    }
}

/// A store key that is not a valid id of the group's id type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store key {key:02x?} is not a valid machine id: {reason}")]
pub struct IdError {
    /// The offending key (without the group's key prefix).
    pub key: Vec<u8>,
    /// Why it does not parse.
    pub reason: &'static str,
}

impl MachineId for u64 {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }

    fn from_key(key: &[u8]) -> Result<Self, IdError> {
        let bytes: [u8; 8] = key.try_into().map_err(|_| IdError {
            key: key.to_vec(),
            reason: "a u64 id is exactly 8 bytes",
        })?;
        Ok(u64::from_be_bytes(bytes))
    }

    fn fmt_id(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl MachineId for String {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn from_key(key: &[u8]) -> Result<Self, IdError> {
        std::str::from_utf8(key)
            .map(str::to_owned)
            .map_err(|_| IdError {
                key: key.to_vec(),
                reason: "a String id is valid UTF-8",
            })
    }

    fn fmt_id(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl MachineId for Vec<u8> {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn from_key(key: &[u8]) -> Result<Self, IdError> {
        Ok(key.to_vec())
    }

    fn fmt_id(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        self.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<I: MachineId>(id: I) -> I {
        let mut key = Vec::new();
        id.write_key(&mut key);
        I::from_key(&key).unwrap()
    }

    #[test]
    fn ids_round_trip_through_keys() {
        assert_eq!(round_trip(42u64), 42);
        assert_eq!(round_trip(String::from("deal-7")), "deal-7");
        assert_eq!(round_trip(vec![0u8, 255, 7]), vec![0u8, 255, 7]);
    }

    #[test]
    fn u64_keys_sort_numerically() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        9u64.write_key(&mut a);
        256u64.write_key(&mut b);
        assert!(a < b);
    }

    #[test]
    fn bad_keys_are_reported() {
        assert!(u64::from_key(&[1, 2, 3]).is_err());
        assert!(String::from_key(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn ids_display_as_text() {
        assert_eq!(7u64.display().to_string(), "7");
        assert_eq!(vec![0xabu8, 1].display().to_string(), "0xab01");
    }
}
