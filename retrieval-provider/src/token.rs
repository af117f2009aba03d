//! [`TokenAmount`]: Filecoin's signed big integer (`abi.TokenAmount` = go-state-types `big.Int`)
//! and its CBOR byte form.

use std::fmt;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};
use std::str::FromStr;

use num_bigint::{BigInt, Sign};
use num_traits::{Euclid, Signed, ToPrimitive, Zero};

/// The largest serialised big integer go-state-types accepts, sign byte included
/// (`BigIntMaxSerializedLen`).
pub const BIG_INT_MAX_SERIALIZED_LEN: usize = 128;

/// Why bytes are not a valid serialised big integer (or a value cannot be serialised).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BigIntError {
    /// The first byte is neither `0x00` (positive) nor `0x01` (negative). Go's message.
    #[error("big int prefix should be either 0 or 1, got {0}")]
    BadPrefix(u8),
    /// The serialised form is longer than [`BIG_INT_MAX_SERIALIZED_LEN`] bytes.
    #[error("big integer byte array too long ({0} bytes)")]
    TooLong(usize),
}

/// An amount of attoFIL: a signed big integer. `Default` is zero.
///
/// Go's `big.Int` may be nil; a nil value serialises as 0, so this port has no nil: every
/// amount is a number, and a missing one is zero.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenAmount(pub BigInt);

impl TokenAmount {
    /// Zero.
    pub fn zero() -> Self {
        TokenAmount(BigInt::zero())
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Whether the amount is strictly positive.
    pub fn is_positive(&self) -> bool {
        self.0.is_positive()
    }

    /// Whether the amount is strictly negative.
    pub fn is_negative(&self) -> bool {
        self.0.is_negative()
    }

    /// The underlying big integer.
    pub fn as_bigint(&self) -> &BigInt {
        &self.0
    }

    /// The value as a `u64`, or `None` when it is negative or too large.
    pub fn to_u64(&self) -> Option<u64> {
        self.0.to_u64()
    }

    /// Euclidean division (Go's `big.Div`); `None` when `divisor` is zero.
    pub fn div_euclid(&self, divisor: &TokenAmount) -> Option<TokenAmount> {
        if divisor.is_zero() {
            None
        } else {
            Some(TokenAmount(Euclid::div_euclid(&self.0, &divisor.0)))
        }
    }

    /// The larger of `self` and zero.
    pub fn clamp_non_negative(self) -> TokenAmount {
        if self.is_negative() {
            TokenAmount::zero()
        } else {
            self
        }
    }

    /// The serialised form used inside CBOR byte strings: empty for zero, otherwise a sign
    /// byte (`0x00` positive, `0x01` negative) followed by the big-endian magnitude.
    ///
    /// Fails with [`BigIntError::TooLong`] above [`BIG_INT_MAX_SERIALIZED_LEN`] bytes, as Go's
    /// `MarshalCBOR` does.
    pub fn to_sign_bytes(&self) -> Result<Vec<u8>, BigIntError> {
        let (sign, magnitude) = self.0.to_bytes_be();
        let prefix = match sign {
            Sign::NoSign => return Ok(Vec::new()),
            Sign::Plus => 0u8,
            Sign::Minus => 1u8,
        };
        let len = magnitude.len() + 1;
        if len > BIG_INT_MAX_SERIALIZED_LEN {
            return Err(BigIntError::TooLong(len));
        }
        let mut out = Vec::with_capacity(len);
        out.push(prefix);
        out.extend_from_slice(&magnitude);
        Ok(out)
    }

    /// Parses the form written by [`to_sign_bytes`](Self::to_sign_bytes). Like Go, it accepts
    /// a bare sign byte (zero) and leading zero bytes in the magnitude.
    pub fn from_sign_bytes(bytes: &[u8]) -> Result<TokenAmount, BigIntError> {
        if bytes.len() > BIG_INT_MAX_SERIALIZED_LEN {
            return Err(BigIntError::TooLong(bytes.len()));
        }
        let Some((&prefix, magnitude)) = bytes.split_first() else {
            return Ok(TokenAmount::zero());
        };
        let sign = match prefix {
            0 => Sign::Plus,
            1 => Sign::Minus,
            other => return Err(BigIntError::BadPrefix(other)),
        };
        Ok(TokenAmount(BigInt::from_bytes_be(sign, magnitude)))
    }
}

impl fmt::Debug for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenAmount({})", self.0)
    }
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for TokenAmount {
    type Err = num_bigint::ParseBigIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BigInt::from_str(s).map(TokenAmount)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for TokenAmount {
            fn from(value: $t) -> Self {
                TokenAmount(BigInt::from(value))
            }
        }
    )*};
}
from_int!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl From<BigInt> for TokenAmount {
    fn from(value: BigInt) -> Self {
        TokenAmount(value)
    }
}

