//! Little-endian fixed-width integers and LEB128 varints: the only place integers become
//! bytes (clippy's endian lints ban the helpers elsewhere). Decoders never panic; they
//! return `None` when the input is too short or a varint runs on.
//!
//! # Format
//! DESIGN.md §0 ("Conventions").

/// Appends `v` as 4 little-endian bytes.
pub fn put_u32(dst: &mut Vec<u8>, v: u32) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 8 little-endian bytes.
pub fn put_u64(dst: &mut Vec<u8>, v: u64) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Reads a little-endian u32 from the first 4 bytes of `src`.
pub fn get_u32(src: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(src.get(..4)?.try_into().ok()?))
}

/// Reads a little-endian u64 from the first 8 bytes of `src`.
pub fn get_u64(src: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(src.get(..8)?.try_into().ok()?))
}

/// Reads a little-endian u16 from the first 2 bytes of `src`.
pub fn get_u16(src: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes(src.get(..2)?.try_into().ok()?))
}

/// Encodes a u16 as 2 little-endian bytes.
pub fn u16_bytes(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

/// Encodes a u64 as 8 little-endian bytes.
pub fn u64_bytes(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// Encodes a u32 as 4 little-endian bytes.
pub fn u32_bytes(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Appends `v` as a LEB128 varint (1 to 10 bytes).
pub fn put_varint(dst: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 10];
    let n = encode_varint(v, &mut buf);
    dst.extend_from_slice(&buf[..n]);
}

/// Writes `v` as a LEB128 varint (1 to 10 bytes) at the front of `dst` and returns the
/// bytes written.
///
/// # Panics
/// If `dst` is shorter than [`varint_len`]`(v)`: callers size it first.
#[inline]
pub fn encode_varint(mut v: u64, dst: &mut [u8]) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        dst[n] = (v as u8) | 0x80;
        n += 1;
        v >>= 7;
    }
    dst[n] = v as u8;
    n + 1
}

/// Number of bytes `put_varint(v)` writes.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Decodes a varint from the front of `src`; returns the value and the bytes consumed.
/// `None` if `src` ends inside the varint or it is longer than 10 bytes / overflows.
#[inline]
pub fn get_varint(src: &[u8]) -> Option<(u64, usize)> {
    // Fast path: lengths in blocks are almost always below 128, one byte.
    if let Some(&b) = src.first() {
        if b < 0x80 {
            return Some((u64::from(b), 1));
        }
    }
    let mut result: u64 = 0;
    for (i, &b) in src.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None;
        }
        result |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((result, i + 1));
        }
    }
    None
}

/// Appends a varint length followed by the bytes.
pub fn put_length_prefixed(dst: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(dst, bytes.len() as u64);
    dst.extend_from_slice(bytes);
}

/// A forward cursor over a byte slice for decoders: every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// Reads one byte.
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let v = get_u32(self.buf.get(self.pos..)?)?;
        self.pos += 4;
        Some(v)
    }
    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        let v = get_u64(self.buf.get(self.pos..)?)?;
        self.pos += 8;
        Some(v)
    }
    /// Reads a varint.
    #[inline]
    pub fn varint(&mut self) -> Option<u64> {
        let (v, n) = get_varint(self.buf.get(self.pos..)?)?;
        self.pos += n;
        Some(v)
    }
    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    /// Reads a varint length and then that many bytes.
    pub fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_at_every_width() {
        for v in [0u64, 1, 127, 128, 300, 1 << 21, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(get_varint(&b), Some((v, b.len())));
            let mut exact = vec![0u8; varint_len(v)];
            assert_eq!(encode_varint(v, &mut exact), exact.len());
            assert_eq!(exact, b, "a slice of exactly varint_len bytes holds the same encoding");
        }
    }

    #[test]
    fn truncated_or_overlong_varint_is_rejected() {
        assert_eq!(get_varint(&[0x80]), None);
        assert_eq!(get_varint(&[0xff; 11]), None);
        assert_eq!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]), None);
    }

    #[test]
    fn fixed_ints_are_little_endian() {
        let mut b = Vec::new();
        put_u32(&mut b, 0x0403_0201);
        put_u64(&mut b, 0x0c0b_0a09_0807_0605);
        assert_eq!(b, (1u8..=12).collect::<Vec<_>>());
        assert_eq!(get_u32(&b), Some(0x0403_0201));
        assert_eq!(get_u64(&b[4..]), Some(0x0c0b_0a09_0807_0605));
        assert_eq!(get_u64(&b[5..]), None);
    }
}
