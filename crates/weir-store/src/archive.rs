//! The container of a backup: a POSIX ustar archive of regular files, written and read here (a
//! few dozen lines, where a crate would bring what backups never use: links, devices, long names,
//! streaming). Any `tar` lists and extracts it.
//!
//! A member is a 512-byte header (name, octal size, a checksum of the header) followed by its
//! bytes padded to a multiple of 512; two zero blocks end the archive. The reader checks every
//! header's checksum and that every member and the end are there, so a cut or damaged archive is
//! named as such, not read as a shorter one.

const BLOCK: usize = 512;

/// An archive being written, in memory.
#[derive(Default)]
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// Adds the file `name` (at most 100 bytes) holding `data`, modified at `mtime` (seconds).
    pub(crate) fn add(&mut self, name: &str, data: &[u8], mtime: u64) {
        let mut header = [0u8; BLOCK];
        header[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut header[100..108], 0o644);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], data.len() as u64);
        octal(&mut header[136..148], mtime);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        let sum = checksum(&header);
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        header[155] = b' ';
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().next_multiple_of(BLOCK), 0);
    }

    /// The archive, with its end marker.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.bytes.resize(self.bytes.len() + 2 * BLOCK, 0);
        self.bytes
    }
}

/// `value` in octal, zero-padded to fill `field` but its last byte (NUL).
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
}

/// The sum of the header's bytes, its checksum field counted as spaces.
fn checksum(header: &[u8]) -> u32 {
    header.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum()
}

/// The members of `bytes`, in order: their names and contents, or what is wrong with the archive.
pub(crate) fn read(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut members = Vec::new();
    let mut at = 0;
    loop {
        let Some(header) = bytes.get(at..at + BLOCK) else {
            return Err(format!(
                "the archive is truncated: it ends at byte {} without its end-of-archive marker",
                bytes.len()
            ));
        };
        if header.iter().all(|b| *b == 0) {
            return Ok(members);
        }
        let name = field_text(&header[..100]);
        let stored = parse_octal(&header[148..156])
            .ok_or_else(|| format!("the header at byte {at} is not a tar header (no checksum)"))?;
        if u64::from(checksum(header)) != stored {
            return Err(format!(
                "the header of member \"{name}\" at byte {at} is damaged (its checksum does not match)"
            ));
        }
        if header[156] != b'0' && header[156] != 0 {
            return Err(format!("member \"{name}\" is not a regular file"));
        }
        let size = parse_octal(&header[124..136])
            .ok_or_else(|| format!("the header of member \"{name}\" has no valid size"))?
            as usize;
        let start = at + BLOCK;
        let Some(data) = bytes.get(start..start.saturating_add(size)) else {
            let left = bytes.len().saturating_sub(start);
            return Err(format!(
                "the archive is truncated: member \"{name}\" holds {size} bytes, only {left} remain"
            ));
        };
        members.push((name, data));
        at = start + size.next_multiple_of(BLOCK);
    }
}

fn field_text(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = field_text(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    u64::from_str_radix(text, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_back_and_damage_is_named() {
        let mut w = Writer::default();
        w.add("a.jsonl", b"{\"x\":1}\n", 0);
        w.add("empty", b"", 0);
        let bytes = w.finish();
        assert_eq!(bytes.len() % BLOCK, 0);
        let members = read(&bytes).unwrap();
        assert_eq!(members, [("a.jsonl".to_owned(), &b"{\"x\":1}\n"[..]), ("empty".to_owned(), &b""[..])]);

        let err = read(&bytes[..BLOCK + 3]).unwrap_err();
        assert!(err.contains("truncated: member \"a.jsonl\" holds 8 bytes, only 3 remain"), "{err}");
        let err = read(&bytes[..3 * BLOCK]).unwrap_err();
        assert!(err.contains("without its end-of-archive marker"), "{err}");
        let mut damaged = bytes.clone();
        damaged[2] ^= 1;
        assert!(read(&damaged).unwrap_err().contains("damaged"));
    }
}
