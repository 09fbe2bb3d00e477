//! Files the server reads again while it runs (the serving pair, the policy):
//! a bounded read that never blocks, and the polling loop that calls a
//! reload on a blocking thread until shutdown.

use std::path::Path;
use std::time::Duration;

/// Why a watched file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A FIFO, device or directory in its place.
    #[error("is not a regular file")]
    NotRegular,
    /// Larger than the bound.
    #[error("is {len} bytes; at most {max} are read")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The bound.
        max: u64,
    },
    /// It grew past the bound while being read.
    #[error("grew past {0} bytes while read")]
    Grew(u64),
}

/// Read a regular file of at most `max` bytes. Opened non-blocking and
/// checked after opening, so a FIFO or device in its place (or swapped in)
/// never blocks the poller, and a huge file is not read on every poll.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { len: meta.len(), max });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::Grew(max));
    }
    Ok(bytes)
}

/// Call `reload` (blocking work: file reads, parsing) every `interval`,
/// starting one interval from now, until `shutdown` changes.
pub fn spawn_polling(
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    reload: impl Fn() + Clone + Send + Sync + 'static,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let _ = tokio::task::spawn_blocking(reload.clone()).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    });
}
