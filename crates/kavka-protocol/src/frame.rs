//! Framing: every request and response is a 4-byte big-endian size followed by that many bytes.
//! The size is checked against the configured maximum before any buffer is sized for the frame.

use thiserror::Error;

/// Bytes of the size prefix.
pub const SIZE_PREFIX_BYTES: usize = 4;

/// Why a frame is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The announced size is negative.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The announced size passes the limit (`socket.request.max.bytes`).
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// Limit.
        max: usize,
    },
}

/// Reads the size prefix and checks it against `frame_bytes_max`. Returns the size of the frame
/// body (without the prefix).
pub fn frame_size(
    prefix: [u8; SIZE_PREFIX_BYTES],
    frame_bytes_max: usize,
) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    let size = size as usize;
    if size > frame_bytes_max {
        return Err(FrameError::TooLarge {
            size,
            max: frame_bytes_max,
        });
    }
    Ok(size)
}

/// Checks whether `buf` holds a whole frame; `Ok(Some(n))` gives the body size when it does
/// (the frame occupies `SIZE_PREFIX_BYTES + n` bytes of `buf`).
pub fn check_frame(buf: &[u8], frame_bytes_max: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < SIZE_PREFIX_BYTES {
        return Ok(None);
    }
    let size = frame_size([buf[0], buf[1], buf[2], buf[3]], frame_bytes_max)?;
    if buf.len() < SIZE_PREFIX_BYTES + size {
        return Ok(None);
    }
    Ok(Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_before_the_body_arrives() {
        assert_eq!(check_frame(&[0, 0], 100), Ok(None));
        assert_eq!(check_frame(&[0, 0, 0, 3, 1, 2], 100), Ok(None));
        assert_eq!(check_frame(&[0, 0, 0, 3, 1, 2, 3], 100), Ok(Some(3)));
        assert_eq!(
            check_frame(&[0x7f, 0xff, 0xff, 0xff], 100),
            Err(FrameError::TooLarge {
                size: i32::MAX as usize,
                max: 100
            })
        );
        assert_eq!(
            check_frame(&[0xff, 0xff, 0xff, 0xff], 100),
            Err(FrameError::NegativeSize(-1))
        );
    }
}
