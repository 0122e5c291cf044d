//! The Raft hard state (term, vote, commit index) of a voter, in `quorum-state`:
//! `term u64 | vote u64 | commit u64 | crc32c u32`, replaced by writing a `.tmp` file,
//! fsyncing and renaming, so the file is always whole.

use std::fs;
use std::path::{Path, PathBuf};

use kavka_metadata::batch::crc32c;
use kavka_metadata::fsutil::sync_dir;
use kavka_metadata::MetadataError;
use raft::eraftpb::HardState;

use crate::journal::write_durably;

/// Name of the file in the metadata log's directory.
pub const HARD_STATE_FILE_NAME: &str = "quorum-state";

const LEN: usize = 28;

/// The file holding a voter's hard state.
#[derive(Debug)]
pub struct HardStateFile {
    path: PathBuf,
    dir: PathBuf,
}

impl HardStateFile {
    /// The file in `dir` and the hard state it holds (the zero state when there is none).
    pub fn open(dir: &Path) -> Result<(HardStateFile, HardState), MetadataError> {
        let path = dir.join(HARD_STATE_FILE_NAME);
        let file = HardStateFile {
            path: path.clone(),
            dir: dir.to_path_buf(),
        };
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((file, HardState::default()))
            }
            Err(e) => return Err(MetadataError::Io { path, source: e }),
        };
        let corrupt = |reason: &str| MetadataError::Corrupt {
            path: path.clone(),
            reason: reason.to_string(),
        };
        if bytes.len() != LEN {
            return Err(corrupt("not 28 bytes"));
        }
        let word = |i: usize| u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8"));
        let crc = u32::from_be_bytes(bytes[24..28].try_into().expect("4"));
        if crc32c(&bytes[..24]) != crc {
            return Err(corrupt("CRC mismatch"));
        }
        let hs = HardState {
            term: word(0),
            vote: word(1),
            commit: word(2),
            ..Default::default()
        };
        Ok((file, hs))
    }

    /// Replaces the stored hard state durably.
    pub fn store(&self, hs: &HardState) -> Result<(), MetadataError> {
        let mut bytes = Vec::with_capacity(LEN);
        for v in [hs.term, hs.vote, hs.commit] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        let tmp = self.dir.join(format!("{HARD_STATE_FILE_NAME}.tmp"));
        write_durably(&tmp, &bytes)?;
        fs::rename(&tmp, &self.path).map_err(MetadataError::io(&self.path))?;
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_state_survives_reopen_and_damage_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (file, empty) = HardStateFile::open(tmp.path()).unwrap();
        assert_eq!(empty, HardState::default());
        let hs = HardState {
            term: 7,
            vote: 3,
            commit: 41,
            ..Default::default()
        };
        file.store(&hs).unwrap();
        assert_eq!(HardStateFile::open(tmp.path()).unwrap().1, hs);
        let path = tmp.path().join(HARD_STATE_FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        bytes[9] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = HardStateFile::open(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("CRC"), "{err}");
    }
}
