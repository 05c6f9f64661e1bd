//! QR codes of the attendee URL: for the terminal and as SVG for `/qr.svg`.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// A QR code drawn with half-block characters. With `ansi`, it is drawn black on white
/// explicitly, so it scans on dark and light terminals alike.
pub fn terminal(url: &str, ansi: bool) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)?;
    let art = code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Dark)
        .light_color(unicode::Dense1x2::Light)
        .quiet_zone(true)
        .build();
    if !ansi {
        return Ok(art);
    }
    Ok(art
        .lines()
        .map(|l| format!("\x1b[30;107m{l}\x1b[0m"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A scalable SVG QR code.
pub fn svg(url: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}
