//! The journal format before offsets and epochs (`metadata.log`: one frame per commit,
//! `payload = record_count u32 | (record_len u32 | record)*`), converted once at open into
//! `journal.log` batches with offsets from 1 and epoch 0.
//!
//! The conversion writes the new file completely (fsynced, then renamed into place) before it
//! removes the old one, so a crash at any point leaves one of the two whole: an old file next
//! to a new one means the conversion finished and only its clean-up did not.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

use kavka_metadata::batch::{FRAME_BYTES_MAX, FRAME_HEADER_BYTES};
use kavka_metadata::fsutil::sync_dir;
use kavka_metadata::{DecodeError, MetadataBatch, MetadataError, MetadataRecord};

use crate::journal::{read_full, write_durably};

/// Name of the earlier journal file.
pub const LEGACY_FILE_NAME: &str = "metadata.log";

/// Converts `dir/metadata.log` into `journal` if the old file is there.
pub(crate) fn convert(dir: &Path, journal: &Path) -> Result<(), MetadataError> {
    let old = dir.join(LEGACY_FILE_NAME);
    if !old.exists() {
        return Ok(());
    }
    if journal.exists() {
        fs::remove_file(&old).map_err(MetadataError::io(&old))?;
        return sync_dir(dir);
    }
    let commits = read_commits(&old)?;
    let mut buf = Vec::new();
    for (i, records) in commits.iter().enumerate() {
        let batch = MetadataBatch {
            offset: i as u64 + 1,
            epoch: 0,
            records: records.clone(),
        };
        batch.encode_frame(&mut buf)?;
    }
    let tmp = dir.join(format!("{LEGACY_FILE_NAME}.converting"));
    write_durably(&tmp, &buf)?;
    fs::rename(&tmp, journal).map_err(MetadataError::io(journal))?;
    sync_dir(dir)?;
    fs::remove_file(&old).map_err(MetadataError::io(&old))?;
    sync_dir(dir)?;
    tracing::info!(
        path = %journal.display(),
        batches = commits.len(),
        "metadata journal converted to the format with offsets and epochs"
    );
    Ok(())
}

/// The good commits of an old journal; a damaged tail is left out (as the old format's own
/// recovery did).
fn read_commits(path: &Path) -> Result<Vec<Vec<MetadataRecord>>, MetadataError> {
    let file = File::open(path).map_err(MetadataError::io(path))?;
    let file_len = file.metadata().map_err(MetadataError::io(path))?.len();
    let mut reader = BufReader::new(file);
    let mut commits = Vec::new();
    let mut pos = 0u64;
    loop {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        if read_full(&mut reader, &mut header).map_err(MetadataError::io(path))? < header.len() {
            break;
        }
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > FRAME_BYTES_MAX || len as u64 > file_len - pos - FRAME_HEADER_BYTES as u64 {
            break;
        }
        let mut payload = vec![0; len];
        if read_full(&mut reader, &mut payload).map_err(MetadataError::io(path))? < len
            || crc32c_of(&payload) != crc
        {
            break;
        }
        match decode_commit(&payload) {
            Ok(records) => commits.push(records),
            Err(_) => break,
        }
        pos += (FRAME_HEADER_BYTES + len) as u64;
    }
    if pos < file_len {
        tracing::warn!(path = %path.display(), dropped_bytes = file_len - pos, "old metadata journal: damaged tail left out of the conversion");
    }
    Ok(commits)
}

fn crc32c_of(bytes: &[u8]) -> u32 {
    kavka_metadata::batch::crc32c(bytes)
}

/// Decodes the records of one old commit frame, all or none.
pub(crate) fn decode_commit(payload: &[u8]) -> Result<Vec<MetadataRecord>, DecodeError> {
    let take_u32 = |at: usize| -> Result<usize, DecodeError> {
        payload
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(DecodeError::Truncated {
                field: "commit length",
            })
    };
    let count = take_u32(0)?;
    let mut at = 4;
    let mut records = Vec::with_capacity(count.min(payload.len() / 4));
    for _ in 0..count {
        let len = take_u32(at)?;
        at += 4;
        let body = payload
            .get(at..at.saturating_add(len))
            .ok_or(DecodeError::Truncated {
                field: "commit record",
            })?;
        records.push(MetadataRecord::decode(body)?);
        at += len;
    }
    if at != payload.len() {
        return Err(DecodeError::TrailingBytes {
            bytes: payload.len() - at,
        });
    }
    Ok(records)
}
