//! The byte form of [`Meta`] and [`Header`] for stores that keep bytes (redb).
//!
//! A small, versioned, length-prefixed layout (little-endian integers), chosen over DAG-CBOR
//! because it is written on every commit: encoding is a few copies, and decoding any byte
//! string returns a value or an error, never a panic.
//!
//! ```text
//! entry  = meta_length:u32 meta record     (a machine's value in the redb store)
//! meta   = 0x01 flags:u8 last_active_ms:u64 record_version:u32 status:str16 [failure]
//! flags  = bit 0: is_final, bit 1: a failure follows
//! failure = kind:str8 status:str16 error:str32 at_ms:u64 halted:u8
//! header = 0x01 format:u32 group:str16 codec:str16
//! strN   = length:uN, then that many bytes of UTF-8
//! ```

use std::borrow::Cow;

use super::{Failure, FailureKind, Header, Meta, MetaError};

const META_LAYOUT: u8 = 1;
const HEADER_LAYOUT: u8 = 1;
const FINAL: u8 = 1;
const HAS_FAILURE: u8 = 2;

/// Writes the value of a machine into `out` (cleared first): its metadata, then its record
/// bytes unchanged.
pub(crate) fn encode_entry(meta: &Meta, record: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; 4]);
    encode_meta(meta, out);
    // A failure's error text is the only long field, and `encode_meta` bounds it by u32.
    let meta_len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(record);
}

/// Splits a machine's value written by [`encode_entry`] into its metadata and record bytes.
pub(crate) fn split_entry(bytes: &[u8]) -> Result<(&[u8], &[u8]), MetaError> {
    let damaged = || MetaError::Damaged("machine value shorter than its metadata".to_owned());
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(damaged)?;
    let meta_len = u32::from_le_bytes(len_bytes) as usize;
    let rest = &bytes[4..];
    if rest.len() < meta_len {
        return Err(damaged());
    }
    Ok(rest.split_at(meta_len))
}

/// The status name and whether a failure is recorded, read from encoded metadata without
/// decoding (or allocating) the rest; `None` when the bytes are not valid metadata.
pub(crate) fn peek_meta(meta: &[u8]) -> Option<(&[u8], bool)> {
    if meta.first() != Some(&META_LAYOUT) {
        return None;
    }
    let flags = *meta.get(1)?;
    let len_bytes: [u8; 2] = meta.get(14..16)?.try_into().ok()?;
    let len = usize::from(u16::from_le_bytes(len_bytes));
    let status = meta.get(16..16 + len)?;
    Some((status, flags & HAS_FAILURE != 0))
}

/// Appends the byte form of `meta` to `out`.
pub(crate) fn encode_meta(meta: &Meta, out: &mut Vec<u8>) {
    let mut flags = 0;
    if meta.is_final {
        flags |= FINAL;
    }
    if meta.failure.is_some() {
        flags |= HAS_FAILURE;
    }
    out.push(META_LAYOUT);
    out.push(flags);
    out.extend_from_slice(&meta.last_active_ms.to_le_bytes());
    out.extend_from_slice(&meta.record_version.to_le_bytes());
    put_str16(out, &meta.status);
    if let Some(failure) = &meta.failure {
        let kind = failure.kind.as_str();
        // Kind names are short ASCII constants (well under 256 bytes).
        out.push(kind.len() as u8);
        out.extend_from_slice(kind.as_bytes());
        put_str16(out, &failure.status);
        let error = truncate(&failure.error, u32::MAX as usize);
        out.extend_from_slice(&(error.len() as u32).to_le_bytes());
        out.extend_from_slice(error.as_bytes());
        out.extend_from_slice(&failure.at_ms.to_le_bytes());
        out.push(u8::from(failure.halted));
    }
}

