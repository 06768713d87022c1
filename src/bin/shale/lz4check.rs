//! A reader that checks the structure of LZ4 frames as their compressed bytes pass
//! through (the LZ4 frame format, lz4/doc/lz4_Frame_format.md): header, then blocks, then
//! the end mark and the optional content checksum. A frame cut anywhere before its end
//! mark, even at a block boundary where the decoder alone would just stop, is an
//! `InvalidData` error naming the byte offset. Several concatenated frames are allowed.

use std::io::{self, Read};

/// Where the parser is in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a frame (or after a complete one): a magic number may start.
    Between,
    /// Inside the 4-byte magic number, `got` bytes read.
    Magic { got: usize },
    /// At the FLG byte.
    Flags,
    /// `left` more header bytes: BD, content size, dictionary id, header checksum.
    HeaderRest { left: usize },
    /// Reading a 4-byte block size (or the end mark).
    BlockSize { got: usize, bytes: [u8; 4] },
    /// Skipping a block's data (and its checksum).
    BlockData { left: u64 },
    /// Skipping the content checksum after the end mark.
    ContentChecksum { left: usize },
}

/// See the module docs.
pub struct Lz4FrameCheck<R> {
    inner: R,
    state: State,
    flags: u8,
    offset: u64,
}

impl<R: Read> Lz4FrameCheck<R> {
    /// Checks the frames read from `inner`.
    pub fn new(inner: R) -> Self {
        Lz4FrameCheck { inner, state: State::Between, flags: 0, offset: 0 }
    }

    fn bad(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("LZ4 input at byte offset {}: {what}", self.offset),
        )
    }

    /// Advances the parser over one byte.
    fn step(&mut self, b: u8) -> io::Result<()> {
        self.state = match self.state {
            // The decoder checks the magic's value; this parser only counts its bytes.
            State::Between => State::Magic { got: 1 },
            State::Magic { got } if got < 3 => State::Magic { got: got + 1 },
            State::Magic { .. } => State::Flags,
            State::Flags => {
                if b >> 6 != 0b01 {
                    return Err(self.bad("unsupported frame version"));
                }
                self.flags = b;
                let content_size = if b & 0x08 != 0 { 8 } else { 0 };
                let dict_id = if b & 0x01 != 0 { 4 } else { 0 };
                State::HeaderRest { left: 1 + content_size + dict_id + 1 }
            }
            State::HeaderRest { left } if left > 1 => State::HeaderRest { left: left - 1 },
            State::HeaderRest { .. } => State::BlockSize { got: 0, bytes: [0; 4] },
            State::BlockSize { got, mut bytes } => {
                bytes[got] = b;
                if got < 3 {
                    State::BlockSize { got: got + 1, bytes }
                } else {
                    let size = u32::from_le_bytes(bytes) & 0x7fff_ffff;
                    if size == 0 {
                        if self.flags & 0x04 != 0 {
                            State::ContentChecksum { left: 4 }
                        } else {
                            State::Between
                        }
                    } else {
                        let checksum = if self.flags & 0x10 != 0 { 4 } else { 0 };
                        State::BlockData { left: u64::from(size) + checksum }
                    }
                }
            }
            State::BlockData { left } => {
                if left > 1 {
                    State::BlockData { left: left - 1 }
                } else {
                    State::BlockSize { got: 0, bytes: [0; 4] }
                }
            }
            State::ContentChecksum { left } => {
                if left > 1 {
                    State::ContentChecksum { left: left - 1 }
                } else {
                    State::Between
                }
            }
        };
        Ok(())
    }
}

impl<R: Read> Read for Lz4FrameCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.state != State::Between {
            // InvalidData, not UnexpectedEof: a decoder may take an early end of input
            // at a block boundary for the end of the stream.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "LZ4 input ends at byte offset {} inside a frame, before its end mark (truncated?)",
                    self.offset
                ),
            ));
        }
        for &b in &buf[..n] {
            // Skip whole blocks quickly.
            if let State::BlockData { left } = self.state {
                if left > 1 {
                    self.state = State::BlockData { left: left - 1 };
                    self.offset += 1;
                    continue;
                }
            }
            self.step(b)?;
            self.offset += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8]) -> Vec<u8> {
        let info = lz4_flex::frame::FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max64KB);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        std::io::Write::write_all(&mut enc, data).expect("encode");
        enc.finish().expect("finish")
    }

    fn read_all(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        lz4_flex::frame::FrameDecoder::new(Lz4FrameCheck::new(bytes)).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn whole_frames_pass_and_every_cut_is_an_error() {
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let f = frame(&data);
        assert_eq!(read_all(&f).expect("a whole frame"), data);
        // The checker alone, read to the end: every proper prefix is an error.
        let check = |b: &[u8]| io::copy(&mut Lz4FrameCheck::new(b), &mut io::sink());
        check(&f).expect("a whole frame");
        check(&[f.clone(), f.clone()].concat()).expect("two whole frames");
        for cut in [1, 5, 7, 20, f.len() / 2, f.len() - 5, f.len() - 4, f.len() - 1] {
            assert!(check(&f[..cut]).is_err(), "a frame cut at {cut} of {} must fail", f.len());
        }
        // Through the decoder, a cut inside a block and one at a block boundary fail too.
        assert!(read_all(&f[..f.len() / 2]).is_err());
        let first_block = u32::from_le_bytes([f[7], f[8], f[9], f[10]]) & 0x7fff_ffff;
        assert!(read_all(&f[..11 + first_block as usize]).is_err(), "cut after the first block");
    }
}
