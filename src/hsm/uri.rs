//! PKCS#11 URIs (RFC 7512), the subset passport needs: select a token by `token=`
//! (label), `serial=`, `manufacturer=`, `model=`; query `module-path=` and
//! `pin-source=file:…`. Slot numbers are deliberately not supported (they change), and
//! `pin-value=` is refused (a PIN must never be on a command line).

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use super::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenUri {
    pub token: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub module_path: Option<PathBuf>,
    pub pin_source: Option<PathBuf>,
    /// The URI as given, for messages.
    pub text: String,
}

impl TokenUri {
    pub fn parse(s: &str) -> Result<Self> {
        let shown = redact(s);
        let bad = |detail: &str| Error::BadUri {
            uri: shown.clone(),
            detail: detail.to_owned(),
        };
        let rest = s
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("must start with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = TokenUri {
            text: shown.clone(),
            ..Default::default()
        };
        let decode = |v: &str| -> Result<String> {
            percent_decode_str(v)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("invalid percent-encoding"))
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad("path attributes are key=value"))?;
            let v = decode(v)?;
            match k {
                "token" => uri.token = Some(v),
                "serial" => uri.serial = Some(v),
                "manufacturer" => uri.manufacturer = Some(v),
                "model" => uri.model = Some(v),
                "slot-id" | "slot-description" | "slot-manufacturer" => {
                    return Err(bad("select tokens by token= or serial=, never by slot"))
                }
                // Object attributes (id, object, type) and library attributes are
                // irrelevant for choosing a token; ignore them.
                _ => {}
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad("query attributes are key=value"))?;
            let v = decode(v)?;
            match k {
                "module-path" => uri.module_path = Some(PathBuf::from(v)),
                "pin-source" => {
                    let p = v.strip_prefix("file:").unwrap_or(&v);
                    uri.pin_source = Some(PathBuf::from(p.trim_start_matches("//")));
                }
                "pin-value" => return Err(bad("pin-value is refused: a PIN must not appear in a URI or argv; use pin-source=file:… or PASSPORT_PKCS11_PIN")),
                _ => {}
            }
        }
        if uri.token.is_none() && uri.serial.is_none() {
            return Err(bad("name the token with token=LABEL or serial=SERIAL"));
        }
        Ok(uri)
    }

    /// True when a token with these properties matches every attribute the URI names.
    pub fn matches(&self, label: &str, serial: &str, manufacturer: &str, model: &str) -> bool {
        let eq = |want: &Option<String>, got: &str| {
            want.as_deref().is_none_or(|w| w.trim() == got.trim())
        };
        eq(&self.token, label)
            && eq(&self.serial, serial)
            && eq(&self.manufacturer, manufacturer)
            && eq(&self.model, model)
    }

    /// A canonical URI for a token, as stored in configs and statements.
    pub fn for_token(label: &str, serial: &str) -> String {
        use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
        // RFC 7512 leaves unreserved characters as they are, so `alice-token` reads as
        // typed in configs and messages; parsing decodes either form.
        const PCHAR: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        format!(
            "pkcs11:token={};serial={}",
            utf8_percent_encode(label.trim(), PCHAR),
            utf8_percent_encode(serial.trim(), PCHAR)
        )
    }
}

/// The URI with any `pin-value` replaced, so a PIN typed by mistake is never echoed.
fn redact(s: &str) -> String {
    match s.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|a| {
                    if a.starts_with("pin-value=") {
                        "pin-value=<redacted>".to_owned()
                    } else {
                        a.to_owned()
                    }
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_serial_and_query() {
        let u = TokenUri::parse(
            "pkcs11:token=my%20token;serial=abc?module-path=/usr/lib/x.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("my token"));
        assert_eq!(u.serial.as_deref(), Some("abc"));
        assert_eq!(u.module_path, Some(PathBuf::from("/usr/lib/x.so")));
        assert_eq!(u.pin_source, Some(PathBuf::from("/run/pin")));
        assert!(u.matches("my token", "abc", "SoftHSM", "x"));
        assert!(!u.matches("other", "abc", "", ""));
    }

    #[test]
    fn refuses_slots_pin_values_and_vague_uris() {
        assert!(TokenUri::parse("pkcs11:slot-id=0").is_err());
        let e = TokenUri::parse("pkcs11:token=a?pin-value=1234")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("1234"), "the PIN is never echoed: {e}");
        assert!(TokenUri::parse("pkcs11:manufacturer=SoftHSM").is_err());
        assert!(TokenUri::parse("token=a").is_err());
    }
}
