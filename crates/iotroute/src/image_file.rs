//! The terminal's image store (SEC-10): the image a client transfers is kept in
//! `DIR/firmware/incoming.image`, each block written at its offset and read back in
//! chunks to verify and install it, so that an image of tens of MiB is never whole in
//! memory (`dlms::cosem::image::ImageStore`; the model keeps only which blocks arrived).
//! The file is made anew for each transfer and removed once its image is installed.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use dlms::cosem::image::{ImageStore, StoredImage};

/// Images kept in a file under the data directory.
#[derive(Debug)]
pub struct ImageFile {
    path: PathBuf,
}

impl ImageFile {
    /// The terminal's, under the data directory `data`.
    #[must_use]
    pub fn under(data: &Path) -> Self {
        Self {
            path: data.join("firmware").join("incoming.image"),
        }
    }

    /// Remove the file: its image was installed (the installer holds it open until it is
    /// done), or a run that ended mid-transfer left it (a transfer does not outlive the
    /// process). A failure is logged: the next transfer makes the file anew anyway.
    pub fn discard(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::debug!(path = %self.path.display(), "incoming image removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "incoming image not removed");
            }
        }
    }
}

impl ImageStore for ImageFile {
    fn begin(&self, size: u32) -> std::io::Result<Box<dyn StoredImage>> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A new file, not the previous one truncated: an image activated before and
        // still being installed reads on from its own.
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&self.path)?;
        file.set_len(u64::from(size))?;
        tracing::debug!(path = %self.path.display(), size, "incoming image file");
        Ok(Box::new(FileImage {
            file,
            size: u64::from(size),
        }))
    }
}

/// One image in its file, `size` bytes long.
struct FileImage {
    file: File,
    size: u64,
}

impl StoredImage for FileImage {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        if offset.saturating_add(bytes.len() as u64) > self.size {
            return Err(std::io::Error::other("write beyond the image"));
        }
        self.file.write_all_at(bytes, offset)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec10_the_image_file_keeps_blocks_at_their_offset_and_a_new_transfer_a_new_file() {
        let data = std::env::temp_dir().join(format!("iotroute-image-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let store = ImageFile::under(&data);
        let path = data.join("firmware/incoming.image");
        let mut first = store.begin(300).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 300);
        first.write_at(256, &[3; 44]).unwrap();
        first.write_at(0, &[1; 128]).unwrap();
        assert!(first.write_at(299, &[9, 9]).is_err(), "beyond its size");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 300);
        let mut buf = [0; 4];
        first.read_at(126, &mut buf).unwrap();
        assert_eq!(buf, [1, 1, 0, 0], "a block not written reads as zeros");
        assert_eq!(
            first.read_at(298, &mut buf).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
        // The next transfer: a file of its own size; the first image reads on.
        let mut second = store.begin(10).unwrap();
        second.write_at(0, &[7; 10]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10);
        first.read_at(296, &mut buf).unwrap();
        assert_eq!(buf, [3; 4]);
        store.discard();
        assert!(!path.exists());
        second.read_at(6, &mut buf).unwrap();
        assert_eq!(buf, [7; 4], "held open, read until dropped");
        store.discard();
        let _ = std::fs::remove_dir_all(&data);
    }
}
