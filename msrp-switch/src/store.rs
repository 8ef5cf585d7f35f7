//! The body of one large message (OMA SIMPLE IM Large Message Mode, issue 18)
//! as the switch keeps it for receivers that bind after its sender sent it:
//! the first `memory_bytes` in memory, as the `Bytes` the sender's chunks
//! arrived in (shared, never copied), the rest spilled to one file of its own
//! in the spill directory, removed when the store is dropped. Reads hand back
//! any range, from memory without a copy or from the file.
//!
//! ```text
//!  offset 0                memory_bytes                        len
//!  |--- chunks in memory ---|------- spill file (0-based) -------|
//! ```
//!
//! The file is written and read through tokio's blocking pool (`tokio::fs`),
//! so a slow disk never stalls the shard that forwards everybody else. A full
//! disk (ENOSPC, EDQUOT) is [`StoreError::Full`]: the message is failed, never
//! stored in part and reported complete.

use std::io::{ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Why a store could not take or give bytes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The spill directory's file system is full (or over its quota).
    #[error("no space left for the message's spill file {path}: {source}")]
    Full {
        /// The spill file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Any other failure of the spill file.
    #[error("spill file {path}: {source}")]
    Io {
        /// The spill file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The spill files together would hold more than the daemon's disk quota
    /// (`--large-message-disk-bytes`).
    #[error(
        "the spill files would hold more than the {limit}-byte disk quota (--large-message-disk-bytes)"
    )]
    Quota {
        /// The quota.
        limit: u64,
    },
    /// A read past what was stored.
    #[error("bytes {offset}..{end} asked of a message of {len} stored bytes")]
    OutOfRange {
        /// The first byte asked for.
        offset: u64,
        /// One past the last.
        end: u64,
        /// What the store holds.
        len: u64,
    },
}

/// One message's bytes, in memory up to a bound and in a file beyond it.
#[derive(Debug)]
pub struct MessageStore {
    memory_bytes: u64,
    /// The stored bytes up to `memory_bytes`, in arrival order.
    chunks: Vec<Bytes>,
    /// Bytes held in `chunks`.
    in_memory: u64,
    spill: Spill,
    /// Every byte stored.
    len: u64,
    /// The daemon's disk quota, shared by every store.
    quota: Option<DiskQuota>,
    /// Bytes this store counted against the quota.
    charged: u64,
}

/// The most bytes every spill file together may hold, and what they hold now
/// (shared by every shard's stores).
#[derive(Debug, Clone)]
pub struct DiskQuota {
    /// What the spill files hold.
    pub used: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The most they may hold.
    pub limit: u64,
}

impl DiskQuota {
    /// A quota of `limit` bytes, none used.
    pub fn new(limit: u64) -> Self {
        Self {
            used: std::sync::Arc::default(),
            limit,
        }
    }

    /// Takes `n` bytes of the quota, or says it is spent.
    fn charge(&self, n: u64) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let before = self.used.fetch_add(n, Relaxed);
        if before.saturating_add(n) > self.limit {
            self.used.fetch_sub(n, Relaxed);
            return Err(StoreError::Quota { limit: self.limit });
        }
        Ok(())
    }
}

/// Where bytes past the memory bound go.
#[derive(Debug)]
enum Spill {
    /// Nothing spilled yet: the file is made at the first byte past the bound.
    NotYet { path: PathBuf },
    /// The open spill file; `owned`: made by this store, removed with it.
    Open {
        path: PathBuf,
        file: File,
        owned: bool,
    },
}

impl MessageStore {
    /// A store that keeps `memory_bytes` in memory and spills the rest to
    /// `dir/<name>.spill` (made at the first byte that does not fit; `name`
    /// must be unique in `dir`, a session-id for instance).
    pub fn new(dir: &Path, name: &str, memory_bytes: u64) -> Self {
        Self {
            memory_bytes,
            chunks: Vec::new(),
            in_memory: 0,
            spill: Spill::NotYet {
                path: dir.join(format!("{name}.spill")),
            },
            len: 0,
            quota: None,
            charged: 0,
        }
    }

