//! A DAG-CBOR [`serde::Serializer`] that writes straight into one buffer.
//!
//! It produces the same bytes as `serde_ipld_dagcbor::to_vec` (0.7) for every value it accepts:
//! minimal-length headers, floats always as finite 64-bit floats (`-0.0` as `0.0`), `None` and
//! unit as `null`, enums as `{variant: payload}` (unit variants as the bare name), CIDs as tag 42
//! over the `0x00`-prefixed bytes, and map entries in RFC 7049 canonical order (length first,
//! then bytewise). Where `serde_ipld_dagcbor` buffers every map entry in its own `Vec` and sorts
//! the `Vec`s, this encoder writes the entries in place, remembers their byte ranges, sorts the
//! ranges and rewrites the entries only when they were out of order.
//!
//! Anything it does not accept (a value `serde_ipld_dagcbor` rejects too, such as a non-finite
//! float or a non-string map key) ends in [`Unsupported`], and the caller re-encodes the value
//! with `serde_ipld_dagcbor` to get its exact result.

use std::cell::RefCell;
use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// The newtype-struct name under which the `cid` crate serialises a CID (its
/// `cid::serde::CID_SERDE_PRIVATE_IDENTIFIER`, which `serde_ipld_dagcbor` matches on).
const CID_NEWTYPE_NAME: &str = "$__private__serde__identifier__for__cid";

/// The CBOR tag of a CID.
const CID_TAG: u64 = 42;

/// A scratch buffer larger than this is not kept for the next record on the same thread.
const MAX_RETAINED_SCRATCH: usize = 64 * 1024;

/// CBOR major types (the top three bits of the initial byte).
mod major {
    pub(super) const UNSIGNED: u8 = 0;
    pub(super) const NEGATIVE: u8 = 1;
    pub(super) const BYTES: u8 = 2;
    pub(super) const STRING: u8 = 3;
    pub(super) const ARRAY: u8 = 4;
    pub(super) const MAP: u8 = 5;
    pub(super) const TAG: u8 = 6;
}

/// CBOR simple values and the 64-bit float marker.
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;
const F64: u8 = 0xfb;

/// The value cannot be encoded here; the caller falls back to `serde_ipld_dagcbor`.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value not supported by the in-place DAG-CBOR encoder")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Unsupported
    }
}

/// Reusable per-thread buffers: the encoding under construction and the map-entry ranges.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Appends the DAG-CBOR encoding of `value` to `out`, leaving `out` untouched on error.
///
/// The value is encoded into a per-thread scratch buffer and then copied to `out` in one
/// `extend_from_slice`, so a fresh `out` is allocated once, at exactly the encoded length.
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), Unsupported> {
    let pooled = SCRATCH.try_with(|cell| {
        // A `Serialize` impl that itself encodes with this codec finds the scratch borrowed
        // and gets a fresh one below.
        cell.try_borrow_mut()
            .ok()
            .map(|mut scratch| scratch.encode_into(value, out))
    });
    match pooled {
        Ok(Some(result)) => result,
        // The thread's scratch is in use or already destroyed.
        Ok(None) | Err(_) => Scratch::default().encode_into(value, out),
    }
}

impl Scratch {
    fn encode_into<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), Unsupported> {
        self.bytes.clear();
        self.spans.clear();
        let result = value.serialize(&mut Encoder {
            out: &mut self.bytes,
            spans: &mut self.spans,
        });
        if result.is_ok() {
            out.extend_from_slice(&self.bytes);
        }
        if self.bytes.capacity() > MAX_RETAINED_SCRATCH {
            self.bytes = Vec::new();
        }
        if self.spans.capacity() > MAX_RETAINED_SCRATCH / size_of::<Span>() {
            self.spans = Vec::new();
        }
        result
    }
}

/// The byte range of one encoded map entry (key followed by value) in the output.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    /// Where the key ends and the value starts.
    key_end: usize,
    end: usize,
}

/// The DAG-CBOR order of two entries of `out`: the bytewise order of their encodings, which
/// `serde_ipld_dagcbor` sorts by.
///
/// Keys are minimal-header text strings, so no encoded key is a proper prefix of another and
/// the bytewise order of the entries is that of their keys, which is the order of the encoded
/// key lengths and then of the key bytes. Comparing the lengths first settles most pairs
/// without a `memcmp`; equal keys (possible only from a hand-written `Serialize`) fall back to
/// the whole entries.
fn entry_order(out: &[u8], a: &Span, b: &Span) -> std::cmp::Ordering {
    let key_a = &out[a.start..a.key_end];
    let key_b = &out[b.start..b.key_end];
    key_a
        .len()
        .cmp(&key_b.len())
        .then_with(|| key_a.cmp(key_b))
        .then_with(|| out[a.start..a.end].cmp(&out[b.start..b.end]))
}

