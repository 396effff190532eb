//! QR codes drawn in the terminal (`serve --relay --qr`): a phone scans the bunker link.

use crate::error::{OperatorError, Result};

/// A terminal QR code of `text` (two rows per character line).
pub fn qr(text: &str) -> Result<String> {
    let code =
        qrcode::QrCode::new(text.as_bytes()).map_err(|e| OperatorError::Qr(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_is_a_square_of_block_characters() {
        let q = qr("bunker://0000000000000000000000000000000000000000000000000000000000000001?relay=ws%3A%2F%2F127.0.0.1%3A7777&secret=00112233445566778899aabbccddeeff").unwrap();
        let lines: Vec<&str> = q.lines().collect();
        let width = lines[0].chars().count();
        // Two modules per character row, quiet zone included: about twice as wide as tall.
        assert!(width > 40, "{width}");
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(
            lines.len() * 2 >= width - 1 && lines.len() * 2 <= width + 1,
            "{}x{}",
            width,
            lines.len()
        );
        assert!(q.chars().all(|c| " ▀▄█\n".contains(c)), "{q}");
    }
}