    /// The same store, its spill file counted against `quota`.
    #[must_use]
    pub fn with_quota(mut self, quota: DiskQuota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// Bytes stored.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before the first byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held in memory.
    pub fn memory_len(&self) -> u64 {
        self.in_memory
    }

    /// Appends the next bytes of the message.
    ///
    /// # Errors
    ///
    /// The spill file could not be made or written: the message is failed
    /// and the store is to be dropped (what the file took of these bytes is
    /// not counted as stored, and nothing may follow it).
    pub async fn append(&mut self, mut bytes: Bytes) -> Result<(), StoreError> {
        let room = self.memory_bytes.saturating_sub(self.in_memory);
        if room > 0 && !bytes.is_empty() {
            let kept = bytes.split_to(usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len()));
            self.in_memory += kept.len() as u64;
            self.len += kept.len() as u64;
            self.chunks.push(kept);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let written = bytes.len() as u64;
        if let Some(quota) = &self.quota {
            quota.charge(written)?;
            self.charged += written;
        }
        let file = self.spill_file().await?;
        // tokio's File takes a write into its buffer and does it in the
        // background: the flush is what reports a full disk, before the bytes
        // count as stored.
        let wrote = match file.write_all(&bytes).await {
            Ok(()) => file.flush().await,
            Err(err) => Err(err),
        };
        wrote.map_err(|e| self.error(e))?;
        self.len += written;
        Ok(())
    }

    /// Bytes `offset..offset + len` of the message: slices of the chunks in
    /// memory (no copy when the range lies in one chunk), read from the file
    /// beyond.
    ///
    /// # Errors
    ///
    /// The range is not all stored, or the file could not be read.
    pub async fn read(&mut self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let end = offset + len as u64;
        if end > self.len {
            return Err(StoreError::OutOfRange {
                offset,
                end,
                len: self.len,
            });
        }
        if end <= self.in_memory {
            return Ok(self.memory_range(offset, end));
        }
        let mut out = BytesMut::with_capacity(len);
        if offset < self.in_memory {
            out.extend_from_slice(&self.memory_range(offset, self.in_memory));
        }
        let file_from = offset.max(self.in_memory) - self.in_memory;
        let wanted = usize::try_from(end - self.in_memory - file_from).unwrap_or(usize::MAX);
        let Spill::Open { file, path, .. } = &mut self.spill else {
            return Err(StoreError::OutOfRange {
                offset,
                end,
                len: self.in_memory,
            });
        };
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        // The next append writes at the end again (the file is append-only
        // but shares its position with reads).
        file.seek(SeekFrom::Start(file_from)).await.map_err(io)?;
        let at = out.len();
        out.resize(at + wanted, 0);
        let read = file.read_exact(&mut out[at..]).await;
        file.seek(SeekFrom::End(0)).await.map_err(io)?;
        read.map_err(io)?;
        Ok(out.freeze())
    }

    /// `offset..end` of the memory part, within one chunk without a copy.
    fn memory_range(&self, offset: u64, end: u64) -> Bytes {
        let mut at = 0u64;
        let mut out: Option<BytesMut> = None;
        for chunk in &self.chunks {
            let chunk_end = at + chunk.len() as u64;
            if chunk_end > offset && at < end {
                let from = usize::try_from(offset.saturating_sub(at)).unwrap_or(0);
                let to = usize::try_from(end.min(chunk_end) - at).unwrap_or(chunk.len());
                let piece = chunk.slice(from..to);
                if out.is_none() && chunk_end >= end {
                    return piece;
                }
                out.get_or_insert_with(BytesMut::new)
                    .extend_from_slice(&piece);
            }
            at = chunk_end;
        }
        out.map(BytesMut::freeze).unwrap_or_default()
    }

    /// The spill file, made on first use.
    async fn spill_file(&mut self) -> Result<&mut File, StoreError> {
        if let Spill::NotYet { path } = &self.spill {
            let path = path.clone();
            let file = tokio::fs::OpenOptions::new()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&path)
                .await
                .map_err(|source| classify(path.clone(), source))?;
            self.spill = Spill::Open {
                path,
                file,
                owned: true,
            };
        }
        match &mut self.spill {
            Spill::Open { file, .. } => Ok(file),
            Spill::NotYet { path } => Err(StoreError::Io {
                path: path.clone(),
                source: std::io::Error::other("the spill file was not made"),
            }),
        }
    }

    fn error(&self, source: std::io::Error) -> StoreError {
        let path = match &self.spill {
            Spill::NotYet { path } | Spill::Open { path, .. } => path.clone(),
        };
        classify(path, source)
    }

    /// Uses `file` as the spill file, not removed with the store (tests:
    /// `/dev/full`, whose writes fail with ENOSPC as a full disk's do).
    #[cfg(test)]
    fn with_spill_file(mut self, path: PathBuf, file: std::fs::File) -> Self {
        self.spill = Spill::Open {
            path,
            file: File::from_std(file),
            owned: false,
        };
        self
    }
}