/// Writes DAG-CBOR into `out`; `spans` is a stack of the entries of the maps being written.
struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    spans: &'a mut Vec<Span>,
}

/// The minimal CBOR header for `major` with argument `n`: its bytes and length.
fn header(major: u8, n: u64) -> ([u8; 9], usize) {
    let mut buf = [0u8; 9];
    let ty = major << 5;
    let len = if n < 24 {
        buf[0] = ty | n as u8; // n < 24 fits in the low five bits.
        1
    } else if let Ok(n) = u8::try_from(n) {
        buf[0] = ty | 24;
        buf[1] = n;
        2
    } else if let Ok(n) = u16::try_from(n) {
        buf[0] = ty | 25;
        buf[1..3].copy_from_slice(&n.to_be_bytes());
        3
    } else if let Ok(n) = u32::try_from(n) {
        buf[0] = ty | 26;
        buf[1..5].copy_from_slice(&n.to_be_bytes());
        5
    } else {
        buf[0] = ty | 27;
        buf[1..9].copy_from_slice(&n.to_be_bytes());
        9
    };
    (buf, len)
}

impl Encoder<'_> {
    fn head(&mut self, major: u8, n: u64) {
        if n < 24 {
            // The common case, one byte: n < 24 fits in the low five bits.
            self.out.push((major << 5) | n as u8);
        } else {
            let (buf, len) = header(major, n);
            self.out.extend_from_slice(&buf[..len]);
        }
    }

    /// A collection length as a CBOR argument (`usize` is at most 64 bits on every target).
    fn len_head(&mut self, major: u8, len: usize) {
        self.head(major, len as u64);
    }

    fn text(&mut self, s: &str) {
        self.len_head(major::STRING, s.len());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn unsigned(&mut self, n: u64) {
        self.head(major::UNSIGNED, n);
    }

    fn signed(&mut self, n: i64) {
        match u64::try_from(n) {
            Ok(n) => self.unsigned(n),
            // For negative n, -1 - n is in 0..=i64::MAX, so the cast is lossless.
            Err(_) => self.head(major::NEGATIVE, (-1 - n) as u64),
        }
    }
}

impl<'e, 'a> MapCompound<'e, 'a> {
    /// Starts a map or struct whose entries follow at the current end of the output.
    fn new(enc: &'e mut Encoder<'a>, count_header: bool) -> Self {
        MapCompound {
            body_start: enc.out.len(),
            first_span: enc.spans.len(),
            entry_start: enc.out.len(),
            key_end: enc.out.len(),
            count_header,
            enc,
        }
    }
}

