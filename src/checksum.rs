//! CRC-32 (IEEE, via crc32fast) with LevelDB's masking. Every block, WAL record, MANIFEST
//! record, table footer and CURRENT file carries one (docs/durability.md R14).
//!
//! Masking (rotate right 15, add a constant) follows LevelDB's `crc32c::Mask`: a CRC stored
//! inside data that is itself checksummed would otherwise make the outer CRC degenerate.

pub(crate) const MASK_DELTA: u32 = 0xa282_ead8;

/// The masked CRC-32 of the concatenation of `parts`.
pub fn masked_crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    mask(h.finalize())
}

fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_parts_equals_crc_of_concatenation() {
        assert_eq!(masked_crc(&[b"hello ", b"world"]), masked_crc(&[b"hello world"]));
        assert_ne!(masked_crc(&[b"hello world"]), masked_crc(&[b"hello worle"]));
    }
}
