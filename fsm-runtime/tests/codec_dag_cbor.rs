//! The default [`DagCbor`] codec writes exactly the bytes of `serde_ipld_dagcbor::to_vec`, and
//! where that rejects a value, fails with the same error.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};

use cid::Cid;
use cid::multihash::Multihash;
use fsm_runtime::codec::{Codec, CodecError, DagCbor};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

/// Encodes `value` with [`DagCbor`] and with `serde_ipld_dagcbor`, and checks that both give the
/// same bytes, or the same error.
fn assert_same_as_reference<T: Serialize + DeserializeOwned + std::fmt::Debug>(value: &T) {
    let mut ours = Vec::new();
    let result = Codec::<T>::encode(&DagCbor, value, &mut ours);
    match serde_ipld_dagcbor::to_vec(value) {
        Ok(reference) => {
            assert_eq!(result, Ok(()), "for {value:?}");
            assert_eq!(ours, reference, "for {value:?}");
        }
        Err(_) => {
            let mut sink = Vec::new();
            let error = serde_ipld_dagcbor::to_writer(&mut sink, value).unwrap_err();
            assert_eq!(
                result,
                Err(CodecError::Encode(error.to_string())),
                "for {value:?}"
            );
        }
    }
}

/// Every enum variant kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Newtype(u32),
    Tuple(i16, String),
    Struct {
        zeta: bool,
        a: Option<u8>,
        middle_sized_name: String,
    },
}

/// A nested struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Leaf {
    z: i32,
    numbers: Vec<u8>,
    #[serde(with = "serde_bytes")]
    raw: Vec<u8>,
}

/// A struct nested in the record, holding another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    count: u32,
    shape: Shape,
    leaf: Option<Leaf>,
}

/// A newtype struct (transparent in DAG-CBOR).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meters(u64);

/// A unit struct (`null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Marker;

/// A sequence serialised without a length up front (`collect_seq` over a `Filter`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct EvenOnly(Vec<u32>);

impl Serialize for EvenOnly {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().filter(|n| *n % 2 == 0))
    }
}

/// A record exercising every shape the group stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    delta: i64,
    small: i8,
    mid: u16,
    word: u32,
    wide: i128,
    huge: u128,
    ratio: f64,
    single: f32,
    flag: bool,
    name: String,
    letter: char,
    note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maybe: Option<u32>,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    list: Vec<Inner>,
    labels: BTreeMap<String, Inner>,
    scores: HashMap<String, i32>,
    shape: Shape,
    pair: (u8, String),
    unit: (),
    marker: Marker,
    length: Meters,
    evens: EvenOnly,
    link: Option<Cid>,
    a_field_name_longer_than_twenty_four_bytes: bool,
}

/// A map key of any length around the one-byte and two-byte header boundaries.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{0,30}",
        1 => "[a-zé]{250,260}",
    ]
}

/// Integers near every header-size boundary, or anywhere.
fn unsigned() -> impl Strategy<Value = u64> {
    let edges = [
        0,
        23,
        24,
        255,
        256,
        65_535,
        65_536,
        u64::from(u32::MAX),
        u64::from(u32::MAX) + 1,
        u64::MAX,
    ];
    prop_oneof![
        1 => proptest::sample::select(edges.to_vec()),
        1 => any::<u64>(),
    ]
}

fn signed() -> impl Strategy<Value = i64> {
    prop_oneof![
        1 => unsigned().prop_map(|n| n as i64),
        1 => unsigned().prop_map(|n| -(n.min(i64::MAX as u64) as i64) - 1),
        1 => any::<i64>(),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
        1 => Just(-0.0),
        1 => Just(0.0),
    ]
}

fn cid() -> impl Strategy<Value = Cid> {
    (any::<[u8; 32]>(), prop_oneof![Just(0x55u64), Just(0x71u64)]).prop_map(|(digest, codec)| {
        Cid::new_v1(codec, Multihash::<64>::wrap(0x12, &digest).unwrap())
    })
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Unit),
        any::<u32>().prop_map(Shape::Newtype),
        (any::<i16>(), ".{0,30}").prop_map(|(n, s)| Shape::Tuple(n, s)),
        (any::<bool>(), any::<Option<u8>>(), ".{0,30}").prop_map(|(zeta, a, s)| {
            Shape::Struct {
                zeta,
                a,
                middle_sized_name: s,
            }
        }),
    ]
}

fn leaf() -> impl Strategy<Value = Leaf> {
    (
        any::<i32>(),
        proptest::collection::vec(any::<u8>(), 0..30),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(z, numbers, raw)| Leaf { z, numbers, raw })
}

fn inner() -> impl Strategy<Value = Inner> {
    (any::<u32>(), shape(), proptest::option::of(leaf())).prop_map(|(count, shape, leaf)| Inner {
        count,
        shape,
        leaf,
    })
}

