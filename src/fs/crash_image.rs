//! Crash images: the file system a reboot would find after a simulated power loss or
//! process kill, in one of the [`CrashMode`]s (docs/crash-harness.md §12.1,
//! docs/durability.md §3.5). A child module of `sim`, so it reads `SimFs`'s live and
//! durable state directly.

use std::io;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{DirOp, SimDir, SimFile, SimFs, SimRng, SimState};

/// Size of the pages a power loss keeps or loses independently.
pub const PAGE_BYTES: usize = 4096;

/// What survives a simulated crash (docs/durability.md §3.5's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashMode {
    /// Everything written to the kernel: a process kill (SIGKILL).
    Process,
    /// Only synced bytes and synced directory entries: a clean power loss.
    Durable,
    /// Synced bytes plus a random prefix of each file's unsynced tail.
    Prefix,
    /// Synced bytes plus each unsynced 4 KiB page kept with probability 1/2; a lost page
    /// below the new end reads as zeros or as garbage. Later pages may survive earlier ones.
    Pages,
    /// As `Pages`, and each unsynced directory operation kept or reverted independently.
    Meta,
}

impl CrashMode {
    /// Every mode, in the order reports list them.
    pub const ALL: [CrashMode; 5] =
        [CrashMode::Process, CrashMode::Durable, CrashMode::Prefix, CrashMode::Pages, CrashMode::Meta];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            CrashMode::Process => "proc",
            CrashMode::Durable => "durable",
            CrashMode::Prefix => "prefix",
            CrashMode::Pages => "pages",
            CrashMode::Meta => "meta",
        }
    }

    /// True if the mode keeps every write that reached the kernel.
    pub fn keeps_unsynced(self) -> bool {
        self == CrashMode::Process
    }
}

impl SimFs {
    /// Writes every file to a real directory (`dest/<its path>`), so a crash image can be
    /// inspected with `shale verify` or `shale dump`.
    ///
    /// # Errors
    /// The `io::Error` of creating or writing a real file.
    pub fn export_to(&self, dest: &Path) -> io::Result<()> {
        let st = self.state.lock();
        for (dir, d) in &st.dirs {
            let real = dest.join(dir.strip_prefix("/").unwrap_or(dir));
            std::fs::create_dir_all(&real)?;
            for (name, inode) in &d.live {
                if let Some(f) = st.files.get(inode) {
                    std::fs::write(real.join(name), f.live_image())?;
                }
            }
        }
        Ok(())
    }

    /// The file system a reboot would find, in `mode`, with randomness from `rng`.
    /// The image has no pending crash, no faults and no locks.
    pub fn crash_image(&self, mode: CrashMode, rng: &mut SimRng) -> SimFs {
        let st = self.state.lock();
        let mut img = SimState { next_inode: st.next_inode, ..SimState::default() };
        for (path, d) in &st.dirs {
            let entries = match mode {
                CrashMode::Process => d.live.clone(),
                CrashMode::Durable | CrashMode::Prefix | CrashMode::Pages => d.durable.clone(),
                CrashMode::Meta => {
                    let mut e = d.durable.clone();
                    for op in &d.pending {
                        if rng.coin() {
                            match op {
                                DirOp::Link(n, i) => e.insert(n.clone(), *i),
                                DirOp::Unlink(n) => e.remove(n),
                            };
                        }
                    }
                    e
                }
            };
            for &inode in entries.values() {
                if img.files.contains_key(&inode) {
                    continue; // a hard link: one content
                }
                let Some(f) = st.files.get(&inode) else { continue };
                let mut bytes = file_after_crash(f, mode, rng);
                // A preallocated tail reads as zeros after the reboot as before it.
                let size = if mode == CrashMode::Process { f.size_live } else { f.size_durable };
                if bytes.len() < size {
                    bytes.resize(size, 0);
                }
                img.files
                    .insert(inode, SimFile { live: bytes.clone(), durable: bytes, ..SimFile::default() });
            }
            img.dirs.insert(
                path.clone(),
                SimDir { live: entries.clone(), durable: entries, pending: Vec::new() },
            );
        }
        SimFs { state: Arc::new(Mutex::new(img)) }
    }
}

/// The bytes of `f` after a crash in `mode`.
fn file_after_crash(f: &SimFile, mode: CrashMode, rng: &mut SimRng) -> Vec<u8> {
    let appended = f.live.len() > f.durable.len() && f.live.starts_with(&f.durable);
    match mode {
        CrashMode::Process => f.live.clone(),
        CrashMode::Durable => f.durable.clone(),
        CrashMode::Prefix if appended => {
            let extra = rng.below((f.live.len() - f.durable.len()) as u64 + 1) as usize;
            f.live[..f.durable.len() + extra].to_vec()
        }
        CrashMode::Pages | CrashMode::Meta if appended => {
            let first_page = f.durable.len() / PAGE_BYTES;
            let pages = f.live.len().div_ceil(PAGE_BYTES);
            let kept: Vec<bool> = (first_page..pages).map(|_| rng.coin()).collect();
            let Some(last) = kept.iter().rposition(|&k| k) else { return f.durable.clone() };
            let end = ((first_page + last + 1) * PAGE_BYTES).min(f.live.len());
            let mut out = f.live[..end].to_vec();
            for (i, &k) in kept.iter().enumerate().take(last) {
                if !k {
                    let start = ((first_page + i) * PAGE_BYTES).max(f.durable.len());
                    let stop = ((first_page + i + 1) * PAGE_BYTES).min(end);
                    let garbage = rng.coin();
                    for b in &mut out[start..stop] {
                        *b = if garbage { (rng.next_u64() >> 24) as u8 } else { 0 };
                    }
                }
            }
            out
        }
        CrashMode::Prefix | CrashMode::Pages | CrashMode::Meta => f.durable.clone(),
    }
}
