//! Identifiers in Flink's format: 32 lower-case hex digits.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Error for an id that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid id: expected 32 hexadecimal characters")]
pub struct BadId(pub String);

macro_rules! hex_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u128);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(rand::random::<u128>())
            }
            /// An id derived deterministically from a byte string (FNV-1a 128).
            pub fn derive(bytes: &[u8]) -> Self {
                let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
                for b in bytes {
                    h ^= *b as u128;
                    h = h.wrapping_mul(0x0000000001000000000000000000013B);
                }
                Self(h)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:032x})", stringify!($name), self.0)
            }
        }
        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(BadId(s.to_string()));
                }
                u128::from_str_radix(s, 16).map(Self).map_err(|_| BadId(s.to_string()))
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// Identifies a job (Flink's `JobID`).
    JobId
);
hex_id!(
    /// Identifies a job vertex (Flink's `JobVertexID`), stable for an unchanged plan.
    VertexId
);
hex_id!(
    /// Identifies one execution attempt of one subtask (Flink's `ExecutionAttemptID`).
    AttemptId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = JobId::random();
        let s = id.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(s.parse::<JobId>().unwrap(), id);
        assert_eq!(
            serde_json::from_str::<JobId>(&serde_json::to_string(&id).unwrap()).unwrap(),
            id
        );
    }

    #[test]
    fn rejects_bad_ids() {
        assert!("doesnotexist".parse::<JobId>().is_err());
        assert!("0000000000000000000000000000000g".parse::<JobId>().is_err());
        assert_eq!(
            "00000000000000000000000000000001".parse::<JobId>().unwrap(),
            JobId(1)
        );
    }

    #[test]
    fn derive_is_stable() {
        assert_eq!(VertexId::derive(b"abc"), VertexId::derive(b"abc"));
        assert_ne!(VertexId::derive(b"abc"), VertexId::derive(b"abd"));
    }
}