impl<'e, 'a> ser::Serializer for &'e mut Encoder<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = SeqCompound<'e, 'a>;
    type SerializeTuple = &'e mut Encoder<'a>;
    type SerializeTupleStruct = &'e mut Encoder<'a>;
    type SerializeTupleVariant = &'e mut Encoder<'a>;
    type SerializeMap = MapCompound<'e, 'a>;
    type SerializeStruct = MapCompound<'e, 'a>;
    type SerializeStructVariant = MapCompound<'e, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.signed(v.into());
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.signed(v.into());
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.signed(v.into());
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.signed(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Unsupported> {
        if let Ok(n) = u64::try_from(v) {
            self.unsigned(n);
        } else {
            // In range iff -1 - v fits a u64 (DAG-CBOR has no bignums).
            let n = u64::try_from(-1 - v).map_err(|_| Unsupported)?;
            self.head(major::NEGATIVE, n);
        }
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.unsigned(v.into());
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.unsigned(v.into());
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.unsigned(v.into());
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        self.unsigned(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Unsupported> {
        self.unsigned(u64::try_from(v).map_err(|_| Unsupported)?);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        self.serialize_f64(v.into())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        if !v.is_finite() {
            return Err(Unsupported);
        }
        // -0.0 is written as 0.0.
        let v = if v == 0.0 { 0.0 } else { v };
        self.out.push(F64);
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.text(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.text(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        self.len_head(major::BYTES, v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.out.push(NULL);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.push(NULL);
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.text(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        if name == CID_NEWTYPE_NAME {
            value.serialize(CidEncoder(self))
        } else {
            value.serialize(self)
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.head(major::MAP, 1);
        self.text(variant);
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqCompound<'e, 'a>, Unsupported> {
        if let Some(len) = len {
            self.len_head(major::ARRAY, len);
        }
        Ok(SeqCompound {
            start: self.out.len(),
            count: 0,
            known_len: len.is_some(),
            enc: self,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self, Unsupported> {
        self.len_head(major::ARRAY, len);
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Unsupported> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Unsupported> {
        self.head(major::MAP, 1);
        self.text(variant);
        self.serialize_tuple(len)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapCompound<'e, 'a>, Unsupported> {
        // Like serde_ipld_dagcbor, the header counts the entries actually written.
        Ok(MapCompound::new(self, true))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapCompound<'e, 'a>, Unsupported> {
        // Like serde_ipld_dagcbor, the header is the length the `Serialize` impl declares.
        self.len_head(major::MAP, len);
        Ok(MapCompound::new(self, false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapCompound<'e, 'a>, Unsupported> {
        self.head(major::MAP, 1);
        self.text(variant);
        self.serialize_struct(variant, len)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// A sequence; without a declared length its header is inserted at `start` once it is known.
pub(crate) struct SeqCompound<'e, 'a> {
    enc: &'e mut Encoder<'a>,
    start: usize,
    count: usize,
    known_len: bool,
}

impl ser::SerializeSeq for SeqCompound<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.count += 1;
        value.serialize(&mut *self.enc)
    }

    fn end(self) -> Result<(), Unsupported> {
        if !self.known_len {
            let (buf, len) = header(major::ARRAY, self.count as u64);
            let out = &mut *self.enc.out;
            out.extend_from_slice(&buf[..len]);
            out[self.start..].rotate_right(len);
        }
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Encoder<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

/// A map or struct being written: its entries go straight into the output, their spans onto
/// the encoder's span stack (above `first_span`), and [`MapCompound::finish`] puts them in
/// canonical order.
pub(crate) struct MapCompound<'e, 'a> {
    enc: &'e mut Encoder<'a>,
    /// Where the first entry starts (after the header, if the header is already written).
    body_start: usize,
    /// This map's first entry on the span stack; nested maps push and pop above it.
    first_span: usize,
    /// Where the entry being written starts.
    entry_start: usize,
    /// Where the key of the entry being written ends.
    key_end: usize,
    /// Whether the header (the entry count) is still to be written, in front of the entries.
    count_header: bool,
}

impl MapCompound<'_, '_> {
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let start = self.enc.out.len();
        self.enc.text(key);
        let key_end = self.enc.out.len();
        value.serialize(&mut *self.enc)?;
        self.enc.spans.push(Span {
            start,
            key_end,
            end: self.enc.out.len(),
        });
        Ok(())
    }

    /// Sorts the entries by their encoded bytes (for string keys: key length, then key bytes)
    /// exactly as `serde_ipld_dagcbor` sorts its per-entry buffers, and writes the header.
    fn finish(self) -> Result<(), Unsupported> {
        let Encoder { out, spans } = self.enc;
        let entries = &mut spans[self.first_span..];
        let in_order = entries.is_sorted_by(|a, b| entry_order(out, a, b).is_le());
        if !in_order {
            entries.sort_unstable_by(|a, b| entry_order(out, a, b));
        }
        let (head, head_len) = if self.count_header {
            header(major::MAP, entries.len() as u64)
        } else {
            ([0; 9], 0)
        };
        if !in_order || head_len > 0 {
            // Append header and sorted entries after the unsorted ones, then move them down.
            let unsorted_end = out.len();
            out.extend_from_slice(&head[..head_len]);
            for span in entries.iter() {
                out.extend_from_within(span.start..span.end);
            }
            let written = out.len() - unsorted_end;
            out.copy_within(unsorted_end.., self.body_start);
            out.truncate(self.body_start + written);
        }
        spans.truncate(self.first_span);
        Ok(())
    }
}

impl ser::SerializeMap for MapCompound<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.entry_start = self.enc.out.len();
        key.serialize(&mut *self.enc)?;
        self.key_end = self.enc.out.len();
        // DAG-CBOR map keys are strings.
        match self.enc.out.get(self.entry_start) {
            Some(byte) if byte >> 5 != major::STRING => Err(Unsupported),
            _ => Ok(()),
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self.enc)?;
        self.enc.spans.push(Span {
            start: self.entry_start,
            key_end: self.key_end,
            end: self.enc.out.len(),
        });
        Ok(())
    }

    fn end(self) -> Result<(), Unsupported> {
        self.finish()
    }
}

impl ser::SerializeStruct for MapCompound<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapCompound<'_, '_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.finish()
    }
}

/// Inside the CID newtype: only the CID's bytes are accepted, written as tag 42 over the bytes
/// with a `0x00` multibase prefix.
struct CidEncoder<'e, 'a>(&'e mut Encoder<'a>);

impl ser::Serializer for CidEncoder<'_, '_> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Impossible<(), Unsupported>;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Impossible<(), Unsupported>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        self.0.head(major::TAG, CID_TAG);
        self.0.len_head(major::BYTES, v.len() + 1);
        self.0.out.push(0x00);
        self.0.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_bool(self, _: bool) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_i8(self, _: i8) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_i16(self, _: i16) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_i32(self, _: i32) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_i64(self, _: i64) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_u8(self, _: u8) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_u16(self, _: u16) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_u32(self, _: u32) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_u64(self, _: u64) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_f64(self, _: f64) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_char(self, _: char) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_str(self, _: &str) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