/// ENOSPC and EDQUOT are a full disk; anything else an I/O failure.
fn classify(path: PathBuf, source: std::io::Error) -> StoreError {
    const EDQUOT: i32 = 122;
    if source.kind() == ErrorKind::StorageFull || source.raw_os_error() == Some(EDQUOT) {
        StoreError::Full { path, source }
    } else {
        StoreError::Io { path, source }
    }
}

impl Drop for MessageStore {
    /// The spill file goes with the message (it was made for this store
    /// alone, with `create_new`).
    fn drop(&mut self) {
        if let Some(quota) = &self.quota {
            quota
                .used
                .fetch_sub(self.charged, std::sync::atomic::Ordering::Relaxed);
        }
        if let Spill::Open {
            path, owned: true, ..
        } = &self.spill
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("msrp-store-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_message_within_the_bound_stays_in_memory_and_reads_without_a_copy() {
        let dir = dir("memory");
        let mut store = MessageStore::new(&dir, "s-1", 1024);
        let first = Bytes::from(body(600));
        store.append(first.clone()).await.unwrap();
        store.append(Bytes::from(body(300))).await.unwrap();
        assert_eq!((store.len(), store.memory_len()), (900, 900));
        assert!(!dir.join("s-1.spill").exists(), "no file made");
        let slice = store.read(100, 200).await.unwrap();
        assert_eq!(slice, first.slice(100..300));
        assert_eq!(
            slice.as_ptr(),
            first[100..].as_ptr(),
            "the same bytes, not a copy"
        );
        let across = store.read(500, 200).await.unwrap();
        let mut whole = body(600);
        whole.extend(body(300));
        assert_eq!(across, whole[500..700]);
        assert!(matches!(
            store.read(800, 200).await,
            Err(StoreError::OutOfRange { len: 900, .. })
        ));
    }

    #[tokio::test]
    async fn past_the_bound_it_spills_to_a_file_that_goes_with_the_store() {
        let dir = dir("spill");
        let whole = body(100_000);
        let mut store = MessageStore::new(&dir, "s-2", 16 * 1024);
        for piece in whole.chunks(7_000) {
            store.append(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        let file = dir.join("s-2.spill");
        assert_eq!(store.memory_len(), 16 * 1024);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 100_000 - 16 * 1024);
        // Ranges in memory, across the bound, and in the file.
        for (offset, len) in [(0, 100), (16_000, 1_000), (50_000, 30_000), (99_000, 1_000)] {
            let got = store.read(offset, len).await.unwrap();
            assert_eq!(
                got,
                whole[offset as usize..offset as usize + len],
                "{offset}+{len}"
            );
        }
        // Appending after reads still appends at the end.
        store.append(Bytes::from_static(b"tail")).await.unwrap();
        assert_eq!(store.read(100_000, 4).await.unwrap(), &b"tail"[..]);
        drop(store);
        assert!(!file.exists(), "the spill file is removed");
    }

    #[tokio::test]
    async fn a_full_disk_is_a_clear_error_and_nothing_is_counted_stored() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let Ok(full) = full else {
            eprintln!("no /dev/full here: skipped");
            return;
        };
        let mut store = MessageStore::new(&dir("full"), "s-3", 10)
            .with_spill_file(PathBuf::from("/dev/full"), full);
        store.append(Bytes::from(body(8))).await.unwrap();
        let failed = store.append(Bytes::from(body(100))).await.unwrap_err();
        assert!(matches!(failed, StoreError::Full { .. }), "{failed:?}");
        assert!(failed.to_string().starts_with("no space left"), "{failed}");
        assert_eq!(store.len(), 10, "only what fit in memory counts as stored");
    }

    #[tokio::test]
    async fn a_second_store_of_the_same_name_does_not_take_the_first_ones_file() {
        let dir = dir("twice");
        let mut first = MessageStore::new(&dir, "s-4", 0);
        first.append(Bytes::from_static(b"first")).await.unwrap();
        let mut second = MessageStore::new(&dir, "s-4", 0);
        let clash = second.append(Bytes::from_static(b"second")).await;
        assert!(matches!(clash, Err(StoreError::Io { .. })), "{clash:?}");
        assert_eq!(first.read(0, 5).await.unwrap(), &b"first"[..]);
    }
}