prop_compose! {
    fn record()(
        (id, delta, small, mid, word) in (unsigned(), signed(), any::<i8>(), any::<u16>(), any::<u32>()),
        (wide, huge) in (signed().prop_map(i128::from), unsigned().prop_map(u128::from)),
        (ratio, single, flag) in (float(), any::<f32>().prop_filter("finite", |f| f.is_finite()), any::<bool>()),
        (name, letter, note, maybe) in (".{0,40}", any::<char>(), proptest::option::of(".{0,300}"), any::<Option<u32>>()),
        blob in proptest::collection::vec(any::<u8>(), 0..70_000),
        list in proptest::collection::vec(inner(), 0..30),
        labels in proptest::collection::btree_map(key(), inner(), 0..30),
        scores in proptest::collection::hash_map(key(), any::<i32>(), 0..30),
        (shape, pair) in (shape(), (any::<u8>(), ".{0,10}")),
        (length, evens, link, long) in (any::<u64>(), proptest::collection::vec(any::<u32>(), 0..40), proptest::option::of(cid()), any::<bool>()),
    ) -> Record {
        Record {
            id, delta, small, mid, word, wide, huge, ratio, single, flag, name, letter, note,
            maybe, blob, list, labels, scores, shape, pair,
            unit: (),
            marker: Marker,
            length: Meters(length),
            evens: EvenOnly(evens),
            link,
            a_field_name_longer_than_twenty_four_bytes: long,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn records_encode_to_the_reference_bytes(record in record()) {
        assert_same_as_reference(&record);
    }

    #[test]
    fn string_keyed_maps_encode_to_the_reference_bytes(
        map in proptest::collection::hash_map(key(), any::<Option<u16>>(), 0..300),
    ) {
        assert_same_as_reference(&map);
    }

    #[test]
    fn integers_encode_to_the_reference_bytes(u in unsigned(), i in signed()) {
        assert_same_as_reference(&u);
        assert_same_as_reference(&i);
        assert_same_as_reference(&i128::from(i));
        assert_same_as_reference(&u128::from(u));
        assert_same_as_reference(&(u as u32, u as u16, u as u8, i as i32, i as i16, i as i8));
    }

    #[test]
    fn floats_encode_to_the_reference_bytes(f in any::<f64>(), g in any::<f32>()) {
        assert_same_as_reference(&f);
        assert_same_as_reference(&g);
    }

    #[test]
    fn cids_encode_to_the_reference_bytes(cid in cid()) {
        assert_same_as_reference(&cid);
        assert_same_as_reference(&vec![Some(cid), None]);
    }

    #[test]
    fn nested_structs_round_trip(inners in proptest::collection::vec(inner(), 0..30)) {
        let mut bytes = Vec::new();
        DagCbor.encode(&inners, &mut bytes).unwrap();
        let back: Vec<Inner> = DagCbor.decode(&bytes).unwrap();
        prop_assert_eq!(back, inners);
    }
}

#[test]
fn integers_at_every_header_boundary_encode_to_the_reference_bytes() {
    for edge in [0u64, 23, 24, 255, 256, 65_535, 65_536, 1 << 32, u64::MAX] {
        for n in [edge.saturating_sub(1), edge, edge.saturating_add(1)] {
            assert_same_as_reference(&n);
            let negative = -i128::from(n) - 1;
            assert_same_as_reference(&negative);
            if let Ok(negative) = i64::try_from(negative) {
                assert_same_as_reference(&negative);
            }
        }
    }
}

#[test]
fn integers_outside_dag_cbor_fail_like_the_reference() {
    assert_same_as_reference(&(u128::from(u64::MAX) + 1));
    assert_same_as_reference(&(-i128::from(u64::MAX) - 2));
    assert_same_as_reference(&i128::MIN);
}

#[test]
fn non_finite_floats_fail_like_the_reference() {
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_same_as_reference(&f);
        assert_same_as_reference(&vec![Some(1.5), Some(f)]);
    }
    assert_same_as_reference(&f32::NAN);
}

#[test]
fn non_string_map_keys_fail_like_the_reference() {
    let map: BTreeMap<u32, u8> = [(1, 2), (3, 4)].into();
    assert_same_as_reference(&map);
    let map: BTreeMap<String, BTreeMap<i8, bool>> = [("a".into(), [(-1, true)].into())].into();
    assert_same_as_reference(&map);
}

#[test]
fn empty_collections_encode_to_the_reference_bytes() {
    assert_same_as_reference(&BTreeMap::<String, u8>::new());
    assert_same_as_reference(&Vec::<u8>::new());
    assert_same_as_reference(&EvenOnly(vec![1, 3]));
    assert_same_as_reference(&serde_bytes::ByteBuf::new());
    assert_same_as_reference(&String::new());
}

#[test]
fn encode_appends_to_what_is_in_the_buffer() {
    let value = Shape::Tuple(-3, "x".into());
    let mut out = vec![0xaa, 0xbb];
    DagCbor.encode(&value, &mut out).unwrap();
    let mut expected = vec![0xaa, 0xbb];
    expected.extend(serde_ipld_dagcbor::to_vec(&value).unwrap());
    assert_eq!(out, expected);
}

#[test]
fn a_failed_encode_leaves_the_buffer_as_the_reference_leaves_it() {
    let value = vec![Some(1.0), Some(f64::NAN)];
    let mut ours = vec![7];
    let _ = DagCbor.encode(&value, &mut ours);
    let mut reference = vec![7];
    let _ = serde_ipld_dagcbor::to_writer(&mut reference, &value);
    assert_eq!(ours, reference);
}
