//! Process limits the server needs: enough open files for its connections.
//! Containers often start with a soft limit of 1024 open files, which about
//! a thousand idle connections exhaust; the hard limit is usually far higher.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Files kept free of connections: the API client, its watches, TLS files.
const RESERVED_FILES: usize = 256;

/// Raise the soft open-file limit to the hard one. Returns the soft limit in
/// force afterwards (`None`: unlimited).
pub fn raise_open_files() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = ?limit.current, to = ?limit.maximum, "Raised the open-file limit");
                return limit.maximum;
            }
            Err(error) => tracing::warn!(%error, soft = ?limit.current, "Could not raise the open-file limit"),
        }
    }
    limit.current
}

/// The webhook listener's connection cap: `wanted`, kept below the open-file
/// limit less the admin listener's cap and a reserve.
pub fn connection_cap(wanted: usize, admin: usize, open_files: Option<u64>) -> usize {
    let Some(files) = open_files else { return wanted };
    let room = usize::try_from(files).unwrap_or(usize::MAX).saturating_sub(admin + RESERVED_FILES).max(16);
    if room < wanted {
        tracing::warn!(
            max_connections = room,
            wanted,
            open_files = files,
            "Connection cap lowered to fit the open-file limit"
        );
    }
    wanted.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert_eq!(connection_cap(10_000, 256, Some(1024)), 512);
        assert_eq!(connection_cap(10_000, 256, Some(1_048_576)), 10_000);
        assert_eq!(connection_cap(10_000, 256, None), 10_000);
        assert_eq!(connection_cap(10_000, 256, Some(100)), 16, "a floor, however low the limit");
    }

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let after = raise_open_files();
        assert_eq!(after, getrlimit(Resource::Nofile).maximum);
    }
}