macro_rules! binop {
    ($trait:ident, $method:ident, $assign_trait:ident, $assign_method:ident) => {
        impl $trait for TokenAmount {
            type Output = TokenAmount;
            fn $method(self, rhs: TokenAmount) -> TokenAmount {
                TokenAmount(self.0.$method(rhs.0))
            }
        }
        impl<'a> $trait<&'a TokenAmount> for &'a TokenAmount {
            type Output = TokenAmount;
            fn $method(self, rhs: &'a TokenAmount) -> TokenAmount {
                TokenAmount((&self.0).$method(&rhs.0))
            }
        }
        impl<'a> $trait<&'a TokenAmount> for TokenAmount {
            type Output = TokenAmount;
            fn $method(self, rhs: &'a TokenAmount) -> TokenAmount {
                TokenAmount(self.0.$method(&rhs.0))
            }
        }
        impl $assign_trait for TokenAmount {
            fn $assign_method(&mut self, rhs: TokenAmount) {
                self.0.$assign_method(rhs.0);
            }
        }
        impl<'a> $assign_trait<&'a TokenAmount> for TokenAmount {
            fn $assign_method(&mut self, rhs: &'a TokenAmount) {
                self.0.$assign_method(&rhs.0);
            }
        }
    };
}
binop!(Add, add, AddAssign, add_assign);
binop!(Sub, sub, SubAssign, sub_assign);

impl Mul for TokenAmount {
    type Output = TokenAmount;
    fn mul(self, rhs: TokenAmount) -> TokenAmount {
        TokenAmount(self.0 * rhs.0)
    }
}

impl<'a> Mul<&'a TokenAmount> for &'a TokenAmount {
    type Output = TokenAmount;
    fn mul(self, rhs: &'a TokenAmount) -> TokenAmount {
        TokenAmount(&self.0 * &rhs.0)
    }
}

impl Mul<u64> for &TokenAmount {
    type Output = TokenAmount;
    fn mul(self, rhs: u64) -> TokenAmount {
        TokenAmount(&self.0 * rhs)
    }
}

impl Neg for TokenAmount {
    type Output = TokenAmount;
    fn neg(self) -> TokenAmount {
        TokenAmount(-self.0)
    }
}

/// Serde: a CBOR byte string in Go's sign-byte form for binary formats (what
/// `serde_ipld_dagcbor` writes), and the decimal string for human-readable formats.
impl serde::Serialize for TokenAmount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            let bytes = self.to_sign_bytes().map_err(serde::ser::Error::custom)?;
            serializer.serialize_bytes(&bytes)
        }
    }
}

impl<'de> serde::Deserialize<'de> for TokenAmount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = TokenAmount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a big integer (sign-byte bytes or a decimal string)")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<TokenAmount, E> {
                TokenAmount::from_sign_bytes(v).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TokenAmount, E> {
                TokenAmount::from_str(v).map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Visitor)
        } else {
            deserializer.deserialize_bytes(Visitor)
        }
    }
}
