//! Deterministic train / validation / test assignment.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// The split a `split` column value names.
    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Some(Split::Train),
            "valid" | "validation" | "val" => Some(Split::Validation),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

/// splitmix64 with wrapping u64 arithmetic (Steele, Lea, Flood 2014).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash split of a 1-based row position: bucket `splitmix64(row_id) % 100`.
pub fn hash_split(row_id: u64, train: u32, validation: u32) -> Split {
    let bucket = (splitmix64(row_id) % 100) as u32;
    if bucket < train {
        Split::Train
    } else if bucket < train + validation {
        Split::Validation
    } else {
        Split::Test
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Check values from the datasets' README: splitmix64(0) and the buckets of rows 1..5.
    #[test]
    fn matches_published_check_values() {
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        let buckets: Vec<u64> = (1..=5).map(|i| splitmix64(i) % 100).collect();
        assert_eq!(buckets, [65, 10, 53, 78, 18]);
        let splits: Vec<Split> = (1..=5).map(|i| hash_split(i, 60, 20)).collect();
        use Split::*;
        assert_eq!(splits, [Validation, Train, Train, Validation, Train]);
    }
}