/// Decodes bytes written by [`encode_meta`].
pub(crate) fn decode_meta(bytes: &[u8]) -> Result<Meta, MetaError> {
    let mut reader = Reader { bytes };
    let damaged = MetaError::Damaged;
    let layout = reader.u8().map_err(damaged)?;
    if layout != META_LAYOUT {
        return Err(MetaError::Damaged(format!(
            "unknown metadata layout {layout} (this version reads layout {META_LAYOUT})"
        )));
    }
    let decode = |reader: &mut Reader<'_>| -> Result<Meta, String> {
        let flags = reader.u8()?;
        let last_active_ms = reader.u64()?;
        let record_version = reader.u32()?;
        let status = reader.str16()?;
        let failure = if flags & HAS_FAILURE != 0 {
            let kind_len = usize::from(reader.u8()?);
            let kind_name = reader.utf8(kind_len)?;
            let kind = FailureKind::from_name(&kind_name)
                .ok_or_else(|| format!("unknown failure kind {kind_name:?}"))?;
            let status = reader.str16()?;
            let error_len = reader.u32()? as usize;
            let error = reader.utf8(error_len)?;
            let at_ms = reader.u64()?;
            let halted = reader.u8()? != 0;
            Some(Box::new(Failure {
                kind,
                status: Cow::Owned(status),
                error: error.into(),
                at_ms,
                halted,
            }))
        } else {
            None
        };
        if !reader.bytes.is_empty() {
            return Err(format!(
                "{} unexpected bytes at the end",
                reader.bytes.len()
            ));
        }
        Ok(Meta {
            status: Cow::Owned(status),
            is_final: flags & FINAL != 0,
            last_active_ms,
            failure,
            record_version,
        })
    };
    decode(&mut reader).map_err(damaged)
}

/// Appends the byte form of `header` to `out`.
pub(crate) fn encode_header(header: &Header, out: &mut Vec<u8>) {
    out.push(HEADER_LAYOUT);
    out.extend_from_slice(&header.format.to_le_bytes());
    put_str16(out, &header.group);
    put_str16(out, &header.codec);
}

/// Decodes bytes written by [`encode_header`].
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Header, String> {
    let mut reader = Reader { bytes };
    let layout = reader.u8()?;
    if layout != HEADER_LAYOUT {
        return Err(format!("unknown header layout {layout}"));
    }
    let header = Header {
        format: reader.u32()?,
        group: reader.str16()?,
        codec: reader.str16()?,
    };
    if !reader.bytes.is_empty() {
        return Err(format!(
            "{} unexpected bytes at the end",
            reader.bytes.len()
        ));
    }
    Ok(header)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn put_str16(out: &mut Vec<u8>, text: &str) {
    let text = truncate(text, usize::from(u16::MAX));
    // `truncate` bounds the length by u16::MAX.
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads from the front of a byte string; every read checks the length first.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "truncated: {n} bytes expected, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    fn utf8(&mut self, len: usize) -> Result<String, String> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "text is not UTF-8".to_owned())
    }

    fn str16(&mut self) -> Result<String, String> {
        let len = usize::from(u16::from_le_bytes(self.array()?));
        self.utf8(len)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample(failure: bool) -> Meta {
        Meta {
            status: Cow::Borrowed("Ongoing"),
            is_final: false,
            last_active_ms: 1_765_000_000_123,
            failure: failure.then(|| {
                Box::new(Failure {
                    kind: FailureKind::EntryFuncPanic,
                    status: Cow::Borrowed("Unsealing"),
                    error: "boom: ünïcode".into(),
                    at_ms: 42,
                    halted: true,
                })
            }),
            record_version: 3,
        }
    }

    #[test]
    fn meta_round_trips() {
        for failure in [false, true] {
            let meta = sample(failure);
            let mut bytes = Vec::new();
            encode_meta(&meta, &mut bytes);
            assert_eq!(decode_meta(&bytes), Ok(meta));
        }
    }

    #[test]
    fn header_round_trips() {
        let header = Header {
            format: 2,
            group: "deals".into(),
            codec: "dag-cbor".into(),
        };
        let mut bytes = Vec::new();
        encode_header(&header, &mut bytes);
        assert_eq!(decode_header(&bytes), Ok(header));
    }

    #[test]
    fn entries_split_and_peek_without_decoding() {
        for failure in [false, true] {
            let meta = sample(failure);
            let mut value = Vec::new();
            encode_entry(&meta, b"record", &mut value);
            let (meta_bytes, record) = split_entry(&value).unwrap();
            assert_eq!(record, b"record");
            assert_eq!(decode_meta(meta_bytes), Ok(meta));
            assert_eq!(peek_meta(meta_bytes), Some((&b"Ongoing"[..], failure)));
        }
        assert!(split_entry(&[9, 0, 0, 0, 1]).is_err());
        assert!(split_entry(&[1, 0]).is_err());
        assert_eq!(peek_meta(&[1, 0, 0]), None);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut bytes = Vec::new();
        encode_meta(&sample(true), &mut bytes);
        for len in 0..bytes.len() {
            assert!(decode_meta(&bytes[..len]).is_err(), "length {len}");
        }
        bytes.push(0);
        assert!(decode_meta(&bytes).is_err(), "trailing byte");
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_meta(&bytes);
            let _ = decode_header(&bytes);
            let _ = split_entry(&bytes);
            let _ = peek_meta(&bytes);
        }
    }
}
