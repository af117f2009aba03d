//! Hand-written CBOR primitives in cbor-gen's dialect: minimal-length definite headers only.
//!
//! They exist for what serde cannot express (see the module docs of [`crate::cbor`]): peer ids
//! written as raw bytes inside *text*-string headers, and slicing out one complete data item
//! (to skip unknown keys, or to hand a nested value to `serde_ipld_dagcbor`). Nothing here
//! recurses, so hostile nesting cannot overflow the stack.

use super::CborError;

/// CBOR major type 0: unsigned integer.
pub(crate) const MAJ_UINT: u8 = 0;
/// CBOR major type 2: byte string.
pub(crate) const MAJ_BYTES: u8 = 2;
/// CBOR major type 3: text string.
pub(crate) const MAJ_TEXT: u8 = 3;
/// CBOR major type 4: array.
pub(crate) const MAJ_ARRAY: u8 = 4;
/// CBOR major type 5: map.
pub(crate) const MAJ_MAP: u8 = 5;
/// CBOR major type 6: tag.
const MAJ_TAG: u8 = 6;
/// CBOR major type 7: simple values and floats.
const MAJ_SIMPLE: u8 = 7;
/// The CBOR `null` simple value.
pub(crate) const NULL: u8 = 0xf6;

/// cbor-gen's `MaxLength`: the longest string (text or bytes) it reads or writes.
pub const MAX_STRING_LEN: usize = 8192;

/// Appends a header with the shortest encoding of `value`.
pub(crate) fn write_header(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    if value < 24 {
        // value < 24 fits in the 5 low bits.
        out.push(m | value as u8);
    } else if let Ok(v) = u8::try_from(value) {
        out.extend_from_slice(&[m | 24, v]);
    } else if let Ok(v) = u16::try_from(value) {
        out.push(m | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(m | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends a text-string header followed by `bytes`, which need not be UTF-8 (Go strings are
/// arbitrary bytes). Enforces [`MAX_STRING_LEN`] like cbor-gen.
pub(crate) fn write_text(
    out: &mut Vec<u8>,
    bytes: &[u8],
    context: &'static str,
) -> Result<(), CborError> {
    if bytes.len() > MAX_STRING_LEN {
        return Err(CborError::StringTooLong {
            context,
            len: bytes.len() as u64,
        });
    }
    write_header(out, MAJ_TEXT, bytes.len() as u64);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Appends a byte string.
pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_header(out, MAJ_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over CBOR input.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), CborError> {
        let rest = self.data.len() - self.pos;
        if rest == 0 {
            Ok(())
        } else {
            Err(CborError::TrailingBytes {
                offset: self.pos,
                count: rest,
            })
        }
    }

    fn take(&mut self, n: u64, context: &'static str) -> Result<&'a [u8], CborError> {
        let available = self.data.len() - self.pos;
        let n =
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= available)
                .ok_or(CborError::Truncated {
                    offset: self.pos,
                    context,
                })?;
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// The next byte, not consumed.
    pub(crate) fn peek(&self, context: &'static str) -> Result<u8, CborError> {
        self.data
            .get(self.pos)
            .copied()
            .ok_or(CborError::Truncated {
                offset: self.pos,
                context,
            })
    }

    /// Consumes a `null` if one is next; returns whether it did (cbor-gen's nil pointer check).
    pub(crate) fn take_null(&mut self) -> bool {
        if self.data.get(self.pos) == Some(&NULL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads one header: `(major type, argument)`. Rejects indefinite lengths, reserved
    /// additional-info values and (for major types 0–6) non-minimal arguments, as cbor-gen does.
    pub(crate) fn header(&mut self, context: &'static str) -> Result<(u8, u64), CborError> {
        let start = self.pos;
        let first = self.peek(context)?;
        self.pos += 1;
        let major = first >> 5;
        let info = first & 0x1f;
        let (value, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.take(1, context)?[0]), 24),
            25 => (be(self.take(2, context)?), 0x100),
            26 => (be(self.take(4, context)?), 0x1_0000),
            27 => (be(self.take(8, context)?), 0x1_0000_0000),
            31 => return Err(CborError::Indefinite { offset: start }),
            _ => {
                return Err(CborError::Reserved {
                    offset: start,
                    byte: first,
                });
            }
        };
        if major != MAJ_SIMPLE && value < min {
            return Err(CborError::NonCanonical { offset: start });
        }
        Ok((major, value))
    }

    /// Reads a header and checks its major type.
    fn expect(
        &mut self,
        major: u8,
        expected: &'static str,
        context: &'static str,
    ) -> Result<u64, CborError> {
        let offset = self.pos;
        let found = self.peek(context)?;
        let (m, value) = self.header(context)?;
        if m == major {
            Ok(value)
        } else {
            Err(CborError::UnexpectedType {
                offset,
                context,
                expected,
                found,
            })
        }
    }

    /// Reads an unsigned integer.
    pub(crate) fn uint(&mut self, context: &'static str) -> Result<u64, CborError> {
        self.expect(MAJ_UINT, "an unsigned integer", context)
    }

    /// Reads a text string as raw bytes (no UTF-8 check), at most [`MAX_STRING_LEN`] long.
    pub(crate) fn text(&mut self, context: &'static str) -> Result<&'a [u8], CborError> {
        let len = self.expect(MAJ_TEXT, "a text string", context)?;
        if len > MAX_STRING_LEN as u64 {
            return Err(CborError::StringTooLong { context, len });
        }
        self.take(len, context)
    }

    /// Reads a byte string.
    pub(crate) fn bytes(&mut self, context: &'static str) -> Result<&'a [u8], CborError> {
        let len = self.expect(MAJ_BYTES, "a byte string", context)?;
        self.take(len, context)
    }

    /// Reads an array header and returns its length.
    pub(crate) fn array(&mut self, context: &'static str) -> Result<u64, CborError> {
        self.expect(MAJ_ARRAY, "an array", context)
    }

    /// Reads a map header and returns its number of entries.
    pub(crate) fn map(&mut self, context: &'static str) -> Result<u64, CborError> {
        self.expect(MAJ_MAP, "a map", context)
    }

    /// Consumes one complete data item (nested items included) and returns its bytes.
    pub(crate) fn item(&mut self, context: &'static str) -> Result<&'a [u8], CborError> {
        let start = self.pos;
        // Items still to read. Every item takes at least one byte, so a count above the bytes
        // left is already truncated; checking that keeps the counter from overflowing.
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let (major, value) = self.header(context)?;
            let children = match major {
                MAJ_BYTES | MAJ_TEXT => {
                    self.take(value, context)?;
                    0
                }
                MAJ_ARRAY => value,
                MAJ_MAP => value.checked_mul(2).ok_or(CborError::Truncated {
                    offset: self.pos,
                    context,
                })?,
                MAJ_TAG => 1,
                _ => 0,
            };
            pending = pending
                .checked_add(children)
                .filter(|&p| p <= (self.data.len() - self.pos) as u64)
                .ok_or(CborError::Truncated {
                    offset: self.pos,
                    context,
                })?;
        }
        Ok(&self.data[start..self.pos])
    }
}

/// A big-endian unsigned integer of up to 8 bytes.
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}
