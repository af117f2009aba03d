//! The `code_enum!` macro behind the Go `uint64` code enums.

/// Declares a `#[repr(u64)]` code enum with Go's names, in code order.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $error:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $go:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[repr(u64)]
        #[derive(Copy, Clone, Eq, PartialEq, Hash, Debug, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant = $code, )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The numeric code (Go's `uint64` value).
            pub const fn code(self) -> u64 {
                self as u64
            }

            /// The value with numeric code `code`, if there is one.
            pub const fn from_code(code: u64) -> Option<Self> {
                match code {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// Go's name for the value (the string its Go name map holds).
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $go, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> u64 {
                value.code()
            }
        }

        impl TryFrom<u64> for $name {
            type Error = $error;

            fn try_from(code: u64) -> Result<Self, Self::Error> {
                Self::from_code(code).ok_or($error(code))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u64(self.code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let code = <u64 as serde::Deserialize>::deserialize(deserializer)?;
                Self::try_from(code).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use code_enum;
