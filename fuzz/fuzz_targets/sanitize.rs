//! The sanitiser: whatever comes in, nothing a terminal interprets goes out.
#![no_main]

use kycdesk::domain::{CaseRef, SafeText, sanitize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let safe = sanitize(&raw);
    for c in safe.chars() {
        let control = (c.is_control() && c != '\n') || ('\u{80}'..='\u{9f}').contains(&c);
        let invisible =
            matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        assert!(!control && !invisible, "{c:?} survived sanitising");
    }
    assert_eq!(sanitize(&safe), safe, "sanitising is idempotent");
    assert_eq!(SafeText::new(&raw).as_str(), safe);
    if let Ok(r) = raw.parse::<CaseRef>() {
        assert!(r.is_valid());
    }
});
